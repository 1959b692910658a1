"""Alignment before fusion as the app and the CLI offer it: Off, Auto or one motion model.

``auto`` (the default) runs the cheap motion check of :mod:`mffgui.core.align_motion`; a stack
whose frames did not move is returned as it is (fusing it is bit-identical to ``off``), one
whose frames moved, changed scale or differ in size is aligned with the similarity model.
Typical use::

    outcome = align_for_fusion(stack, "auto")
    print(outcome.summary())          # what was found and done, one line
    result = fuse_stack(outcome.stack, method, params)   # mffgui.pipeline
"""

from __future__ import annotations

from dataclasses import dataclass

from mffgui.core.align import MODELS, AlignedStack, AlignmentReport, align_stack
from mffgui.core.align_motion import MOTION_THRESHOLD_PX, MotionCheck, check_motion
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.errors import AlignmentError, StackMismatch, TooFewImages
from mffgui.types import Stack

__all__ = ["ALIGN_MODES", "AUTO_MODEL", "AlignOutcome", "align_for_fusion", "normalise_mode"]

ALIGN_MODES: tuple[str, ...] = ("off", "auto", *MODELS)
"""Choices of Align: off, auto (check, then similarity if needed) or a motion model."""
AUTO_MODEL = "similarity"
"""Model Auto aligns with: shift, rotation and the scale change of focus breathing."""


def normalise_mode(mode: str | None) -> str:
    """``""``/``None``/``"none"`` -> ``"off"``; anything else must be in :data:`ALIGN_MODES`."""
    mode = (mode or "off").lower()
    if mode == "none":
        mode = "off"
    if mode not in ALIGN_MODES:
        raise AlignmentError(f"unknown alignment {mode!r} (choose from {', '.join(ALIGN_MODES)})")
    return mode


@dataclass(frozen=True)
class AlignOutcome:
    """What :func:`align_for_fusion` did.

    Attributes
    ----------
    stack : Stack
        The stack to fuse: the input itself, or an :class:`~mffgui.core.align.AlignedStack`.
    mode : str
        The mode asked for (:data:`ALIGN_MODES`).
    report : AlignmentReport or None
        Per-frame transforms when the frames were aligned.
    check : MotionCheck or None
        The motion check (``auto`` only).
    source_frames : int
        Frames of the input stack.
    failure : str
        ``auto`` only: why aligning failed, so the stack is fused as it is (``""`` otherwise).
    """

    stack: Stack
    mode: str
    report: AlignmentReport | None
    check: MotionCheck | None
    source_frames: int
    failure: str = ""

    @property
    def aligned(self) -> bool:
        """Whether the frames were aligned."""
        return self.report is not None

    @property
    def model(self) -> str:
        """The motion model used (``""`` when not aligned)."""
        return self.report.model if self.report is not None else ""

    def summary(self) -> str:
        """One line for the user: what the check found and what was done (``""`` for off)."""
        if self.mode == "off":
            return ""
        done = ""
        if self.report is not None:
            done = f"aligned {len(self.stack)} of {self.source_frames} frames ({self.report.model})"
        if self.mode != "auto":
            return done
        assert self.check is not None
        if not self.check.moved:
            return f"auto: {self.check.reason}; not aligned"
        if self.failure:
            return f"auto: {self.check.reason}; but aligning failed ({self.failure}); not aligned"
        return f"auto: {self.check.reason}; {done}"


def _require_one_size(stack: Stack) -> None:
    sizes = {stack.frame_size(i) for i in range(len(stack))}
    if len(sizes) <= 1:
        return
    h0, w0 = stack.frame_size(0)
    odd = next(i for i in range(len(stack)) if stack.frame_size(i) != (h0, w0))
    h, w = stack.frame_size(odd)
    raise StackMismatch(
        f"frame {odd + 1} ({stack.names[odd]}) is {w}x{h} but frame 1 ({stack.names[0]}) is "
        f"{w0}x{h0}; with alignment off every frame must have one size (align: auto or a "
        "model resamples the others onto the reference frame)",
        stack.metas[odd].path,
    )


def align_for_fusion(
    stack: Stack,
    mode: str = "auto",
    *,
    interpolation: str = "linear",
    crop: bool = True,
    threshold: float = MOTION_THRESHOLD_PX,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> AlignOutcome:
    """Align ``stack`` as ``mode`` asks, before fusing it.

    Parameters
    ----------
    stack : Stack
        The frames as read (sizes may differ unless ``mode`` is ``off``).
    mode : str
        ``off``, ``auto`` or a motion model (:data:`ALIGN_MODES`; ``none`` means ``off``).
    interpolation : str
        Resampling kernel (:data:`mffgui.core.align.INTERPOLATIONS`).
    crop : bool
        Crop to the area every frame covers; otherwise keep the reference frame's size (fuse
        with :func:`mffgui.pipeline.fuse_stack` so the invalid border is ignored).
    threshold : float
        ``auto``: corner displacement, in full-size pixels, from which frames count as moved.
    progress, cancel
        As for :func:`mffgui.core.align.align_stack`.

    Returns
    -------
    AlignOutcome

    Raises
    ------
    StackMismatch
        ``off`` with frames of different sizes (names the file).
    AlignmentError
        An unknown mode; a frame of another size that cannot be aligned (names the file and
        why). ``auto`` falls back to the unaligned stack when aligning frames of one size fails
        as a whole (:attr:`AlignOutcome.failure` says why); a model raises.
    TooFewImages
        A model with which fewer than two frames aligned.
    """
    mode = normalise_mode(mode)
    n = len(stack)
    if mode == "off":
        _require_one_size(stack)
        return AlignOutcome(stack, mode, None, None, n)
    check: MotionCheck | None = None
    model = mode
    if mode == "auto":
        progress(0, 1, "Checking for motion")
        check = check_motion(stack, threshold=threshold, cancel=cancel)
        if not check.moved:
            return AlignOutcome(stack, mode, None, check, n)
        model = AUTO_MODEL
    try:
        aligned, report = align_stack(
            stack, model, interpolation=interpolation, crop=crop, progress=progress, cancel=cancel
        )
    except (AlignmentError, TooFewImages) as err:
        # Auto must never fail a stack that fuses unaligned: it falls back to "off" (frames
        # of different sizes cannot, and the error names the file).
        if mode != "auto" or not stack.uniform:
            raise
        return AlignOutcome(stack, mode, None, check, n, failure=str(err))
    assert isinstance(aligned, AlignedStack)
    return AlignOutcome(aligned, mode, report, check, n)
