"""mffgui.core.band_blend against direct (dense, all-frames) computations."""

from __future__ import annotations

import numpy as np
import pytest

from mffgui.core.band_blend import TopTwo, blend_bands, depth_weights_sparse, finest_weights
from mffgui.core.blend import collapse, gaussian_pyramid, laplacian_pyramid


def _dense(sw, n):
    return np.stack(
        [w if (w := sw.dense(i)) is not None else np.zeros(sw.shape, np.float32) for i in range(n)]
    )


def test_depth_weights_follow_the_formula_and_sum_to_one():
    rng = np.random.default_rng(1)
    n, shape, spread = 9, (24, 30), 1.5
    depth = rng.uniform(0, n - 1, shape).astype(np.float32)
    trust = np.clip(rng.uniform(-0.5, 1.5, shape), 0, 1).astype(np.float32)
    w = _dense(depth_weights_sparse(depth, trust, spread, n), n)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-5)
    j = np.arange(n, dtype=np.float32)[:, None, None]
    hard = np.maximum(0.0, 1.0 - np.abs(depth - j))
    g = np.exp(-0.5 * ((depth - j) / spread) ** 2) * (np.abs(depth - j) <= 3 * spread)
    g /= g.sum(axis=0)
    expected = trust * hard + (1 - trust) * g
    np.testing.assert_allclose(w, expected, atol=1e-5)


def test_top_two_matches_a_sort_of_all_scores():
    rng = np.random.default_rng(2)
    scores = rng.random((7, 16, 20)).astype(np.float32)
    t = TopTwo(scores.shape[1:], len(scores))
    for i, s in enumerate(scores):
        t.update(i, s)
    order = np.argsort(-scores, axis=0, kind="stable")
    np.testing.assert_array_equal(t.best_index, order[0])
    np.testing.assert_array_equal(t.second_index, order[1])
    # Scores are kept to 23 - ceil(log2(7)) = 20 mantissa bits, truncated.
    rel = 2.0**-20
    for got, want in ((t.best, scores.max(axis=0)), (t.second, np.sort(scores, axis=0)[-2])):
        assert np.all(got <= want)
        np.testing.assert_allclose(got, want, rtol=rel, atol=0)


def test_top_two_ties_keep_the_earlier_frame_and_zero_scores_count():
    t = TopTwo((2, 3), 40)
    zero = np.zeros((2, 3), np.float32)
    t.update(0, zero)
    t.update(1, np.full((2, 3), 0.5, np.float32))
    t.update(2, np.full((2, 3), 0.5, np.float32))
    t.update(3, zero)
    np.testing.assert_array_equal(t.best_index, 1)
    np.testing.assert_array_equal(t.second_index, 2)
    np.testing.assert_array_equal(t.best, 0.5)
    np.testing.assert_array_equal(t.second, 0.5)


@pytest.mark.parametrize("channels", [1, 3])
def test_blend_bands_equals_the_dense_multiresolution_spline(channels):
    rng = np.random.default_rng(3)
    n, shape, levels = 5, (64, 80), 3
    frames = [rng.random((*shape, channels)).astype(np.float32) for _ in range(n)]
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    depth = np.clip((xx / shape[1]) * (n - 1) + 0.3 * np.sin(yy / 5), 0, n - 1).astype(np.float32)
    trust = np.where(yy < shape[0] // 2, 1.0, 0.4).astype(np.float32)
    sw = depth_weights_sparse(depth, trust, 1.0, n)
    top = np.rint(depth).astype(np.int64)
    steps = []

    def reader(indices):
        for i in indices:
            yield i, frames[i]

    fused, copied, used = blend_bands(
        sw, finest_weights(sw, None), None, levels, top, channels, reader, lambda: steps.append(1)
    )
    assert len(steps) == n
    assert used == n
    # Independent: Burt & Adelson's spline with every frame's full pyramids.
    weights = _dense(sw, n)
    out = None
    for i in range(n):
        lp = laplacian_pyramid(frames[i] if channels > 1 else frames[i][:, :, 0], levels)
        gw = gaussian_pyramid(weights[i], levels)
        terms = [(g[:, :, None] if b.ndim == 3 else g) * b for g, b in zip(gw, lp, strict=True)]
        out = terms if out is None else [a + b for a, b in zip(out, terms, strict=True)]
    assert out is not None
    ref = collapse(out).reshape(*shape, channels)
    # Pixels within half an 8-bit step of their nearest frame are that frame's, exactly.
    np.testing.assert_allclose(fused, ref, atol=0.5 / 255 + 1e-5)
    hit = copied >= 0
    assert hit.any()
    src = np.stack(frames)[top, yy, xx]
    np.testing.assert_array_equal(fused[hit], src[hit])
    assert (copied[hit] == top[hit]).all()
