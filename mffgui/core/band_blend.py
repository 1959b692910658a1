"""Occlusion-aware band selection and sparse per-pixel blending of a streamed stack.

Two halves of ``halofree``'s fusion:

* :class:`BandSelector` streams the frames once (during the focus pass) and keeps, for every
  detail band of a Laplacian pyramid (P. J. Burt, E. H. Adelson, "The Laplacian pyramid as a
  compact image code", IEEE Trans. Commun. 31(4), 1983), the two frames of largest band
  activity (the 3x3 mean of the absolute luma coefficient, P. J. Burt, R. J. Kolczynski,
  "Enhanced image capture through fusion", ICCV 1993) together with their colour coefficients,
  so no frame has to be read again for the selection.
* :class:`SparseWeights` holds per-frame weights only where they are non-zero (a pixel of a deep
  stack draws on a few frames), and :func:`blend_pixels` blends the stack with them in a
  second pass of gathers and scatters.

:func:`splice_bands` then puts the selected detail bands into the blended image within a
feathered zone (the multiresolution spline of Burt & Adelson, ACM TOG 2(4), 1983): outside it
the blend is left bit for bit as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from mffgui.core.filters import box_mean
from mffgui.core.focus import luma

FrameReader = Callable[[Iterable[int]], Iterator[tuple[int, np.ndarray]]]
"""``frames(indices)`` yields ``(i, frame)`` with frames ``(H, W, C)`` float32."""


class BandSelector:
    """Streaming two most active frames per pixel of each luma detail band, with their
    coefficients (cv2's masked copies: numpy's branch per pixel and are ~10x slower).

    Parameters
    ----------
    levels : int
        Number of detail bands (>= 1).
    """

    def __init__(self, levels: int) -> None:
        self.levels = levels
        self.best: list[np.ndarray] = []  # per level (h, w) float32 activity
        self.second: list[np.ndarray] = []
        self.best_band: list[np.ndarray] = []  # per level (h, w[, C]) float32 coefficients
        self.second_band: list[np.ndarray] = []

    def update(self, gray: np.ndarray) -> None:
        """Fold in one frame's ``(H, W)`` float32 luma."""
        g = [gray]
        for _ in range(self.levels):
            g.append(cv2.pyrDown(g[-1]))
        for lev in range(self.levels):
            band = cv2.pyrUp(g[lev + 1], dstsize=(g[lev].shape[1], g[lev].shape[0]))
            np.subtract(g[lev], band, out=band)
            act = box_mean(np.abs(band), 1)
            if len(self.best) <= lev:
                self.best.append(act)
                self.second.append(np.full(act.shape, -1.0, np.float32))
                self.best_band.append(band)
                self.second_band.append(np.zeros_like(band))
                continue
            first = cv2.compare(act, self.best[lev], cv2.CMP_GT)
            runner = cv2.compare(act, self.second[lev], cv2.CMP_GT)
            self.second_band[lev] = cv2.copyTo(band, runner, self.second_band[lev])
            self.second_band[lev] = cv2.copyTo(self.best_band[lev], first, self.second_band[lev])
            self.best_band[lev] = cv2.copyTo(band, first, self.best_band[lev])
            self.second[lev] = cv2.max(self.second[lev], cv2.min(self.best[lev], act))
            self.best[lev] = cv2.max(self.best[lev], act)

    def selected(self, lev: int, tau: float) -> np.ndarray:
        """Band ``lev`` as the soft maximum of the two frames: weights ``exp(activity / tau)``
        normalised over them; ``(h, w)`` float32."""
        e = np.exp((self.second[lev] - self.best[lev]) * np.float32(1.0 / tau))
        w2 = e / (np.float32(1.0) + e)
        b1, b2 = self.best_band[lev], self.second_band[lev]
        return b1 + w2 * (b2 - b1)


@dataclass
class _Group:
    """Entries sorted by frame: frame ``i``'s are ``[bounds[i], bounds[i + 1])``."""

    pixel: np.ndarray  # (M,) intp, flat pixel index
    frame: np.ndarray  # (M,) uint16
    weight: np.ndarray  # (M,) float32
    bounds: np.ndarray  # (n + 1,) int64

    @classmethod
    def sorted_by_frame(
        cls, n: int, pixel: np.ndarray, frame: np.ndarray, w: np.ndarray, presorted: bool = False
    ) -> _Group:
        frame = frame.astype(np.uint16, copy=False)
        if not presorted:
            order = np.argsort(frame, kind="stable")  # radix sort on uint16
            pixel, frame, w = pixel[order], frame[order], w[order]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(frame, minlength=n))])
        return cls(pixel, frame, w.astype(np.float32, copy=False), bounds.astype(np.int64))

    def where(self, keep: np.ndarray) -> _Group:
        """The entries whose pixel is in ``keep`` ((H*W,) bool); order stays sorted."""
        k = keep[self.pixel]
        return _Group.sorted_by_frame(
            len(self.bounds) - 1, self.pixel[k], self.frame[k], self.weight[k], presorted=True
        )


@dataclass
class SparseWeights:
    """Per-frame weights at the pixels where they are non-zero, grouped by frame.

    Held as a few groups of entries (a pixel appears at most once per frame and group), each
    sorted by frame and, within a frame, by pixel.

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
        out = []
        for g in self.groups:
            s = slice(g.bounds[i], g.bounds[i + 1])
            if s.stop > s.start:
                out.append((g.pixel[s], g.weight[s]))
        return out

    def used(self) -> set[int]:
        """Frames with any non-zero weight."""
        out: set[int] = set()
        for g in self.groups:
            out.update(np.flatnonzero(np.diff(g.bounds) > 0).tolist())
        return out

    def where(self, keep: np.ndarray) -> SparseWeights:
        """Only the entries at pixels where ``keep`` ((H, W) bool) is true."""
        flat = keep.ravel()
        return SparseWeights(self.shape, self.n, [g.where(flat) for g in self.groups])

    def dense(self, i: int) -> np.ndarray | None:
        """Frame ``i``'s ``(H, W)`` float32 weight map, None where it is zero everywhere."""
        parts = self.of(i)
        if not parts:
            return None
        out = np.zeros(self.shape[0] * self.shape[1], np.float32)
        for pix, w in parts:
            out[pix] += w
        return out.reshape(self.shape)


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
            )
        )
    return SparseWeights(depth.shape, n, groups)


def blend_pixels(
    weights: SparseWeights,
    top: np.ndarray | None,
    channels: int,
    frames: FrameReader,
    step: Callable[[], None],
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Per-pixel weighted sum of the frames with any weight (each read once, in order).

    Parameters
    ----------
    weights : SparseWeights
        Summing to 1 over the frames at every pixel.
    top : ndarray, (H, W) int, optional
        A frame per pixel whose values are also gathered (the frame of largest weight).
    channels : int
    frames : callable
        Frame reader.
    step : callable
        Called once per frame of the stack (progress and cancel).

    Returns
    -------
    blended : ndarray, (H, W, channels) float32
    exact : ndarray, (H, W, channels) float32 or None
        Frame ``top``'s pixel at every pixel (None without ``top``).
    frames_used : int
    """
    n = weights.n
    shape = weights.shape
    hw = shape[0] * shape[1]
    order = sorted(weights.used())
    acc = np.zeros((hw, channels), np.float32)
    exact: np.ndarray | None = None
    if top is not None:
        top_flat = top.ravel()
        top_order = np.argsort(top_flat.astype(np.uint16), kind="stable")
        top_bounds = np.concatenate([[0], np.cumsum(np.bincount(top_flat, minlength=n))])
        exact = np.zeros((hw, channels), np.float32)
    done = 0
    for i, img in frames(order):
        flat = img.reshape(hw, channels)
        for pix, w in weights.of(i):
            acc[pix] += w[:, None] * flat[pix]
        if exact is not None:
            run = top_order[top_bounds[i] : top_bounds[i + 1]]
            exact[run] = flat[run]
        for _ in range(done, i + 1):
            step()
        done = i + 1
    for _ in range(done, n):
        step()
    out = acc.reshape(*shape, channels)
    return out, None if exact is None else exact.reshape(*shape, channels), len(order)


def splice_bands(
    image: np.ndarray, bands: list[np.ndarray], feather: list[np.ndarray]
) -> np.ndarray:
    """Replace the detail bands of ``image``'s luma by ``bands`` where ``feather`` says so.

    Band ``l`` of the new luma is ``(1 - f_l) * L_l(Y) + f_l * bands[l]`` (``Y`` the Rec. 709
    luma of ``image``); the low-pass base stays ``Y``'s. The luma change is added to every
    channel (the weights of the luma sum to 1), so colour comes from ``image``. Computed as the
    collapsed band differences, so where every ``f_l`` is 0 (around a pixel) the pixel stays
    bit for bit ``image``'s.

    Parameters
    ----------
    image : ndarray, (H, W, C) float32
    bands : list of ndarray
        ``levels`` luma detail bands, finest first, each ``(h_l, w_l)`` float32.
    feather : list of ndarray
        Per level ``(h_l, w_l)`` float32 in ``[0, 1]``.

    Returns
    -------
    ndarray, (H, W, C) float32
    """
    levels = len(bands)
    g = [luma(image)]
    for _ in range(levels):
        g.append(cv2.pyrDown(g[-1]))
    diff = np.zeros_like(g[-1])
    for lev in range(levels - 1, -1, -1):
        diff = cv2.pyrUp(diff, dstsize=(g[lev].shape[1], g[lev].shape[0]))
        f = feather[lev]
        if not f.any():
            continue
        own = g[lev] - cv2.pyrUp(g[lev + 1], dstsize=(g[lev].shape[1], g[lev].shape[0]))
        diff += f * (bands[lev] - own)
    return image + diff[:, :, None]


__all__ = [
    "BandSelector",
    "SparseWeights",
    "blend_pixels",
    "depth_weights_sparse",
    "splice_bands",
]
