"""Retouching: brush strokes that paint pixels of a chosen source frame over a fused image.

Qt-free (numpy only) so it is testable without a display. A :class:`Stroke` is a polyline in
stack (image) coordinates with a radius, a hardness (soft edge) and an opacity; it paints
source frame ``source`` or, as an eraser, restores the automatic result.

Strokes are composited in order. Because each one is a linear blend, the retouched image is at
every pixel a convex combination of the automatic result and the source frames::

    fused = keep * auto + sum_k cover[k] * frame[k]

:class:`RetouchCanvas` keeps ``keep`` ``(H, W)`` and one ``cover`` map per painted source, so
strokes, undo (recomposite from scratch) and re-applying strokes on a new automatic result are
exact: where a hard stroke at 100 % lies, ``keep`` is 0 and ``cover[source]`` is 1, and the
result is the source frame bit for bit; outside every stroke it is the automatic result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Box = tuple[int, int, int, int]
"""``(y0, y1, x0, x1)``: a half-open pixel rectangle."""

ERASE = -1
"""``Stroke.source`` of an eraser stroke (back to the automatic result)."""


@dataclass(frozen=True)
class Stroke:
    """One brush stroke in stack coordinates.

    Attributes
    ----------
    source : int
        0-based index of the source frame painted, or :data:`ERASE`.
    points : tuple of (float, float)
        Polyline ``(x, y)`` in image coordinates: pixel ``(i, j)`` (row, column) covers
        ``[j, j + 1) x [i, i + 1)``, so its centre is ``(j + 0.5, i + 0.5)``.
    radius : float
        Brush radius in image pixels (> 0).
    hardness : float
        ``0..1``: the fully opaque core is ``hardness * radius``; beyond it the brush fades
        smoothly to 0 at ``radius``. 1 is a hard edge.
    opacity : float
        ``0..1``: the brush's strength.
    """

    source: int
    points: tuple[tuple[float, float], ...]
    radius: float = 10.0
    hardness: float = 1.0
    opacity: float = 1.0

    @property
    def erase(self) -> bool:
        """Whether this stroke restores the automatic result."""
        return self.source == ERASE

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (see :meth:`from_json`)."""
        return {
            "source": int(self.source),
            "radius": float(self.radius),
            "hardness": float(self.hardness),
            "opacity": float(self.opacity),
            "points": [[float(x), float(y)] for x, y in self.points],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stroke:
        """The stroke written by :meth:`to_json`.

        Raises
        ------
        ValueError
            Missing or malformed fields.
        """
        pts = tuple((float(p[0]), float(p[1])) for p in d["points"])
        if not pts:
            raise ValueError("a stroke needs at least one point")
        radius = float(d.get("radius", 10.0))
        if not radius > 0:
            raise ValueError(f"stroke radius must be > 0, got {radius}")
        return cls(
            int(d["source"]),
            pts,
            radius,
            float(np.clip(float(d.get("hardness", 1.0)), 0.0, 1.0)),
            float(np.clip(float(d.get("opacity", 1.0)), 0.0, 1.0)),
        )


def stroke_box(stroke: Stroke, shape: tuple[int, int]) -> Box | None:
    """Pixels a stroke can touch, clipped to an ``(H, W)`` image (``None``: none)."""
    h, w = shape
    pts = np.asarray(stroke.points, dtype=np.float64).reshape(-1, 2)
    r = stroke.radius
    x0 = max(0, int(np.floor(pts[:, 0].min() - r)))
    x1 = min(w, int(np.ceil(pts[:, 0].max() + r)) + 1)
    y0 = max(0, int(np.floor(pts[:, 1].min() - r)))
    y1 = min(h, int(np.ceil(pts[:, 1].max() + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _profile(d: np.ndarray, stroke: Stroke) -> np.ndarray:
    """Brush alpha at distance ``d`` from the stroke's path (float32)."""
    r = float(stroke.radius)
    core = r * float(stroke.hardness)
    if core >= r:
        a = (d <= r).astype(np.float32)
    else:
        t = np.clip((r - d) / (r - core), 0.0, 1.0)
        a = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    if stroke.opacity < 1.0:
        a *= np.float32(stroke.opacity)
    return a


def segment_alpha(stroke: Stroke, k: int, shape: tuple[int, int]) -> tuple[np.ndarray, Box] | None:
    """Alpha of segment ``k`` (points ``k`` to ``k + 1``; a single point for ``k = 0`` of a
    one-point stroke) over its bounding box.

    Returns
    -------
    alpha : ndarray, (y1 - y0, x1 - x0) float32
        In ``[0, 1]``.
    box : (y0, y1, x0, x1)
        Where it lies in the ``(H, W)`` image; ``None`` instead of the pair when the segment
        is outside the image.
    """
    pts = stroke.points
    p = pts[k]
    q = pts[k + 1] if k + 1 < len(pts) else p
    box = stroke_box(Stroke(stroke.source, (p, q), stroke.radius), shape)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    cx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    cy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    dx, dy = q[0] - p[0], q[1] - p[1]
    ll = dx * dx + dy * dy
    if ll > 0:
        t = np.clip(((cx - p[0]) * dx + (cy - p[1]) * dy) / ll, 0.0, 1.0)
    else:
        t = np.zeros((1, 1))
    d = np.hypot(cx - p[0] - t * dx, cy - p[1] - t * dy)
    return _profile(d, stroke), box


def stroke_alpha(
    stroke: Stroke, shape: tuple[int, int], out: np.ndarray | None = None, start: int = 0
) -> tuple[np.ndarray, Box | None]:
    """Alpha ``(H, W)`` float32 of a whole stroke: the maximum over its segments.

    Parameters
    ----------
    stroke : Stroke
    shape : (int, int)
        ``(H, W)`` of the image.
    out : ndarray, optional
        ``(H, W)`` float32 to accumulate into (``np.maximum``); a new zero array by default.
    start : int
        First segment to add (for a stroke growing while it is painted).

    Returns
    -------
    alpha : ndarray, (H, W) float32
    box : (y0, y1, x0, x1) or None
        Bounding box of the added segments.
    """
    if out is None:
        out = np.zeros(shape, np.float32)
    n_seg = max(1, len(stroke.points) - 1)
    box: Box | None = None
    for k in range(start, n_seg):
        seg = segment_alpha(stroke, k, shape)
        if seg is None:
            continue
        a, (y0, y1, x0, x1) = seg
        np.maximum(out[y0:y1, x0:x1], a, out=out[y0:y1, x0:x1])
        box = union_box(box, (y0, y1, x0, x1))
    return out, box


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both (``None`` is empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


FrameFn = Callable[[int], np.ndarray]
"""``frame(i) -> (H, W, C) float32``: source frame ``i`` of the stack."""


@dataclass
class RetouchCanvas:
    """The composite state of a list of strokes over one automatic result.

    Parameters
    ----------
    auto : ndarray, (H, W, C) float32
        The automatic fused image (never modified).
    frame : callable
        ``frame(i) -> (H, W, C) float32`` source frame ``i`` (read once, then cached).
    n_sources : int
        Number of frames in the stack (strokes of other sources are ignored).

    Attributes
    ----------
    keep : ndarray, (H, W) float32
        Weight of the automatic result.
    cover : dict of int to ndarray (H, W) float32
        Weight of each painted source.
    """

    auto: np.ndarray
    frame: FrameFn
    n_sources: int
    keep: np.ndarray = field(init=False)
    cover: dict[int, np.ndarray] = field(init=False, default_factory=dict)
    _frames: dict[int, np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.keep = np.ones(self.shape, np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.auto.shape[0]), int(self.auto.shape[1])

    def source_frame(self, i: int) -> np.ndarray:
        """Source frame ``i`` as ``(H, W, C)`` float32 (cached)."""
        if i not in self._frames:
            f = np.asarray(self.frame(i), dtype=np.float32)
            if f.ndim == 2:
                f = f[:, :, None]
            self._frames[i] = f
        return self._frames[i]

    def valid(self, stroke: Stroke) -> bool:
        """Whether the stroke paints a frame of this stack (or erases)."""
        return stroke.erase or 0 <= stroke.source < self.n_sources

    def blend(self, source: int, alpha: np.ndarray, box: Box | None) -> None:
        """Composite ``alpha`` ``(H, W)`` of ``source`` (or :data:`ERASE`) inside ``box``."""
        if box is None:
            return
        y0, y1, x0, x1 = box
        a = alpha[y0:y1, x0:x1]
        inv = np.float32(1.0) - a
        for c in self.cover.values():
            c[y0:y1, x0:x1] *= inv
        k = self.keep[y0:y1, x0:x1]
        if source == ERASE:
            k *= inv
            k += a
            return
        k *= inv
        if source not in self.cover:
            self.cover[source] = np.zeros(self.shape, np.float32)
        self.cover[source][y0:y1, x0:x1] += a

    def apply(self, stroke: Stroke) -> Box | None:
        """Composite one stroke; returns the box it changed (``None``: nothing)."""
        if not self.valid(stroke):
            return None
        alpha, box = stroke_alpha(stroke, self.shape)
        self.blend(stroke.source, alpha, box)
        return box

    def compose(
        self,
        box: Box | None = None,
        keep: np.ndarray | None = None,
        cover: dict[int, np.ndarray] | None = None,
    ) -> np.ndarray:
        """The retouched image, ``(H, W, C)`` float32 (or the ``box`` part of it).

        ``keep`` and ``cover`` default to the canvas's own (other values preview a stroke
        being painted).
        """
        keep = self.keep if keep is None else keep
        cover = self.cover if cover is None else cover
        y0, y1, x0, x1 = box if box is not None else (0, self.shape[0], 0, self.shape[1])
        sl = np.s_[y0:y1, x0:x1]
        if not cover:
            return self.auto[sl].copy()
        out = self.auto[sl] * keep[sl][:, :, None]
        for i, c in cover.items():
            out += self.source_frame(i)[sl] * c[sl][:, :, None]
        return out.astype(np.float32, copy=False)

    def index_map(self, auto_index: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint16: the source with the largest weight (the automatic choice where
        ``keep`` is at least as large as every cover)."""
        out = np.asarray(auto_index).astype(np.uint16, copy=True)
        if not self.cover:
            return out
        best = self.keep.copy()
        for i, c in self.cover.items():
            won = c > best
            out[won] = i
            best = np.where(won, c, best)
        return out

    def weights_fn(self, auto_weights: Any) -> Callable[[int], np.ndarray]:
        """``fn(i) -> (H, W) float32``: the retouched weight of source ``i``,
        ``keep * w_i + cover_i`` (snapshots the current state)."""
        keep = self.keep.copy()
        cover = {i: c.copy() for i, c in self.cover.items()}

        def fn(i: int) -> np.ndarray:
            w = np.asarray(auto_weights[i], dtype=np.float32) * keep
            if i in cover:
                w += cover[i]
            return w

        return fn


class StrokeHistory:
    """The list of strokes with undo and redo.

    Attributes
    ----------
    strokes : list of Stroke
        Applied strokes, oldest first.
    redo_stack : list of Stroke
        Undone strokes, the most recently undone last.
    """

    def __init__(self, strokes: Sequence[Stroke] = ()) -> None:
        self.strokes: list[Stroke] = list(strokes)
        self.redo_stack: list[Stroke] = []

    def push(self, stroke: Stroke) -> None:
        """Add a stroke (clears the redo stack)."""
        self.strokes.append(stroke)
        self.redo_stack.clear()

    def undo(self) -> Stroke | None:
        """Remove the last stroke (``None`` when there is none)."""
        if not self.strokes:
            return None
        s = self.strokes.pop()
        self.redo_stack.append(s)
        return s

    def redo(self) -> Stroke | None:
        """Re-apply the last undone stroke (``None`` when there is none)."""
        if not self.redo_stack:
            return None
        s = self.redo_stack.pop()
        self.strokes.append(s)
        return s

    def clear(self) -> None:
        """Forget every stroke (not undoable)."""
        self.strokes.clear()
        self.redo_stack.clear()

    @property
    def can_undo(self) -> bool:
        """Whether there is a stroke to undo."""
        return bool(self.strokes)

    @property
    def can_redo(self) -> bool:
        """Whether there is a stroke to redo."""
        return bool(self.redo_stack)


def remap_strokes(
    strokes: Sequence[Stroke], old_frames: Sequence[Any], new_frames: Sequence[Any]
) -> tuple[list[Stroke], int]:
    """Re-index strokes painted on a stack with frames ``old_frames`` for ``new_frames``.

    Frames are matched by identity (e.g. ``(path, page)``); strokes of a frame no longer in the
    stack are dropped.

    Returns
    -------
    strokes : list of Stroke
    dropped : int
        How many strokes were dropped.
    """
    where = {f: i for i, f in enumerate(new_frames)}
    out: list[Stroke] = []
    dropped = 0
    for s in strokes:
        if s.erase:
            out.append(s)
            continue
        key = old_frames[s.source] if 0 <= s.source < len(old_frames) else None
        if key is None or key not in where:
            dropped += 1
            continue
        out.append(Stroke(where[key], s.points, s.radius, s.hardness, s.opacity))
    return out, dropped


class Retoucher:
    """Strokes, their undo history and their composite over the current automatic result.

    Used by the GUI: :meth:`set_base` with each new automatic result (strokes are re-applied),
    :meth:`begin` / :meth:`extend` / :meth:`finish` while painting (:meth:`preview` shows the
    stroke in progress), :meth:`undo` / :meth:`redo`.

    Attributes
    ----------
    history : StrokeHistory
    frames : tuple
        Identities of the stack's frames (e.g. ``(path, page)``) the stroke sources index.
    canvas : RetouchCanvas or None
        ``None`` until :meth:`set_base`.
    """

    def __init__(self) -> None:
        self.history = StrokeHistory()
        self.frames: tuple[Any, ...] = ()
        self.canvas: RetouchCanvas | None = None
        self._live: Stroke | None = None
        self._live_alpha: np.ndarray | None = None
        self._live_box: Box | None = None

    @property
    def strokes(self) -> list[Stroke]:
        """Applied strokes, oldest first."""
        return self.history.strokes

    @property
    def painting(self) -> bool:
        """Whether a stroke is being painted."""
        return self._live is not None

    def set_base(self, auto: np.ndarray, frame: FrameFn, frames: Sequence[Any]) -> int:
        """Use a new automatic result ``(H, W, C)`` float32 of a stack with ``frames``.

        Strokes are re-indexed by frame identity and re-applied; all are dropped when the
        image size changed (their coordinates no longer fit).

        Returns
        -------
        int
            How many strokes were dropped.
        """
        frames = tuple(frames)
        old_shape = self.canvas.shape if self.canvas is not None else None
        dropped = 0
        if self.history.strokes or self.history.redo_stack:
            if old_shape is not None and old_shape != tuple(auto.shape[:2]):
                dropped = len(self.history.strokes)
                self.history.clear()
            elif self.frames and self.frames != frames:
                kept, dropped = remap_strokes(self.history.strokes, self.frames, frames)
                redo, _ = remap_strokes(self.history.redo_stack, self.frames, frames)
                self.history.strokes, self.history.redo_stack = kept, redo
        self.frames = frames
        self.canvas = RetouchCanvas(np.asarray(auto, dtype=np.float32), frame, len(frames))
        self.cancel_stroke()
        self.rebuild()
        return dropped

    def set_strokes(self, strokes: Sequence[Stroke], frames: Sequence[Any] = ()) -> None:
        """Replace the strokes (e.g. from a project file), painted on a stack with ``frames``
        (re-indexed to the current frames when both are known)."""
        strokes = list(strokes)
        if frames and self.frames and tuple(frames) != self.frames:
            strokes, _ = remap_strokes(strokes, tuple(frames), self.frames)
        elif frames and not self.frames:
            self.frames = tuple(frames)
        self.history = StrokeHistory(strokes)
        self.rebuild()

    def rebuild(self) -> None:
        """Recomposite every stroke from the automatic result (exact, deterministic)."""
        if self.canvas is None:
            return
        c = self.canvas
        c.keep = np.ones(c.shape, np.float32)
        c.cover = {}
        for s in self.history.strokes:
            c.apply(s)

    # ------------------------------------------------------------------ painting
    def begin(
        self,
        source: int,
        point: tuple[float, float],
        radius: float,
        hardness: float = 1.0,
        opacity: float = 1.0,
    ) -> Box | None:
        """Start a stroke at ``point`` ``(x, y)``; returns the box to redraw."""
        if self.canvas is None:
            return None
        self._live = Stroke(
            source,
            ((float(point[0]), float(point[1])),),
            float(radius),
            float(hardness),
            float(opacity),
        )
        if not self.canvas.valid(self._live):
            self._live = None
            return None
        self._live_alpha, self._live_box = stroke_alpha(self._live, self.canvas.shape)
        return self._live_box

    def extend(self, point: tuple[float, float]) -> Box | None:
        """Add ``point`` to the stroke being painted; returns the box to redraw."""
        if self._live is None or self.canvas is None:
            return None
        s = self._live
        pt = (float(point[0]), float(point[1]))
        if pt == s.points[-1]:
            return None
        self._live = Stroke(s.source, (*s.points, pt), s.radius, s.hardness, s.opacity)
        _, box = stroke_alpha(
            self._live, self.canvas.shape, out=self._live_alpha, start=len(self._live.points) - 2
        )
        self._live_box = union_box(self._live_box, box)
        return box

    def preview(self, box: Box) -> np.ndarray:
        """The retouched image inside ``box`` with the stroke in progress, ``(h, w, C)``."""
        c = self.canvas
        assert c is not None
        if self._live is None or self._live_alpha is None:
            return c.compose(box)
        y0, y1, x0, x1 = box
        sl = np.s_[y0:y1, x0:x1]
        a = self._live_alpha[sl]
        inv = np.float32(1.0) - a
        keep = c.keep[sl] * inv
        cover = {i: v[sl] * inv for i, v in c.cover.items()}
        if self._live.erase:
            keep += a
        else:
            cover[self._live.source] = cover.get(self._live.source, np.zeros_like(a)) + a
        h, w = y1 - y0, x1 - x0
        local = (0, h, 0, w)
        sub = RetouchCanvas(c.auto[sl], lambda i: c.source_frame(i)[sl], c.n_sources)
        return sub.compose(local, keep, cover)

    def finish(self) -> Stroke | None:
        """End the stroke being painted and add it to the history (undoable)."""
        s, alpha, box = self._live, self._live_alpha, self._live_box
        self.cancel_stroke()
        if s is None or self.canvas is None or alpha is None:
            return None
        self.canvas.blend(s.source, alpha, box)
        self.history.push(s)
        return s

    def cancel_stroke(self) -> None:
        """Drop the stroke being painted."""
        self._live = None
        self._live_alpha = None
        self._live_box = None

    # ------------------------------------------------------------------ history
    def undo(self) -> bool:
        """Undo the last stroke; whether there was one."""
        if self.history.undo() is None:
            return False
        self.rebuild()
        return True

    def redo(self) -> bool:
        """Redo the last undone stroke; whether there was one."""
        s = self.history.redo()
        if s is None:
            return False
        if self.canvas is not None:
            self.canvas.apply(s)
        return True

    def clear(self) -> None:
        """Remove every stroke (back to the automatic result)."""
        self.history.clear()
        self.rebuild()
