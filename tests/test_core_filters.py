"""Filters against independent (slow, explicit) reference computations."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter

from mffgui.core.filters import box_mean, gaussian, gaussian_ksize, guided_filter


def _windows(a: np.ndarray, r: int) -> np.ndarray:
    """(H, W, ..., 2r+1, 2r+1) windows with OpenCV's BORDER_REFLECT (numpy 'symmetric')."""
    pad = [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2)
    padded = np.pad(a.astype(np.float64), pad, mode="symmetric")
    return sliding_window_view(padded, (2 * r + 1, 2 * r + 1), axis=(0, 1))


def _guided_reference(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter written out per pixel with a linear solve per window."""
    color = guide.ndim == 3
    gw = _windows(guide, r)  # (H, W, [C,] k, k)
    pw = _windows(p, r)
    h, w = p.shape
    a = np.zeros((h, w, 3)) if color else np.zeros((h, w))
    b = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            pv = pw[y, x].ravel()
            if color:
                iv = gw[y, x].reshape(3, -1)
                mu = iv.mean(axis=1)
                cov = np.cov(iv, bias=True) + eps * np.eye(3)
                cip = ((iv - mu[:, None]) * (pv - pv.mean())).mean(axis=1)
                a[y, x] = np.linalg.solve(cov, cip)
                b[y, x] = pv.mean() - a[y, x] @ mu
            else:
                iv = gw[y, x].ravel()
                a[y, x] = ((iv * pv).mean() - iv.mean() * pv.mean()) / (iv.var() + eps)
                b[y, x] = pv.mean() - a[y, x] * iv.mean()
    mean_a = _windows(a, r).mean(axis=(-2, -1))
    mean_b = _windows(b, r).mean(axis=(-2, -1))
    if color:
        return (mean_a * guide).sum(axis=2) + mean_b
    return mean_a * guide + mean_b


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(123)


@pytest.mark.parametrize("radius", [1, 3])
def test_box_mean_matches_scipy(rng: np.random.Generator, radius: int) -> None:
    img = rng.random((17, 23, 3), dtype=np.float32)
    expect = uniform_filter(
        img.astype(np.float64), size=(2 * radius + 1,) * 2 + (1,), mode="reflect"
    )
    np.testing.assert_allclose(box_mean(img, radius), expect, atol=1e-5)
    np.testing.assert_allclose(box_mean(img[:, :, 0], radius), expect[:, :, 0], atol=1e-5)


def test_gaussian_keeps_constants_and_shape(rng: np.random.Generator) -> None:
    assert gaussian_ksize(2.0) == 13
    const = np.full((20, 30, 1), 0.25, np.float32)
    out = gaussian(const, 2.0)
    assert out.shape == const.shape
    np.testing.assert_allclose(out, 0.25, atol=1e-6)
    noise = rng.random((40, 40), dtype=np.float32)
    assert gaussian(noise, 2.0).std() < noise.std() / 3


@pytest.mark.parametrize(("radius", "eps"), [(1, 1e-3), (2, 0.1), (2, 1e-6)])
def test_gray_guided_filter_matches_reference(
    rng: np.random.Generator, radius: int, eps: float
) -> None:
    guide = rng.random((14, 18), dtype=np.float32)
    p = (rng.random((14, 18)) > 0.5).astype(np.float32)
    expect = _guided_reference(guide, p, radius, eps)
    np.testing.assert_allclose(guided_filter(guide, p, radius, eps), expect, atol=2e-3)


@pytest.mark.parametrize(("radius", "eps"), [(1, 1e-2), (2, 0.3)])
def test_color_guided_filter_matches_reference(
    rng: np.random.Generator, radius: int, eps: float
) -> None:
    guide = rng.random((12, 15, 3), dtype=np.float32)
    p = (rng.random((12, 15)) > 0.5).astype(np.float32)
    expect = _guided_reference(guide, p, radius, eps)
    np.testing.assert_allclose(guided_filter(guide, p, radius, eps), expect, atol=2e-3)


def test_guided_filter_preserves_edges_of_its_guide() -> None:
    guide = np.zeros((30, 30), np.float32)
    guide[:, 15:] = 1.0
    p = guide.copy()
    sharp = guided_filter(guide, p, 4, 1e-6)
    smooth = guided_filter(guide, p, 4, 10.0)
    np.testing.assert_allclose(sharp, p, atol=1e-3)  # tiny eps: output follows the edge
    assert np.abs(smooth - p).max() > 0.2  # huge eps: plain box smoothing blurs it
    ones = np.ones((30, 30), np.float32)
    np.testing.assert_allclose(guided_filter(guide[:, :, None], ones, 4, 0.3), 1.0, atol=1e-5)
