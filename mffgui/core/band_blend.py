"""Laplacian-pyramid blending of a streamed stack with sparse per-frame weights.

The multiresolution spline of P. J. Burt, E. H. Adelson ("A multiresolution spline with
application to image mosaics", ACM TOG 2(4), 1983) weights band ``l`` of frame ``i`` by the
Gaussian pyramid of frame ``i``'s weight map. In a deep stack a pixel has a non-zero weight in
only a few frames, so the finest band (three quarters of the work) is accumulated only at the
pixels where a frame's weight is non-zero: frames are streamed once, and per frame the cost of
the finest band is one ``pyrDown``/``pyrUp`` plus a gather of its own pixels into their entries'
slots; one weighted ``bincount`` per channel sums the entries per pixel at the end.

Within an optional *zone* (occlusion boundaries) every detail band instead takes a soft maximum
of the band activity over the two most active frames (Burt & Kolczynski, "Enhanced image
capture through fusion", ICCV 1993), tracked while the focus pass streams the frames
(:class:`TopTwo`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

FrameReader = Callable[[Iterable[int]], Iterator[tuple[int, np.ndarray]]]
"""``frames(indices)`` yields ``(i, frame)`` with frames ``(H, W, C)`` float32."""


class TopTwo:
    """Streaming largest and second-largest score per pixel and the frames that gave them.

    Each score is packed with its frame into one int32: a non-negative float32's bits order
    like the float, so its lowest ``ceil(log2(n))`` mantissa bits are replaced by
    ``mask - i`` and a running maximum and "maximum of the minima" track both ranks with three
    elementwise operations per frame and no masked copies. Scores are therefore kept to a
    relative precision of ``2**(bits - 23)`` (``2**-16`` for 65 frames); scores equal at that
    precision keep the earlier frame.

    Parameters
    ----------
    shape : (int, int)
        ``(h, w)`` of the score maps.
    n : int
        Number of frames (indices ``0 .. n - 1``).
    """

    _BLOCK = 1 << 17
    """Pixels updated at a time: a block's five arrays stay in the cache between the five
    operations (1514x1135 px: 2.5 ms per update, 4.6 ms with whole-map operations)."""

    def __init__(self, shape: tuple[int, int], n: int) -> None:
        bits = max(1, (n - 1).bit_length())
        if bits > 16:
            raise ValueError(f"TopTwo tracks at most 65536 frames, got {n}")
        self.n = n
        self._mask = np.int32((1 << bits) - 1)
        self._best = np.full(shape, -1, np.int32)
        self._second = np.full(shape, -1, np.int32)
        block = min(self._BLOCK, shape[0] * shape[1])
        self._packed = np.empty(block, np.int32)
        self._low = np.empty(block, np.int32)
        self._unpacked: dict[str, np.ndarray] = {}

    def update(self, i: int, score: np.ndarray) -> None:
        """Fold in frame ``i``'s non-negative ``(h, w)`` float32 ``score``."""
        self._unpacked.clear()
        bits = np.ascontiguousarray(score, np.float32).view(np.int32).reshape(-1)
        best, second = self._best.reshape(-1), self._second.reshape(-1)
        clear, code = ~self._mask, self._mask - np.int32(i)
        for start in range(0, bits.size, self._BLOCK):
            s = slice(start, start + self._BLOCK)
            p = self._packed[: len(bits[s])]
            low = self._low[: len(p)]
            np.bitwise_and(bits[s], clear, out=p)
            np.bitwise_or(p, code, out=p)
            np.minimum(best[s], p, out=low)
            np.maximum(best[s], p, out=best[s])
            np.maximum(second[s], low, out=second[s])

    def _cached(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._unpacked:
            self._unpacked[key] = make()
        return self._unpacked[key]

    def _score(self, packed: np.ndarray) -> np.ndarray:
        # -1 (nothing seen) unpacks to a NaN pattern; report it as score -1 like "no frame".
        out = np.bitwise_and(packed, ~self._mask).view(np.float32)
        return np.where(packed < 0, np.float32(-1.0), out)

    def _index(self, packed: np.ndarray) -> np.ndarray:
        index = self._mask - np.bitwise_and(packed, self._mask)
        return np.where(packed < 0, 0, index).astype(np.uint16)

    @property
    def best(self) -> np.ndarray:
        """``(h, w)`` float32: the largest score (-1 before any frame)."""
        return self._cached("best", lambda: self._score(self._best))

    @property
    def second(self) -> np.ndarray:
        """``(h, w)`` float32: the second-largest score (-1 while fewer than two frames)."""
        return self._cached("second", lambda: self._score(self._second))

    @property
    def best_index(self) -> np.ndarray:
        """``(h, w)`` uint16: the frame of :attr:`best`."""
        return self._cached("best_index", lambda: self._index(self._best))

    @property
    def second_index(self) -> np.ndarray:
        """``(h, w)`` uint16: the frame of :attr:`second`."""
        return self._cached("second_index", lambda: self._index(self._second))

    def soft_weights(self, tau: float) -> tuple[np.ndarray, np.ndarray]:
        """Soft-max weights ``exp(a / tau)`` of the two frames, normalised to sum to 1;
        ``(w_best, w_second)``, each ``(h, w)`` float32."""
        e = np.exp((self.second - self.best) * np.float32(1.0 / tau))
        w1 = np.float32(1.0) / (np.float32(1.0) + e)
        return w1, np.float32(1.0) - w1


@dataclass
class _Group:
    """Entries sorted by frame: frame ``i``'s are ``[bounds[i], bounds[i + 1])``."""

    pixel: np.ndarray  # (M,) intp, flat pixel index
    frame: np.ndarray  # (M,) uint16
    weight: np.ndarray  # (M,) float32
    bounds: np.ndarray  # (n + 1,) int64
    unique: bool = True  # each pixel has at most one entry (else at most one per frame)

    @classmethod
    def sorted_by_frame(
        cls,
        n: int,
        pixel: np.ndarray,
        frame: np.ndarray,
        w: np.ndarray,
        presorted: bool = False,
        unique: bool = True,
    ) -> _Group:
        frame = frame.astype(np.uint16, copy=False)
        if not presorted:
            order = np.argsort(frame, kind="stable")  # radix sort on uint16
            pixel, frame, w = pixel[order], frame[order], w[order]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(frame, minlength=n))])
        w = w.astype(np.float32, copy=False)
        return cls(pixel, frame, w, bounds.astype(np.int64), unique)

    def add_to(self, out: np.ndarray, values: np.ndarray) -> None:
        """``out[pixel] += values`` per entry, entries of one pixel summed: ``out`` (H*W, C),
        ``values`` (M, C), float32."""
        if 4 * len(self.pixel) < len(out):
            # A scattered add costs ~130 ns per entry (np.add.at, for repeated pixels, more); a
            # bincount per channel ~8 ns per pixel of the image plus ~25 per entry (1514x1135
            # px, 1.5 M entries: 200 vs 125 ms).
            if self.unique:
                out[self.pixel] += values
            else:
                np.add.at(out, self.pixel, values)
            return
        for c in range(out.shape[1]):
            out[:, c] += np.bincount(self.pixel, weights=values[:, c], minlength=len(out))

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``i``'s ``(pixels, weights)`` (views, possibly empty)."""
        s = slice(self.bounds[i], self.bounds[i + 1])
        return self.pixel[s], self.weight[s]

    def frames(self) -> list[int]:
        """Frames with any entry."""
        return np.flatnonzero(np.diff(self.bounds) > 0).tolist()

    def where(self, keep: np.ndarray) -> _Group:
        """The entries whose pixel is in ``keep`` ((H*W,) bool); order stays sorted."""
        k = keep[self.pixel]
        return _Group.sorted_by_frame(
            len(self.bounds) - 1,
            self.pixel[k],
            self.frame[k],
            self.weight[k],
            presorted=True,
            unique=self.unique,
        )


@dataclass
class SparseWeights:
    """Per-frame weights at the pixels where they are non-zero, grouped by frame.

    Held as a few groups of entries (a pixel appears at most once per frame and group, and in
    most groups at most once), each sorted by frame and, within a frame, by pixel.

    Attributes
    ----------
    shape : (int, int)
        ``(H, W)``.
    n : int
        Number of frames.
    groups : list of _Group
    """

    shape: tuple[int, int]
    n: int
    groups: list[_Group]

    def of(self, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Frame ``i``'s ``(pixels, weights)``, one pair per group that has any."""
        return [pw for pw in (g.of(i) for g in self.groups) if len(pw[0])]

    def used(self) -> set[int]:
        """Frames with any non-zero weight."""
        out: set[int] = set()
        for g in self.groups:
            out.update(g.frames())
        return out

    def where(self, keep: np.ndarray) -> SparseWeights:
        """Only the entries at pixels where ``keep`` ((H, W) bool) is true."""
        flat = keep.ravel()
        return SparseWeights(self.shape, self.n, [g.where(flat) for g in self.groups])

    def dense_all(self) -> np.ndarray:
        """All frames' weight maps, ``(n, H, W)`` float32."""
        out = np.zeros((self.n, self.shape[0] * self.shape[1]), np.float32)
        for g in self.groups:
            out[g.frame, g.pixel] += g.weight
        return out.reshape(self.n, *self.shape)

    def dense(self, i: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """Frame ``i``'s ``(H, W)`` float32 weight map (written into ``out``, a contiguous
        ``(H, W)`` float32 array, if given), None where it is zero everywhere."""
        parts = self.of(i)
        if not parts:
            return None
        if out is None:
            flat = np.zeros(self.shape[0] * self.shape[1], np.float32)
        else:
            flat = out.reshape(-1)
            flat.fill(0.0)
        for pix, w in parts:
            flat[pix] += w
        return flat.reshape(self.shape)


def depth_weights_sparse(
    depth: np.ndarray, trust: np.ndarray, spread: float, n: int
) -> SparseWeights:
    """Weights of the frames around a fractional depth, trusted or averaged.

    Pixel ``p`` with depth ``d`` and trust ``t`` gives frame ``j`` the weight
    ``t * max(0, 1 - |d - j|) + (1 - t) * g_j``, where ``g_j`` is a Gaussian of ``d - j`` with
    sigma ``spread`` frames, cut at ``3 * spread`` frames and normalised over the frames it
    reaches; the weights of a pixel sum to 1.

    Parameters
    ----------
    depth : ndarray, (H, W) float32
        Fractional frame index in ``[0, n - 1]``.
    trust : ndarray, (H, W) float32 in ``[0, 1]``
    spread : float
    n : int

    Returns
    -------
    SparseWeights
    """
    d = depth.ravel()
    t = trust.ravel()
    sure = np.flatnonzero(t >= 1.0)
    ds = d[sure]
    lo = np.floor(ds).astype(np.uint16)
    order = np.argsort(lo, kind="stable")
    sure, ds, lo = sure[order], ds[order], lo[order]
    frac = ds - lo
    mixed = frac > 0
    groups = [
        _Group.sorted_by_frame(n, sure, lo, np.float32(1.0) - frac, presorted=True),
        _Group.sorted_by_frame(n, sure[mixed], lo[mixed] + 1, frac[mixed], presorted=True),
    ]
    unsure = np.flatnonzero(t < 1.0)
    if unsure.size:
        du, tu = d[unsure], t[unsure]
        reach = max(1, int(np.ceil(3.0 * spread)))
        js = np.rint(du)[None, :] + np.arange(-reach, reach + 1, dtype=np.float32)[:, None]
        valid = (js >= 0) & (js <= n - 1) & (np.abs(du - js) <= max(3.0 * spread, 1.0))
        g = np.where(valid, np.exp(np.float32(-0.5 / spread**2) * (du - js) ** 2), 0.0)
        g /= g.sum(axis=0)
        hard = np.maximum(np.float32(1.0) - np.abs(du - js), np.float32(0.0))
        wu = tu * hard + (np.float32(1.0) - tu) * g
        keep = valid & (wu > 0)
        # Column-major order keeps each frame's pixels ascending after the stable sort.
        groups.append(
            _Group.sorted_by_frame(
                n,
                np.broadcast_to(unsure, js.shape).T[keep.T],
                js.T[keep.T].astype(np.uint16),
                wu.T[keep.T],
                unique=False,
            )
        )
    return SparseWeights(depth.shape, n, groups)


@dataclass
class SelectionZone:
    """Where the detail bands take the soft maximum of the band activity.

    Attributes
    ----------
    feather : list of ndarray
        Per detail level ``l`` the ``(h_l, w_l)`` float32 share in ``[0, 1]`` of the selection.
    top : list of TopTwo
        Per detail level the two most active frames (band activity of the whole stack).
    shares : list of tuple of ndarray
        Per detail level ``(1 - feather, feather * w_best, feather * w_second)`` with the
        soft-max weights of :meth:`TopTwo.soft_weights`; each ``(h_l, w_l)`` float32.
    picks : list of tuple of _Group
        Per detail level the pixels inside the zone (``feather > 0``) with their most and
        second most active frame and that frame's share (``shares[l][1]``, ``shares[l][2]``),
        grouped by frame.
    """

    feather: list[np.ndarray]
    top: list[TopTwo]
    shares: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    picks: list[tuple[_Group, _Group]]

    @classmethod
    def build(
        cls, feather: list[np.ndarray], top: list[TopTwo], taus: list[float]
    ) -> SelectionZone:
        """The zone from its per-level ``feather``, the trackers and the soft-max temperatures."""
        shares = []
        picks = []
        for f, t, tau in zip(feather, top, taus, strict=True):
            w1, w2 = t.soft_weights(tau)
            share = (np.float32(1.0) - f, f * w1, f * w2)
            z = np.flatnonzero(f > 0)
            best, second = (
                _Group.sorted_by_frame(t.n, z, index.ravel()[z], w.ravel()[z])
                for index, w in zip((t.best_index, t.second_index), share[1:], strict=True)
            )
            shares.append(share)
            picks.append((best, second))
        return cls(feather, top, shares, picks)

    def frames(self) -> set[int]:
        """Frames that the selection uses anywhere."""
        out: set[int] = set()
        for pair in self.picks:
            for g in pair:
                out.update(g.frames())
        return out

    def coefficient(
        self, lev: int, i: int, depth_share: np.ndarray | None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Frame ``i``'s weight in detail band ``lev``: ``(1 - feather) * depth_share`` plus its
        selection share; ``(h_l, w_l)`` float32 (written into ``out`` if given)."""
        keep = self.shares[lev][0]
        if depth_share is not None:
            coef = cv2.multiply(keep, depth_share, dst=out)
        elif out is not None:
            coef = out
            coef.fill(0.0)
        else:
            coef = np.zeros_like(keep)
        flat = coef.reshape(-1)
        for g in self.picks[lev]:
            pix, w = g.of(i)
            flat[pix] += w
        return coef


def finest_weights(depth_w: SparseWeights, zone: SelectionZone | None) -> SparseWeights:
    """Each frame's weight in the finest band: the depth weights outside the zone, the
    selection's inside it (level 0 of the zone's feather is 0 or 1)."""
    if zone is None:
        return depth_w
    out = depth_w.where(zone.feather[0] <= 0)
    out.groups.extend(zone.picks[0])
    # A pixel has at most one entry per frame and group (the depth weights are dropped inside
    # the zone; its two frames differ), which is all that blend_bands' per-entry slots need.
    return out


class Scratch:
    """Arrays reused from frame to frame, one per key.

    Fresh full-size temporaries for every frame are paid for in page faults (system time,
    most of all in a second thread, whose allocator arena gives freed memory back at once).
    """

    def __init__(self) -> None:
        self._arrays: dict[object, np.ndarray] = {}

    def get(self, key: object, shape: tuple[int, ...]) -> np.ndarray:
        """The float32 array of ``key`` with ``shape`` (uninitialised when new)."""
        a = self._arrays.get(key)
        if a is None or a.shape != shape:
            a = self._arrays[key] = np.empty(shape, np.float32)
        return a

    def down(self, key: object, img: np.ndarray) -> np.ndarray:
        """The array of ``key`` shaped like ``cv2.pyrDown(img)``."""
        h, w = img.shape[:2]
        return self.get(key, ((h + 1) // 2, (w + 1) // 2, *img.shape[2:]))


def pyr_down(img: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``cv2.pyrDown`` of ``img`` ((h, w) or (h, w, C) float32), into ``out`` if given
    (:meth:`Scratch.down`'s shape); a 1-channel 3-D input stays 3-D."""
    res = cv2.pyrDown(img, dst=out)
    return res.reshape(*res.shape[:2], *img.shape[2:])


def pyr_up(img: np.ndarray, like: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``cv2.pyrUp`` of ``img`` to ``like``'s shape, into ``out`` (that shape) if given."""
    res = cv2.pyrUp(img, dst=out, dstsize=(like.shape[1], like.shape[0]))
    return res.reshape(like.shape)


def _weigh(src: np.ndarray, w: np.ndarray, out: np.ndarray, scratch: Scratch) -> np.ndarray:
    """``out = src * w`` per channel: ``src`` and ``out`` (h, w) or (h, w, C), ``w`` (h, w),
    all float32; the weight is merged into C channels first (a broadcast multiply is ~2x
    slower)."""
    if src.ndim == 3:
        merged = scratch.get(("merged", src.shape), src.shape)
        w = cv2.merge([w] * src.shape[2], dst=merged).reshape(src.shape)
    return np.multiply(src, w, out=out)


def blend_bands(
    depth_w: SparseWeights,
    finest: SparseWeights,
    zone: SelectionZone | None,
    levels: int,
    top: np.ndarray,
    channels: int,
    frames: FrameReader,
    step: Callable[[], None],
    copy_tol: float = 0.5 / 255.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Blend the stack in a Laplacian pyramid of ``levels`` detail bands.

    Band ``l >= 1`` of frame ``i`` is weighted by ``(1 - feather_l) * G_l(w_i) + feather_l *
    s_i``, with ``G_l(w_i)`` the Gaussian pyramid of the frame's depth weight and ``s_i`` its
    soft-max share of the band activity (0 unless one of the two most active frames); the
    finest band by ``finest`` (the same rule at full resolution, sparse); the low-pass base by
    ``G_levels(w_i)``. Where the result is within ``copy_tol`` of frame ``top``'s pixel (in
    every channel), that pixel is copied exactly.

    Parameters
    ----------
    depth_w, finest : SparseWeights
        :func:`depth_weights_sparse` and :func:`finest_weights`.
    zone : SelectionZone or None
    levels : int
        Detail levels; 0 blends per pixel with ``finest`` (no exact copies).
    top : ndarray, (H, W) int
        The frame of largest weight per pixel (it must have a non-zero depth weight there).
    channels : int
    frames : callable
        Frame reader; each frame used is read once, in increasing order.
    step : callable
        Called once per frame of the stack (progress and cancel).
    copy_tol : float
        Largest difference from frame ``top``'s pixel that is copied exactly: half a step of
        the sources' bit depth (default 8-bit).

    Returns
    -------
    fused : ndarray, (H, W, channels) float32
    copied : ndarray, (H, W) int16
        Frame copied exactly, -1 where none was.
    frames_used : int
    """
    n = depth_w.n
    shape = depth_w.shape
    hw = shape[0] * shape[1]
    used = depth_w.used() | finest.used()
    if zone is not None:
        used |= zone.frames()
    order = sorted(used)
    top_flat = top.ravel().astype(np.int64)
    top_order = np.argsort(top_flat.astype(np.uint16), kind="stable")
    top_bounds = np.concatenate([[0], np.cumsum(np.bincount(top_flat, minlength=n))])
    # Frame ``top``'s pixels, in ``top_order`` (contiguous per frame; one permutation at the end).
    exact_sorted = np.zeros((hw, channels), np.float32)
    # The finest band's coefficients at each entry of ``finest``, written per frame into the
    # entry's own slot (contiguous slices: entries are grouped by frame) and reduced per pixel
    # once at the end: a scatter per frame into the image was most of the pass's time.
    fine_vals = [np.empty((len(g.pixel), channels), np.float32) for g in finest.groups]
    coarse: list[np.ndarray] = []
    mine, theirs = Scratch(), Scratch()  # this thread's and the second thread's buffers
    longest = max((int(np.diff(g.bounds).max(initial=0)) for g in finest.groups), default=0)
    gathered = np.empty((longest, channels), np.float32)

    def add_coarse(i: int, g: list[np.ndarray]) -> None:
        flat = g[0].reshape(hw, channels)
        s = slice(top_bounds[i], top_bounds[i + 1])
        np.take(flat, top_order[s], axis=0, out=exact_sorted[s])
        if not levels:
            return
        for lev in range(len(g), levels + 1):
            g.append(pyr_down(g[-1], theirs.down(("g", lev), g[-1])))
        gw = depth_w.dense(i, theirs.get("w", shape))
        for lev in range(1, levels + 1):
            gw = pyr_down(gw, theirs.down(("w", lev), gw)) if gw is not None else None
            coef = gw
            if lev < levels and zone is not None:
                coef = zone.coefficient(lev, i, gw, theirs.get(("c", lev), g[lev].shape[:2]))
            if coef is None:
                continue
            band = theirs.get(("band", lev), g[lev].shape)
            if lev < levels:
                np.subtract(g[lev], pyr_up(g[lev + 1], g[lev], band), out=band)
                src = band
            else:
                src = g[lev]
            coarse[lev - 1] += _weigh(src, coef, band, theirs)

    # The exact copy and the coarse bands of a frame are done in a second thread while this
    # one does its finest band (cv2 and numpy release the GIL); the two touch different
    # accumulators and each frame waits for the previous one, so the sums do not depend on
    # the timing.
    side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mffgui-coarse")
    pending: Future[None] | None = None
    done = 0
    try:
        for k, (i, img) in enumerate(frames(order)):
            img = img if channels > 1 else img[:, :, 0]
            # Level 1 alternates between two buffers: the second thread may still read the
            # previous frame's.
            g = [img, pyr_down(img, mine.down(("g1", k % 2), img))] if levels else [img]
            if pending is not None:
                pending.result()
            if not coarse:
                size = g[-1]
                for _ in range(levels):
                    coarse.append(np.zeros_like(size))
                    size = pyr_down(size)
            pending = side.submit(add_coarse, i, g)
            flat = img.reshape(hw, channels)
            up = (
                pyr_up(g[1], img, mine.get("up", img.shape)).reshape(hw, channels)
                if levels
                else None
            )
            for grp, vals in zip(finest.groups, fine_vals, strict=True):
                s = slice(grp.bounds[i], grp.bounds[i + 1])
                if s.stop > s.start:
                    pix = grp.pixel[s]
                    np.take(flat, pix, axis=0, out=vals[s])
                    if up is not None:
                        vals[s] -= np.take(up, pix, axis=0, out=gathered[: len(pix)])
            for _ in range(done, i + 1):
                step()
            done = i + 1
        if pending is not None:
            pending.result()
    finally:
        side.shutdown(cancel_futures=True)
    for _ in range(done, n):
        step()
    full = (*shape, channels) if channels > 1 else shape
    if levels:
        fused = coarse[-1]
        for lev in range(levels - 1, 0, -1):
            fused = pyr_up(fused, coarse[lev - 1]) + coarse[lev - 1]
        # The finest band's buffer is free once the last frame is done.
        free = mine.get("up", full)
        out = pyr_up(fused, free, free)
    else:
        out = np.zeros(full, np.float32)
    out_flat = out.reshape(hw, channels)
    for grp, vals in zip(finest.groups, fine_vals, strict=True):
        vals *= grp.weight[:, None]
        grp.add_to(out_flat, vals)
    out = out_flat.reshape(*shape, channels)
    if not levels:
        return out, np.full(shape, -1, np.int16), len(order)
    exact = np.empty_like(exact_sorted)
    exact[top_order] = exact_sorted
    diff = cv2.absdiff(out_flat, exact, dst=exact_sorted).reshape(hw, channels)
    close = np.maximum.reduce([diff[:, c] for c in range(channels)]) <= np.float32(copy_tol)
    np.copyto(out_flat, exact, where=close[:, None])
    close = close.reshape(shape)
    return out, np.where(close, top, -1).astype(np.int16), len(order)


__all__ = [
    "Scratch",
    "SelectionZone",
    "SparseWeights",
    "TopTwo",
    "blend_bands",
    "depth_weights_sparse",
    "finest_weights",
    "pyr_down",
    "pyr_up",
]
