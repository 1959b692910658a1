"""Overlapping tiles: exact partition, halo handling, stitched == whole for local operators."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from mffgui.core.tiling import apply_tiled, plan_tiles, tile_for_budget


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 300), w=st.integers(1, 300), tile=st.integers(0, 320), halo=st.integers(0, 50)
)
def test_cores_partition_the_image(h: int, w: int, tile: int, halo: int) -> None:
    count = np.zeros((h, w), np.int32)
    for t in plan_tiles((h, w), tile, halo):
        count[t.core] += 1
        # the read region is the core grown by the halo, clipped to the image
        assert t.ry0 == max(0, t.y0 - halo)
        assert t.ry1 == min(h, t.y1 + halo)
        assert t.rx0 == max(0, t.x0 - halo)
        assert t.rx1 == min(w, t.x1 + halo)
        ys, xs = t.core_in_read
        assert ys.stop - ys.start == t.y1 - t.y0
        assert xs.stop - xs.start == t.x1 - t.x0
        if tile > 0:
            assert t.y1 - t.y0 <= tile
            assert t.x1 - t.x0 <= tile
    assert np.all(count == 1)


def test_zero_tile_is_whole_image() -> None:
    tiles = plan_tiles((50, 70), 0, 10)
    assert len(tiles) == 1
    assert tiles[0].read == tiles[0].core


def _box(img: np.ndarray, r: int) -> np.ndarray:
    # zero padding at the image border: tiles must reproduce it only at the true border
    return ndimage.uniform_filter(img, size=2 * r + 1, mode="constant", cval=0.0)


def test_stitched_equals_whole_when_halo_covers_radius() -> None:
    rng = np.random.default_rng(3)
    img = rng.random((157, 203)).astype(np.float64)
    r = 6
    whole = _box(_box(img, r), r)  # receptive radius 2r
    tiled = apply_tiled(lambda a: _box(_box(a, r), r), img, tile=60, halo=2 * r)
    assert len(plan_tiles(img.shape, 60, 2 * r)) >= 4
    np.testing.assert_allclose(tiled, whole, atol=1e-12)


def test_too_small_halo_is_visible() -> None:
    rng = np.random.default_rng(4)
    img = rng.random((120, 120))
    r = 6
    whole = _box(img, r)
    tiled = apply_tiled(lambda a: _box(a, r), img, tile=40, halo=r - 2)
    assert np.abs(tiled - whole).max() > 1e-3


def test_tile_for_budget() -> None:
    assert tile_for_budget((100, 100), 10, 100 * 100 * 10, halo=8) == 0
    side = tile_for_budget((4000, 3000), 100, 100 * 600**2, halo=40)
    assert side == 600 - 80
    assert tile_for_budget((4000, 3000), 100, 10.0, halo=40, minimum=64) == 64


@pytest.mark.parametrize("shape", [(1, 1), (5, 500), (500, 5)])
def test_degenerate_shapes(shape: tuple[int, int]) -> None:
    tiles = plan_tiles(shape, 64, 8)
    assert sum((t.y1 - t.y0) * (t.x1 - t.x0) for t in tiles) == shape[0] * shape[1]
