"""Align the frames of a focus stack: shift, rotation, focus-breathing scale, perspective.

Every frame is registered to a reference frame (the middle one by default) with one of four
motion models. Each frame is registered to its already-aligned neighbour on the way out from the
reference (adjacent frames share more sharp detail than the ends of a deep stack do), and the
pairwise estimates are composed; the two sides of the reference run in two threads while
further frames are decoded, at reduced size, in others (:mod:`mffgui.core.align_frames`). A
pairwise estimate is Lucas-Kanade (:mod:`mffgui.core.align_lk`) for translation and
similarity; otherwise, or when that correlates poorly, it starts from the best of phase
correlation, the previous step's motion and SIFT + RANSAC on a contrast-normalised, downscaled
gray image and is refined by ECC level by level (:mod:`mffgui.core.align_register`), up to
``max_size`` pixels. Frames whose size differs from the reference frame's are first put on its
canvas (:func:`mffgui.core.align_frames.canvas_transform`); their matrices start from their
own pixels.

Typical use::

    report = estimate_alignment(stack, model="similarity")
    aligned = apply_alignment(stack, report, interpolation="cubic", crop=True)
    report.to_json("transforms.json")        # re-use on another stack of the same set-up
    again = apply_alignment(other, AlignmentReport.from_json("transforms.json"))

Transforms are ``(3, 3)`` matrices mapping a frame's pixel coordinates to the reference frame's
(pixel centres at integer coordinates, x right, y down).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mffgui.core.align_frames import FrameData, FrameReader, register_pair
from mffgui.core.align_geometry import (
    MODELS,
    common_polygon,
    decompose,
    implausibility,
    largest_rectangle,
    normalise,
    polygon_mask,
)
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.errors import AlignmentError, Cancelled, StackMismatch, TooFewImages
from mffgui.types import FrameLoader, ImageMeta, Stack

__all__ = [
    "INTERPOLATIONS",
    "MODELS",
    "AlignedStack",
    "AlignmentReport",
    "FrameAlignment",
    "align_stack",
    "apply_alignment",
    "estimate_alignment",
]

INTERPOLATIONS: dict[str, int] = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
"""Resampling kernels for :func:`apply_alignment`."""

# Source pixels next to the frame border that a kernel reaches past the edge; output pixels
# that need them count as invalid.
_KERNEL_MARGIN = {"nearest": 0.0, "linear": 0.0, "cubic": 1.0, "lanczos": 3.0}

STATUSES = ("reference", "ok", "failed", "implausible")

ALIGNED_CACHE_BYTES = 64 * 2**20
"""Most warped frames an aligned stack keeps in memory (fusion streams frames; a deep stack's
cache would only hold its first few frames anyway, at the cost of peak memory)."""

RECHECK_CORRELATION = 0.98
"""Link correlation below which a frame is also registered to the reference directly."""
FORMAT = "mffgui-alignment"
VERSION = 1


@dataclass(frozen=True)
class FrameAlignment:
    """How one frame maps onto the reference.

    Attributes
    ----------
    index : int
        Position of the frame in the stack.
    name : str
        Display name of the frame.
    matrix : ndarray, (3, 3) float64
        Frame pixel coordinates -> reference pixel coordinates (identity for the reference
        and for frames that failed).
    status : str
        ``"reference"``, ``"ok"``, ``"failed"`` (no registration found) or ``"implausible"``
        (a registration was found but its motion is not believable for a focus stack).
    reason : str
        Why the frame failed or is implausible (empty otherwise).
    anchor : int or None
        The already-aligned frame this one was registered against.
    correlation : float
        Correlation coefficient with the anchor, in ``[-1, 1]`` (NaN when not measured).
    size : (int, int) or None
        ``(width, height)`` of the frame when it differs from the reference frame's (its
        matrix then maps its own pixels); ``None`` for frames of the reference size.
    """

    index: int
    name: str
    matrix: np.ndarray
    status: str
    reason: str = ""
    anchor: int | None = None
    correlation: float = math.nan
    size: tuple[int, int] | None = None

    @property
    def usable(self) -> bool:
        """Whether the frame is aligned and can be fused."""
        return self.status in ("reference", "ok")


@dataclass(frozen=True)
class AlignmentReport:
    """Per-frame transforms to the reference frame, with quality and failure flags.

    Attributes
    ----------
    model : str
        Motion model, one of :data:`MODELS`.
    reference : int
        Index of the reference frame.
    width, height : int
        Frame size the transforms were estimated on.
    frames : tuple of FrameAlignment
        One entry per frame of the stack, in stack order.
    """

    model: str
    reference: int
    width: int
    height: int
    frames: tuple[FrameAlignment, ...] = field(default_factory=tuple)

    @property
    def usable(self) -> list[int]:
        """Indices of the frames that aligned (the reference included)."""
        return [f.index for f in self.frames if f.usable]

    @property
    def rejected(self) -> list[FrameAlignment]:
        """Frames flagged failed or implausible."""
        return [f for f in self.frames if not f.usable]

    def frame_size(self, i: int) -> tuple[int, int]:
        """``(width, height)`` of frame ``i`` as estimated (frames may differ in size)."""
        size = self.frames[i].size
        return size if size is not None else (self.width, self.height)

    def matrices(self) -> np.ndarray:
        """``(N, 3, 3)`` float64 frame -> reference transforms."""
        return np.stack([f.matrix for f in self.frames])

    def messages(self) -> list[str]:
        """One line per rejected frame, saying which and why."""
        return [f"frame {f.index + 1} ({f.name}) {f.status}: {f.reason}" for f in self.rejected]

    def table(self) -> str:
        """The per-frame report as a plain-text table (shift, scale, rotation, correlation)."""
        lines = [
            f"model {self.model}, reference frame {self.reference + 1}",
            f"{'#':>3}  {'frame':<28} {'dx':>8} {'dy':>8} {'scale':>7} {'rot°':>6} "
            f"{'corr':>6}  status",
        ]
        for f in self.frames:
            d = decompose(f.matrix, self.width, self.height)
            corr = "" if math.isnan(f.correlation) else f"{f.correlation:.3f}"
            status = f.status + (f" ({f.reason})" if f.reason else "")
            name = f.name if len(f.name) <= 28 else "..." + f.name[-25:]
            lines.append(
                f"{f.index + 1:>3}  {name:<28} {d.dx:>8.2f} {d.dy:>8.2f} "
                f"{d.scale:>7.4f} {d.rotation_deg:>6.2f} {corr:>6}  {status}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the file format (written by :mod:`mffgui.io.transforms`)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "reference": self.reference,
            "width": self.width,
            "height": self.height,
            "frames": [
                {
                    "index": f.index,
                    "name": f.name,
                    "status": f.status,
                    "reason": f.reason,
                    "anchor": f.anchor,
                    "correlation": None if math.isnan(f.correlation) else f.correlation,
                    "matrix": np.asarray(f.matrix, dtype=float).tolist(),
                    **({} if f.size is None else {"size": list(f.size)}),
                }
                for f in self.frames
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, path: str | Path | None = None) -> AlignmentReport:
        """Inverse of :meth:`to_dict`; raises :class:`AlignmentError` for anything malformed."""

        def bad(msg: str) -> AlignmentError:
            return AlignmentError(f"not a valid alignment file: {msg}", path)

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f'missing "format": "{FORMAT}"')
        if data.get("version") != VERSION:
            raise bad(f"unsupported version {data.get('version')!r} (expected {VERSION})")
        model = data.get("model")
        if model not in MODELS:
            raise bad(f"unknown model {model!r}")
        try:
            width, height = int(data["width"]), int(data["height"])
            reference = int(data["reference"])
            raw_frames = list(data["frames"])
        except (KeyError, TypeError, ValueError) as err:
            raise bad(f"missing or wrong field ({err})") from err
        frames = []
        for k, fr in enumerate(raw_frames):
            try:
                m = np.asarray(fr["matrix"], dtype=np.float64)
                status = str(fr["status"])
                corr = fr.get("correlation")
                anchor = fr.get("anchor")
                size = fr.get("size")
                size = None if size is None else (int(size[0]), int(size[1]))
                frames.append(
                    FrameAlignment(
                        index=k,
                        name=str(fr.get("name", f"frame {k + 1}")),
                        matrix=m,
                        status=status,
                        reason=str(fr.get("reason", "")),
                        anchor=None if anchor is None else int(anchor),
                        correlation=math.nan if corr is None else float(corr),
                        size=size,
                    )
                )
            except (KeyError, TypeError, ValueError, IndexError) as err:
                raise bad(f"frame {k + 1}: {err}") from err
            if m.shape != (3, 3) or not np.all(np.isfinite(m)):
                raise bad(f"frame {k + 1}: matrix must be 3x3 finite numbers")
            if status not in STATUSES:
                raise bad(f"frame {k + 1}: unknown status {status!r}")
        if width <= 0 or height <= 0 or not frames or not 0 <= reference < len(frames):
            raise bad("size, reference or frame list out of range")
        return cls(model, reference, width, height, tuple(frames))

    @classmethod
    def from_json(cls, path: str | Path) -> AlignmentReport:
        """Read transforms written by :meth:`to_json`.

        Raises
        ------
        AlignmentError
            When the file is missing, not JSON or not an alignment file.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise AlignmentError("alignment file not found", path) from err
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise AlignmentError(f"cannot read the alignment file ({err})", path) from err
        return cls.from_dict(data, path)


def _resolve_reference(
    stack: Stack, reference: str | int, max_size: int, cancel: CancelToken
) -> int:
    n = len(stack)
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        idx = int(reference)
        if not -n <= idx < n:
            raise AlignmentError(f"reference frame {idx} is out of range for {n} frames")
        return idx % n
    if reference == "middle":
        return (n - 1) // 2
    if reference == "sharpest":
        scores = []
        for i in range(n):
            cancel.raise_if_cancelled()
            g, _ = stack.small_gray(i, max_size)
            scores.append(float(np.mean(cv2.Laplacian(g, cv2.CV_32F) ** 2)))
        return int(np.argmax(scores))
    raise AlignmentError(
        f"reference must be 'middle', 'sharpest' or a frame index, not {reference!r}"
    )


def estimate_alignment(
    stack: Stack,
    *,
    model: str = "similarity",
    reference: str | int = "middle",
    max_size: int = 1024,
    min_correlation: float = 0.6,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> AlignmentReport:
    """Estimate the transform of every frame onto a reference frame.

    Parameters
    ----------
    stack : Stack
        The frames, read a few at a time (memory does not grow with the frame count). Frames
        whose size differs from the reference frame's are registered on its canvas and get
        :attr:`FrameAlignment.size`.
    model : str
        ``"translation"``, ``"similarity"`` (rotation + scale: focus breathing), ``"affine"``
        or ``"homography"``.
    reference : {"middle", "sharpest"} or int
        Frame everything is aligned to: the middle one, the one with the most detail (an extra
        read of every frame), or a 0-based index (negative counts from the end).
    max_size : int
        Longest side, in pixels, of the finest level registration works on. Larger is slower
        and only slightly more precise (sub-pixel ECC keeps errors near 0.1 px at 1024).
    min_correlation : float
        ECC correlation with the neighbour below which a frame is flagged ``failed``.
    progress : ProgressFn
        Called with ``(frames done, total, stage)``.
    cancel : CancelToken
        Checked before every frame.

    Returns
    -------
    AlignmentReport
        One :class:`FrameAlignment` per frame; failed or implausible frames are flagged, not
        dropped, and later frames are registered past them.

    Raises
    ------
    AlignmentError
        For an unknown model or reference.
    TooFewImages
        For a stack of fewer than two frames.
    """
    if model not in MODELS:
        raise AlignmentError(f"unknown alignment model {model!r} (choose from {', '.join(MODELS)})")
    n = len(stack)
    if n < 2:
        raise TooFewImages(f"alignment needs at least two frames, got {n}")
    names = stack.names
    ref = _resolve_reference(stack, reference, max_size, cancel)
    height, width = stack.frame_size(ref)
    progress(0, n, "Aligning frames")
    reader = FrameReader(stack, ref, model, max_size, workers=_WORKERS)
    try:
        ref_data = reader.get(ref)
        if ref_data.flat:
            raise AlignmentError(
                f"the reference frame {ref + 1} ({names[ref]}) has no "
                "contrast to align on; choose another reference frame"
            )
        results: dict[int, FrameAlignment] = {
            ref: FrameAlignment(ref, names[ref], np.eye(3), "reference")
        }
        chain = _Chain(
            stack, reader, ref, ref_data, model, min_correlation, (width, height), results, cancel
        )
        sides = [list(range(ref + 1, n)), list(range(ref - 1, -1, -1))]
        # The two sides of the reference are independent chains: one per thread (OpenCV and
        # numpy release the GIL), the frames of both decoded ahead by the reader's threads.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mffgui-chain") as pool:
            futures = [pool.submit(chain.run, side) for side in sides if side]
            while True:
                finished, _ = wait(futures, timeout=0.05)
                done = len(results)
                progress(done, n, f"Aligning frame {done}/{n}")
                if len(finished) == len(futures):
                    break
                if cancel.cancelled or any(f.exception() for f in finished):
                    chain.stop = True  # the other side stops at its next frame
            for f in futures:
                f.result()  # re-raise a failure (Cancelled included) here
    finally:
        reader.close()
    return AlignmentReport(model, ref, width, height, tuple(results[i] for i in range(n)))


_WORKERS = 2
"""Threads decoding frames ahead of registration."""


class _Chain:
    """Registers the frames of one side of the reference, each to its aligned neighbour."""

    def __init__(
        self,
        stack: Stack,
        reader: FrameReader,
        ref: int,
        ref_data: FrameData,
        model: str,
        min_correlation: float,
        size: tuple[int, int],
        results: dict[int, FrameAlignment],
        cancel: CancelToken,
    ) -> None:
        self.stack, self.reader, self.ref, self.ref_data = stack, reader, ref, ref_data
        self.model, self.min_correlation, self.size = model, min_correlation, size
        self.results, self.cancel = results, cancel
        self.stop = False

    def run(self, side: list[int]) -> None:
        """Register the frames of ``side`` in order, starting next to the reference."""
        names = self.stack.names
        anchor, anchor_data, anchor_warp = self.ref, self.ref_data, np.eye(3)
        step: np.ndarray | None = None
        for k, i in enumerate(side):
            if self.stop:
                raise Cancelled("alignment cancelled")
            self.cancel.raise_if_cancelled()
            for j in side[k + 1 : k + 3]:
                self.reader.prefetch(j)
            data = self.reader.get(i)
            entry, warp = _align_one(
                i,
                names[i],
                anchor,
                anchor_data,
                anchor_warp,
                self.ref,
                self.ref_data,
                data,
                self.model,
                step,
                self.min_correlation,
                *self.size,
            )
            if data.canvas is not None and not np.allclose(data.canvas, np.eye(3)):
                entry = _with_canvas(entry, data.canvas, self.stack.frame_size(i))
            self.results[i] = entry
            if entry.usable:
                # The motion between neighbours predicts the next one (focus breathing is
                # steady); it is one of the starts the next registration tries.
                step = normalise(warp @ np.linalg.inv(anchor_warp))
                anchor, anchor_data, anchor_warp = i, data, warp


def _with_canvas(
    entry: FrameAlignment, canvas: np.ndarray, size: tuple[int, int]
) -> FrameAlignment:
    """``entry`` for a frame of another size: its matrix starts from the frame's own pixels."""
    h, w = size
    matrix = normalise(entry.matrix @ canvas) if entry.usable else entry.matrix
    return replace(entry, matrix=matrix, size=(w, h))


def _align_one(
    i: int,
    name: str,
    anchor: int,
    anchor_data: FrameData,
    anchor_warp: np.ndarray,
    ref: int,
    ref_data: FrameData,
    data: FrameData,
    model: str,
    step: np.ndarray | None,
    min_correlation: float,
    width: int,
    height: int,
) -> tuple[FrameAlignment, np.ndarray]:
    """Register frame ``i`` to its anchor (and, if that is weak, to the reference directly).

    Returns the report entry and the reference -> frame warp (identity when not usable).
    """
    res = register_pair(anchor_data, data, model, init=step, min_correlation=min_correlation)
    used, base = anchor, anchor_warp
    if anchor != ref and (res.warp is None or res.correlation < RECHECK_CORRELATION):
        # A weak link (an out-of-order frame, little shared detail): the reference may share
        # more. Start from the chained estimate; keep whichever correlates better.
        init = (
            res.warp @ anchor_warp
            if res.warp is not None
            else (step @ anchor_warp if step is not None else anchor_warp)
        )
        direct = register_pair(ref_data, data, model, init=init, min_correlation=min_correlation)
        if direct.warp is not None and (res.warp is None or direct.correlation > res.correlation):
            res, used, base = direct, ref, np.eye(3)
    if res.warp is None:
        return FrameAlignment(i, name, np.eye(3), "failed", res.reason, used), np.eye(3)
    if res.correlation < min_correlation:
        reason = (
            f"correlation {res.correlation:.2f} with frame {used + 1} is below "
            f"{min_correlation:.2f} (unrelated or featureless content)"
        )
        return (
            FrameAlignment(i, name, np.eye(3), "failed", reason, used, res.correlation),
            np.eye(3),
        )
    warp = normalise(res.warp @ base)
    matrix = normalise(np.linalg.inv(warp))
    why = implausibility(matrix, width, height) or implausibility(
        np.linalg.inv(res.warp), width, height
    )
    if why:
        return (
            FrameAlignment(i, name, np.eye(3), "implausible", why, used, res.correlation),
            np.eye(3),
        )
    return FrameAlignment(i, name, matrix, "ok", "", used, res.correlation), warp


class AlignedStack(Stack):
    """A lazily aligned stack: each frame is resampled once, from its source, when read.

    Besides the :class:`~mffgui.types.Stack` interface it exposes where the aligned frames
    hold real data, so fusion can ignore the replicated border of an uncropped result.

    Attributes
    ----------
    report : AlignmentReport
        The transforms used.
    indices : tuple of int
        Source-stack index of every frame of this stack.
    box : (int, int, int, int)
        ``(x0, y0, x1, y1)``: the output's area in reference-frame pixels (half-open).
    valid_mask : ndarray, (H, W) bool
        Pixels where every frame of this stack has data (all ``True`` when cropped).
    interpolation : str
        The resampling kernel used.
    """

    def __init__(
        self,
        loaders: Sequence[FrameLoader],
        metas: Sequence[ImageMeta],
        notes: Sequence[str],
        cache_bytes: int,
        *,
        report: AlignmentReport,
        indices: Sequence[int],
        box: tuple[int, int, int, int],
        valid_mask: np.ndarray,
        interpolation: str,
        frame_transforms: Sequence[np.ndarray],
    ) -> None:
        super().__init__(loaders, metas, notes, cache_bytes)
        self.report: AlignmentReport = report
        self.indices: tuple[int, ...] = tuple(indices)
        self.box: tuple[int, int, int, int] = box
        self.valid_mask: np.ndarray = valid_mask
        self.interpolation: str = interpolation
        self._frame_transforms = list(frame_transforms)

    def frame_valid_mask(self, i: int) -> np.ndarray:
        """``(H, W)`` bool: where frame ``i`` of this stack has source data."""
        h, w = self.shape
        fw, fh = self.report.frame_size(self.indices[i])
        poly = common_polygon(
            [self._frame_transforms[i]], fw, fh, _KERNEL_MARGIN[self.interpolation], out_size=(w, h)
        )
        return polygon_mask(poly, w, h)

    def subset(self, indices: Sequence[int]) -> AlignedStack:
        """The frames at ``indices``; the valid mask stays that of the whole aligned stack."""
        return AlignedStack(
            [self._loaders[j] for j in indices],
            [self.metas[j] for j in indices],
            self.notes,
            self._cache_bytes,
            report=self.report,
            indices=[self.indices[j] for j in indices],
            box=self.box,
            valid_mask=self.valid_mask,
            interpolation=self.interpolation,
            frame_transforms=[self._frame_transforms[j] for j in indices],
        )


def apply_alignment(
    stack: Stack,
    report: AlignmentReport,
    *,
    interpolation: str = "linear",
    crop: bool = True,
    exclude_failed: bool = True,
) -> AlignedStack:
    """Resample a stack with the transforms of ``report`` (lazily, one frame at a time).

    Parameters
    ----------
    stack : Stack
        The stack the report was estimated on, or another of the same frame sizes and count
        (transforms re-used from a JSON file).
    report : AlignmentReport
        Per-frame transforms.
    interpolation : {"linear", "cubic", "lanczos", "nearest"}
        Resampling kernel; cubic and Lanczos are clipped to ``[0, 1]``.
    crop : bool
        Crop every frame to the largest rectangle that all used frames cover. Otherwise keep the
        reference frame's size, fill the uncovered border by edge replication and mark it in
        :attr:`AlignedStack.valid_mask`.
    exclude_failed : bool
        Leave out frames flagged failed or implausible (a note says which). When ``False`` they
        are kept unaligned.

    Returns
    -------
    AlignedStack
        Frames ``(h, w, C)`` float32 in ``[0, 1]``, channels as the input.

    Raises
    ------
    StackMismatch
        When the stack's frame count or a frame's size differs from the report's.
    AlignmentError
        When the frames share no common area, or a frame whose size differs from the
        reference frame's failed to align (it cannot be fused unaligned; the message names
        the file and why).
    TooFewImages
        When fewer than two frames are left.
    """
    if interpolation not in INTERPOLATIONS:
        raise AlignmentError(
            f"unknown interpolation {interpolation!r} (choose from {', '.join(INTERPOLATIONS)})"
        )
    where = stack.metas[0].path if len(stack) and stack.metas[0].path is not None else None
    if len(stack) != len(report.frames):
        raise StackMismatch(
            f"the alignment has {len(report.frames)} frames but the stack has {len(stack)}", where
        )
    w, h = report.width, report.height
    names = stack.names
    for i, f in enumerate(report.frames):
        fh, fw = stack.frame_size(i)
        ew, eh = report.frame_size(i)
        if (fw, fh) != (ew, eh):
            raise StackMismatch(
                f"the alignment was made for {ew}x{eh} frames but frame "
                f"{i + 1} ({names[i]}) is {fw}x{fh}",
                stack.metas[i].path,
            )
        if f.size is not None and not f.usable:
            ref = report.reference
            raise AlignmentError(
                f"frame {i + 1} ({names[i]}) is {fw}x{fh}, the reference frame {ref + 1} "
                f"({names[ref]}) is {w}x{h}, and it could not be aligned onto it "
                f"({f.status}: {f.reason}); leave it out or resize it to {w}x{h}",
                stack.metas[i].path,
            )
    notes = list(stack.notes)
    if exclude_failed:
        indices = report.usable
        notes += [f"excluded from alignment: {m}" for m in report.messages()]
    else:
        indices = list(range(len(stack)))
        notes += [f"kept unaligned: {m}" for m in report.messages()]
    if len(indices) < 2:
        raise TooFewImages(
            f"only {len(indices)} frame(s) aligned; " + "; ".join(report.messages()), where
        )
    mats = [report.frames[i].matrix for i in indices]
    margin = _KERNEL_MARGIN[interpolation]
    poly = common_polygon(mats, w, h, margin, sizes=[report.frame_size(i) for i in indices])
    if len(poly) < 3:
        raise AlignmentError("the aligned frames share no common area", where)
    if crop:
        box = largest_rectangle(poly, w, h)
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            raise AlignmentError("the aligned frames share no usable common area", where)
    else:
        box = (0, 0, w, h)
    x0, y0, x1, y1 = box
    out_w, out_h = x1 - x0, y1 - y0
    shift = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
    out_maps = [shift @ m for m in mats]
    if crop:
        valid = np.ones((out_h, out_w), dtype=bool)
    else:
        valid = polygon_mask(poly, w, h)
    flag = INTERPOLATIONS[interpolation]
    loaders = [
        _warp_loader(stack, i, m, (out_w, out_h), flag, report.model)
        for i, m in zip(indices, out_maps, strict=True)
    ]
    note = f"aligned to frame {report.reference + 1} ({report.model}, {interpolation})"
    metas = [_meta(stack.metas[i], out_w, out_h, note) for i in indices]
    resized = [names[i] for i in indices if report.frames[i].size is not None]
    if resized:
        notes.append(
            f"{len(resized)} frame(s) of another size aligned onto the reference "
            f"frame's {w}x{h}: {', '.join(resized[:5])}"
            f"{'...' if len(resized) > 5 else ''}"
        )
    return AlignedStack(
        loaders,
        metas,
        notes,
        min(stack._cache_bytes, ALIGNED_CACHE_BYTES),
        report=report,
        indices=indices,
        box=box,
        valid_mask=valid,
        interpolation=interpolation,
        frame_transforms=out_maps,
    )


def _meta(meta: ImageMeta, w: int, h: int, note: str) -> ImageMeta:
    return replace(meta, width=w, height=h, notes=(*meta.notes, note))


def _source_frame(stack: Stack, i: int) -> np.ndarray:
    """Frame ``i`` of ``stack`` without adding it to the source's cache.

    The aligned stack caches warped frames itself; caching the source frames too would double
    the memory for nothing.
    """
    cached = stack._cache.get(i)
    if cached is not None:
        return cached
    img = stack._loaders[i]()
    if img.shape[2] != stack.channels and stack.channels == 3:
        img = np.repeat(img, 3, axis=2)
    return img


def _warp_loader(
    stack: Stack, i: int, m: np.ndarray, size: tuple[int, int], flag: int, model: str
) -> FrameLoader:
    """Loader that reads source frame ``i`` and resamples it through output map ``m``."""
    inv = np.linalg.inv(m)  # output -> source, so OpenCV need not invert per call
    affine = model != "homography" and np.allclose(m[2], [0, 0, 1])

    def load() -> np.ndarray:
        src = _source_frame(stack, i)
        flags = flag | cv2.WARP_INVERSE_MAP
        if affine:
            out = cv2.warpAffine(src, inv[:2], size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        else:
            out = cv2.warpPerspective(src, inv, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        if out.ndim == 2:
            out = out[:, :, None]
        if flag in (cv2.INTER_CUBIC, cv2.INTER_LANCZOS4):
            np.clip(out, 0.0, 1.0, out=out)
        return out.astype(np.float32, copy=False)

    return load


def align_stack(
    stack: Stack,
    model: str = "similarity",
    *,
    reference: str | int = "middle",
    interpolation: str = "linear",
    crop: bool = True,
    exclude_failed: bool = True,
    max_size: int = 1024,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> tuple[AlignedStack, AlignmentReport]:
    """Estimate and apply alignment in one call.

    See :func:`estimate_alignment` and :func:`apply_alignment` for the parameters.

    Returns
    -------
    (AlignedStack, AlignmentReport)
    """
    report = estimate_alignment(
        stack, model=model, reference=reference, max_size=max_size, progress=progress, cancel=cancel
    )
    return apply_alignment(
        stack, report, interpolation=interpolation, crop=crop, exclude_failed=exclude_failed
    ), report
