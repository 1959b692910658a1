"""The one fusion pipeline: read -> align -> fuse, Qt-free, shared by every front end.

``mffgui fuse``, ``fuse --batch`` (:mod:`mffgui.batch.task`), the app's fusion worker
(:mod:`mffgui.gui.worker`), the napari plugin (:mod:`mffgui.napari.logic`), ``mffgui bench``,
the compare loop (:func:`mffgui.compare.compare_stack`) and the Train dialog's preview all fuse
through this module, so they treat a stack the same way:

* :func:`fuse_stack` runs one method on one (possibly aligned) stack; an uncropped aligned
  stack has each frame's invalid border left out (:func:`mffgui.core.align_fuse.ignore_invalid`).
* :func:`align_input` aligns a stack as Off / Auto (the default) / a motion model ask
  (:func:`mffgui.core.align_auto.align_for_fusion`).
* :func:`fuse_files` is the whole pipeline: read (paths, a :class:`~mffgui.io.Discovery` or an
  already-read :class:`~mffgui.types.Stack`), align, fuse; it returns the result with a
  :class:`FuseReport` (method, strategy, alignment summary, timings, warnings).

Typical use::

    out = fuse_files(["shots/"], "depthmap")          # Auto alignment
    print(out.report.summary())
    write_image("fused.png", out.result.fused, bit_depth=8)
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mffgui.core.align_auto import AlignOutcome, align_for_fusion, normalise_mode
from mffgui.core.align_fuse import ignore_invalid
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress, scaled
from mffgui.errors import ParamsError
from mffgui.types import FusionResult, Stack, Volume, strategy_note

if TYPE_CHECKING:
    from mffgui.core.channels import GuideChannel
    from mffgui.methods.base import FusionMethod, Params

__all__ = [
    "AlignSettings",
    "FuseOutput",
    "FuseReport",
    "align_input",
    "build_params",
    "fuse_files",
    "fuse_stack",
    "fuse_volume",
    "read_input",
    "resolve_method",
]


@dataclass(frozen=True)
class AlignSettings:
    """How to align before fusing (the app's Align box, the CLI's ``--align*`` flags).

    Attributes
    ----------
    mode : str
        ``"auto"`` (default: check for motion, align with the similarity model when the frames
        moved or differ in size), ``"off"`` (``""``/``"none"`` too) or a motion model of
        :data:`mffgui.core.align.MODELS`.
    interpolation : str
        Resampling kernel (:data:`mffgui.core.align.INTERPOLATIONS`).
    crop : bool
        Crop to the area every frame covers; ``False`` keeps the reference frame's size and
        fusion leaves each frame's invalid border out.
    """

    mode: str = "auto"
    interpolation: str = "linear"
    crop: bool = True

    @classmethod
    def of(cls, align: AlignSettings | str | None) -> AlignSettings:
        """``align`` as settings: a mode string (``None`` = ``off``) gets the default options."""
        if isinstance(align, AlignSettings):
            return cls(normalise_mode(align.mode), align.interpolation, align.crop)
        return cls(normalise_mode(align))


@dataclass(frozen=True)
class FuseReport:
    """What :func:`fuse_files` did.

    Attributes
    ----------
    method : str
        Registry name of the method that ran.
    strategy : str
        The stack strategy a network method reports (``result.meta["strategy"]``), else ``""``.
    frames_read, frames_fused : int
        Frames of the stack as read and as fused (alignment may leave frames out).
    size : (int, int)
        ``(height, width)`` of the result.
    align : AlignOutcome or None
        What the alignment step did (``None`` when the caller passed ``align="off"`` and no
        check ran; the outcome of ``off`` otherwise).
    timings : dict
        Seconds per step: ``read``, ``align``, ``fuse`` and ``total``.
    warnings : tuple of str
        Reader notes, frames alignment left out, the alignment-border note and the method's
        own notes, in that order.
    """

    method: str
    strategy: str
    frames_read: int
    frames_fused: int
    size: tuple[int, int]
    align: AlignOutcome | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def aligned(self) -> bool:
        """Whether the frames were aligned."""
        return self.align is not None and self.align.aligned

    @property
    def align_summary(self) -> str:
        """One line on what Align did (``""`` for off)."""
        return self.align.summary() if self.align is not None else ""

    @property
    def alignment_messages(self) -> tuple[str, ...]:
        """Frames the alignment left out, one message each."""
        if self.align is None or self.align.report is None:
            return ()
        return tuple(self.align.report.messages())

    def summary(self) -> str:
        """``fused N frames (WxH) with METHOD (strategy S)`` (one line)."""
        h, w = self.size
        strat = strategy_note({"strategy": self.strategy})
        return f"fused {self.frames_fused} frames ({w}x{h}) with {self.method}{strat}"


@dataclass(frozen=True)
class FuseOutput:
    """The result of :func:`fuse_files`.

    Attributes
    ----------
    result : FusionResult
    stack : Stack
        The stack that was fused (the aligned one when aligned; frames read lazily).
    source : Stack
        The stack as read, before alignment.
    report : FuseReport
    """

    result: FusionResult
    stack: Stack
    source: Stack
    report: FuseReport


def resolve_method(method: FusionMethod | str) -> FusionMethod:
    """A method instance from a registry name, or ``method`` itself."""
    if isinstance(method, str):
        from mffgui.methods import get_method

        return get_method(method)
    return method


def fuse_stack(
    stack: Stack,
    method: FusionMethod | str,
    params: Params | None = None,
    *,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> FusionResult:
    """Fuse ``stack`` with ``method``: ``method.fuse`` followed by the invalid-border step.

    The one place a method is run on a stack. An uncropped
    :class:`~mffgui.core.align.AlignedStack` has each frame's invalid border left out
    (:func:`mffgui.core.align_fuse.ignore_invalid`); any other stack's result is the method's
    own, unchanged.

    Parameters
    ----------
    stack : Stack
        The frames (aligned or not).
    method : FusionMethod or str
        A method instance or a registered name.
    params : Params, optional
        The method's parameters (default: its defaults).
    progress, cancel
        As for the method.

    Returns
    -------
    FusionResult
    """
    m = resolve_method(method)
    p = params if params is not None else m.info.params()
    result = m.fuse(stack, p, progress=progress, cancel=cancel)
    return ignore_invalid(result, stack, cancel=cancel)


def read_input(inputs: Any, *, mixed_sizes: bool = False, raw: str = "srgb") -> Stack:
    """``inputs`` as a :class:`Stack`: a Stack is returned as it is, anything else is read.

    Parameters
    ----------
    inputs : path, iterable of paths, Discovery or Stack
        What :func:`mffgui.io.read_stack` takes, or an already-read stack.
    mixed_sizes : bool
        Allow frames of different sizes (they must then be aligned).
    raw : str
        Camera RAW rendering, ``"srgb"`` or ``"linear"``.
    """
    if isinstance(inputs, Stack):
        return inputs
    from mffgui.io.stacks import read_stack

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return read_stack(inputs, mixed_sizes=mixed_sizes, raw=raw)


def align_input(
    stack: Stack,
    align: AlignSettings | str | None = "auto",
    *,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> AlignOutcome:
    """Align ``stack`` for fusion as ``align`` asks (Auto by default).

    See :func:`mffgui.core.align_auto.align_for_fusion`; ``off`` returns the stack itself
    (and requires frames of one size).
    """
    s = AlignSettings.of(align)
    return align_for_fusion(
        stack,
        s.mode,
        interpolation=s.interpolation,
        crop=s.crop,
        progress=progress,
        cancel=cancel,
    )


def fuse_files(
    inputs: Any,
    method: FusionMethod | str,
    params: Params | None = None,
    *,
    align: AlignSettings | str | None = "auto",
    raw: str = "srgb",
    progress: ProgressFn = noop_progress,
    align_progress: ProgressFn | None = None,
    cancel: CancelToken = NEVER,
    on_read: Callable[[Stack], None] | None = None,
    on_aligned: Callable[[AlignOutcome, float], None] | None = None,
) -> FuseOutput:
    """Read, align and fuse one focus stack.

    Parameters
    ----------
    inputs : path, iterable of paths, Discovery or Stack
        Image files and/or folders, what :func:`mffgui.io.discover` found, or a stack already
        read (then only aligned and fused).
    method : FusionMethod or str
        A method instance or a registered name.
    params : Params, optional
        The method's parameters (default: its defaults).
    align : AlignSettings or str
        ``"auto"`` (default), ``"off"``, a motion model, or full :class:`AlignSettings`.
        Frames of different sizes are read only when alignment is on.
    raw : str
        Camera RAW rendering, ``"srgb"`` or ``"linear"``.
    progress : ProgressFn
        ``(done, total, stage)``. Without ``align_progress``: the whole run on one 0..1 scale
        (reading, then alignment 0..0.4 and fusion 0.4..1 when the frames were aligned, else
        fusion 0..1). With ``align_progress``: the fusion's own progress only.
    align_progress : ProgressFn, optional
        A separate callback for the alignment step (the CLI's own progress line).
    cancel : CancelToken
        Checked between steps and inside them; raises :class:`~mffgui.errors.Cancelled`.
    on_read : callable, optional
        Called with the stack as read, before alignment (to check the output target or show
        notes before the long work); an exception it raises ends the run.
    on_aligned : callable, optional
        Called with the alignment outcome and its seconds, before fusion.

    Returns
    -------
    FuseOutput

    Raises
    ------
    MffError
        Unreadable or mismatching files (the message names the file), bad parameters, frames
        that cannot be aligned.
    Cancelled
        When ``cancel`` was set.
    """
    settings = AlignSettings.of(align)
    m = resolve_method(method)
    t0 = time.perf_counter()
    if align_progress is None and not isinstance(inputs, Stack):
        progress(0.0, 1.0, "Reading images")
    source = read_input(inputs, mixed_sizes=settings.mode != "off", raw=raw)
    t_read = time.perf_counter()
    cancel.raise_if_cancelled()
    if on_read is not None:
        on_read(source)
    fuse_progress = progress
    outcome: AlignOutcome | None = None
    if settings.mode == "off":
        outcome = align_input(source, settings, cancel=cancel)
    else:
        sub = align_progress if align_progress is not None else scaled(progress, 0.0, 0.4)
        outcome = align_input(source, settings, progress=sub, cancel=cancel)
        if outcome.report is not None and align_progress is None:
            fuse_progress = scaled(progress, 0.4, 0.6)
    t_align = time.perf_counter()
    if on_aligned is not None:
        on_aligned(outcome, t_align - t_read)
    cancel.raise_if_cancelled()
    stack = outcome.stack
    p = params if params is not None else m.info.params()
    result = fuse_stack(stack, m, p, progress=fuse_progress, cancel=cancel)
    t_fuse = time.perf_counter()
    warnings: list[str] = list(source.notes)
    if outcome.report is not None:
        warnings += [f"excluded: {msg}" for msg in outcome.report.messages()]
    warnings += [str(n) for n in result.meta.get("notes", ())]
    strategy = result.meta.get("strategy")
    report = FuseReport(
        method=m.info.name,
        strategy=str(strategy) if strategy and strategy != "pair" else "",
        frames_read=len(source),
        frames_fused=len(stack),
        size=tuple(stack.shape),  # type: ignore[arg-type]
        align=outcome,
        timings={
            "read": t_read - t0,
            "align": t_align - t_read,
            "fuse": t_fuse - t_align,
            "total": t_fuse - t0,
        },
        warnings=tuple(warnings),
    )
    return FuseOutput(result, stack, source, report)


def fuse_volume(
    volume: Volume,
    method: FusionMethod | str,
    params: Params | None = None,
    *,
    channel: GuideChannel = "sum",
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
    on_read: Callable[[Stack], None] | None = None,
) -> FuseOutput:
    """Fuse a multi-channel z-stack: one depth map from ``channel``, applied to every channel.

    The method runs on the guide stack (:func:`mffgui.core.channels.guide_stack`: one channel,
    or ``"sum"`` of all channels each scaled by its maximum) without alignment; its per-frame
    weights then blend every channel separately (:func:`mffgui.core.channels.fuse_channels`),
    so channels are never mixed.

    Parameters
    ----------
    volume : Volume
        ``(Z, C, Y, X)`` uint8/uint16 samples, ``Z >= 2``.
    method : FusionMethod or str
        A method instance or a registered name.
    params : Params, optional
        The method's parameters (default: its defaults).
    channel : int or "sum"
        0-based guide channel, or ``"sum"``.
    progress, cancel
        As for :func:`fuse_files` (one 0..1 scale).
    on_read : callable, optional
        Called with the guide stack before fusion, as by :func:`fuse_files` (the CLI checks
        its output target there).

    Returns
    -------
    FuseOutput
        ``result.fused`` is ``(Y, X, C)`` float32; ``result.meta["channels"] = C`` and
        ``result.meta["guide"]`` the channel; ``stack`` and ``source`` are the guide stack.

    Raises
    ------
    TooFewImages
        Fewer than two z-planes.
    ParamsError
        ``channel`` outside the volume's channels.
    """
    from mffgui.core.channels import fuse_volume_result, guide_stack
    from mffgui.errors import TooFewImages

    if volume.shape[0] < 2:
        raise TooFewImages("a focus stack needs at least two z-planes", volume.meta.path)
    try:
        guide = guide_stack(volume, channel)
    except ValueError as err:
        raise ParamsError(str(err), volume.meta.path) from None
    out = fuse_files(
        guide, method, params, align="off", progress=progress, cancel=cancel, on_read=on_read
    )
    result = fuse_volume_result(volume, out.result)
    result = dataclasses.replace(result, meta={**dict(result.meta), "guide": channel})
    return dataclasses.replace(out, result=result)


def build_params(
    method_name: str, sets: dict[str, str], device: str | None, weights: str | None
) -> tuple[Any, Params]:
    """The method instance and its validated Params from command-line style values
    (``--set`` pairs, ``--device``, ``--weights``); shared by the CLI and batch tasks."""
    from mffgui.methods import get_method

    method = get_method(method_name)
    params_cls: type[Params] = method.info.params
    fields = {f.name for f in dataclasses.fields(params_cls)}
    values: dict[str, Any] = dict(sets)
    for flag, key, value in (("--device", "device", device), ("--weights", "weights", weights)):
        if value is None:
            continue
        if key not in fields:
            raise ParamsError(
                f"method {method.info.name!r} does not take {flag} "
                f"(it is a {method.info.kind} method)"
            )
        if key in values:
            raise ParamsError(f"{key} given both as {flag} and --set {key}=...")
        values[key] = value
    if weights is not None and not Path(weights).expanduser().is_file():
        raise ParamsError("weights file not found", weights)
    return method, params_cls.from_mapping(values)
