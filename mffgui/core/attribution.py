"""Per-pixel attribution of a fused image to its sources.

A method that outputs the fused image directly (Fusion2Void) has no decision map of its own.
The attribution answers "which mix of the sources explains the fused image here?": at every
pixel, the weights ``w`` (in ``[0, 1]``, summing to 1) that minimise, over a small window ``W``
and all channels,

    sum_{q in W} || F(q) - sum_i w_i S_i(q) ||^2  +  eps * || w - 1/N ||^2 .

The ridge term ``eps`` pulls the weights to the uniform mix where the sources are identical
(flat or equally blurred regions), where any mix explains the fused image equally well. Every
window sum is a box filter, so the cost is a few passes over the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mffgui.core.filters import box_mean


def _as_hwc(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32)
    return a[:, :, None] if a.ndim == 2 else a


def attribute_pair(
    fused: np.ndarray, a: np.ndarray, b: np.ndarray, radius: int = 3, eps: float = 1e-5
) -> np.ndarray:
    """Weight of ``a`` in ``fused ~ w a + (1 - w) b``, least squares on a window.

    Closed form: with ``D = a - b`` and ``R = fused - b``,
    ``w = (mean_W(D.R) + eps/2) / (mean_W(D.D) + eps)``, clipped to ``[0, 1]``.

    Parameters
    ----------
    fused, a, b : ndarray, (H, W) or (H, W, C) float32
        Same shape; values in ``[0, 1]``.
    radius : int
        Window radius (window ``2r+1`` square).
    eps : float
        Ridge weight towards 0.5 (in squared intensity per channel); sets where the sources
        count as "equal".

    Returns
    -------
    ndarray, (H, W) float32 in [0, 1]
        The weight of ``a``; the weight of ``b`` is ``1 - w``.
    """
    f, sa, sb = _as_hwc(fused), _as_hwc(a), _as_hwc(b)
    if not (f.shape == sa.shape == sb.shape):
        raise ValueError(f"shapes differ: {f.shape}, {sa.shape}, {sb.shape}")
    d = sa - sb
    r = f - sb
    dr = box_mean((d * r).sum(axis=2), radius)
    dd = box_mean((d * d).sum(axis=2), radius)
    w = (dr + 0.5 * eps) / (dd + eps)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def attribute(
    fused: np.ndarray, sources: Sequence[np.ndarray], radius: int = 3, eps: float = 1e-5
) -> np.ndarray:
    """Weights of ``N`` sources that best explain ``fused`` on a window around each pixel.

    The sum-to-one constraint is eliminated by writing ``w_N = 1 - sum_{i<N} w_i``; the
    ``(N-1) x (N-1)`` normal equations are assembled from box-filtered products and solved
    per pixel; negative weights are then clipped and the rest renormalised (the exact simplex
    projection is not needed for display purposes). Memory grows as ``N^2 H W``, so use it for
    small ``N``; the Fusion2Void method composes pairwise attributions instead.

    Parameters
    ----------
    fused : ndarray, (H, W) or (H, W, C) float32
    sources : sequence of N >= 2 ndarrays, same shape as ``fused``
    radius : int
        Window radius.
    eps : float
        Ridge weight towards the uniform mix ``1/N``.

    Returns
    -------
    ndarray, (N, H, W) float32
        Weights in ``[0, 1]`` summing to 1 at every pixel.
    """
    n = len(sources)
    if n < 2:
        raise ValueError("attribution needs at least two sources")
    if n == 2:
        w = attribute_pair(fused, sources[0], sources[1], radius, eps)
        return np.stack([w, 1.0 - w]).astype(np.float32)
    f = _as_hwc(fused)
    last = _as_hwc(sources[-1])
    diffs = [_as_hwc(s) - last for s in sources[:-1]]
    r = f - last
    m = n - 1
    h, w_ = f.shape[:2]
    gram = np.empty((h, w_, m, m), dtype=np.float64)
    rhs = np.empty((h, w_, m), dtype=np.float64)
    for i in range(m):
        rhs[:, :, i] = box_mean((diffs[i] * r).sum(axis=2), radius) + eps / n
        for j in range(i, m):
            g = box_mean((diffs[i] * diffs[j]).sum(axis=2), radius)
            gram[:, :, i, j] = g
            gram[:, :, j, i] = g
    gram += eps * np.eye(m)
    sol = np.linalg.solve(gram, rhs[..., None])[..., 0]
    weights = np.concatenate([sol, 1.0 - sol.sum(axis=2, keepdims=True)], axis=2)
    weights = np.clip(weights, 0.0, None)
    total = weights.sum(axis=2, keepdims=True)
    weights = np.where(total > 0, weights / np.maximum(total, 1e-12), 1.0 / n)
    return np.ascontiguousarray(weights.transpose(2, 0, 1), dtype=np.float32)
