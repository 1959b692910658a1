"""Attribution of a fused image to its sources recovers known mixing weights."""

from __future__ import annotations

import numpy as np
import pytest

from mffgui.core.attribution import attribute, attribute_pair


def _textures(n: int, shape: tuple[int, int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(shape).astype(np.float32) for _ in range(n)]


def _away_from_edges(w: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose (2r+1)^2 window sees a single value of ``w``."""
    h, wd = w.shape
    pad = np.pad(w, radius, mode="edge")
    ok = np.ones_like(w, dtype=bool)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            ok &= pad[dy : dy + h, dx : dx + wd] == w
    return ok


def test_pair_recovers_piecewise_weights():
    a, b = _textures(2, (80, 70, 3))
    w = np.zeros((80, 70), np.float32)
    w[:, 35:] = 1.0
    w[10:40, 5:25] = 0.3
    w[50:75, 45:65] = 0.8
    fused = w[..., None] * a + (1 - w[..., None]) * b
    got = attribute_pair(fused, a, b, radius=3)
    inside = _away_from_edges(w, 3)
    assert inside.sum() > 2000
    np.testing.assert_allclose(got[inside], w[inside], atol=2e-3)
    assert got.min() >= 0.0
    assert got.max() <= 1.0


def test_pair_matches_brute_force_least_squares():
    a, b = _textures(2, (30, 30, 3), seed=3)
    rng = np.random.default_rng(5)
    fused = np.clip(0.6 * a + 0.4 * b + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    r = 2
    got = attribute_pair(fused, a, b, radius=r, eps=0.0)
    for y, x in [(5, 5), (12, 20), (24, 9)]:
        win = np.s_[y - r : y + r + 1, x - r : x + r + 1]
        d = (a[win] - b[win]).ravel()
        res = (fused[win] - b[win]).ravel()
        expected = np.clip(d @ res / (d @ d), 0, 1)
        assert got[y, x] == pytest.approx(expected, abs=1e-4)


def test_pair_gray_inputs_and_identical_sources():
    a = _textures(1, (20, 20))[0]
    w = attribute_pair(a, a, a)  # sources identical: any mix explains it, ridge gives 0.5
    np.testing.assert_allclose(w, 0.5, atol=1e-6)
    assert w.shape == (20, 20)


def test_pair_rejects_mismatched_shapes():
    a, b = _textures(2, (10, 10, 3))
    with pytest.raises(ValueError):
        attribute_pair(a, a, b[:5])


def test_three_sources_recovered_and_normalised():
    srcs = _textures(3, (60, 60, 3), seed=7)
    weights = np.zeros((3, 60, 60), np.float32)
    weights[0, :, :30] = 1.0
    weights[1, :, 30:] = 0.25
    weights[2, :, 30:] = 0.75
    fused = sum(weights[i][..., None] * srcs[i] for i in range(3))
    got = attribute(fused, srcs, radius=3)
    assert got.shape == (3, 60, 60)
    np.testing.assert_allclose(got.sum(axis=0), 1.0, atol=1e-5)
    assert got.min() >= 0.0
    inside = _away_from_edges((weights[0] * 4 + weights[1]).astype(np.float32), 3)
    np.testing.assert_allclose(got[:, inside], weights[:, inside], atol=5e-3)


def test_two_source_attribute_equals_pair():
    a, b = _textures(2, (25, 25, 3), seed=11)
    f = 0.2 * a + 0.8 * b
    got = attribute(f, [a, b])
    np.testing.assert_allclose(got[0], attribute_pair(f, a, b))
    np.testing.assert_allclose(got[0] + got[1], 1.0, atol=1e-6)
