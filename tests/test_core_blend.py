"""Pyramids: exact reconstruction and level bookkeeping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mffgui.core.blend import (
    collapse,
    gaussian_pyramid,
    laplacian_pyramid,
    max_pyramid_levels,
    upsample_to,
)


@pytest.mark.parametrize("shape", [(37, 53, 3), (64, 48, 1), (31, 30)])
@pytest.mark.parametrize("levels", [0, 1, 3])
def test_laplacian_pyramid_reconstructs(shape: tuple[int, ...], levels: int) -> None:
    img = np.random.default_rng(0).random(shape, dtype=np.float32)
    pyr = laplacian_pyramid(img, levels)
    assert len(pyr) == levels + 1
    out = collapse(pyr)
    np.testing.assert_allclose(out.reshape(img.shape), img, atol=1e-5)
    # Each level halves the size (rounding up), as cv2.pyrDown does.
    g = gaussian_pyramid(img, levels)
    for fine, coarse in itertools.pairwise(g):
        assert coarse.shape[0] == (fine.shape[0] + 1) // 2
        assert coarse.shape[1] == (fine.shape[1] + 1) // 2


def test_band_levels_of_a_constant_are_zero() -> None:
    pyr = laplacian_pyramid(np.full((40, 40, 3), 0.3, np.float32), 3)
    for band in pyr[:-1]:
        assert np.abs(band).max() < 1e-6
    np.testing.assert_allclose(pyr[-1], 0.3, atol=1e-6)


def test_max_levels() -> None:
    assert max_pyramid_levels((1200, 1600), 16) == 6  # 1200 / 2**6 = 18.75 >= 16
    assert max_pyramid_levels((20, 20), 16) == 0
    assert 1200 / 2 ** max_pyramid_levels((1200, 1600), 8) >= 8


def test_upsample_keeps_partition_of_unity() -> None:
    rng = np.random.default_rng(2)
    w = rng.random((3, 10, 13)).astype(np.float32)
    w /= w.sum(axis=0)
    up = np.stack([upsample_to(m, (37, 51)) for m in w])
    assert up.shape == (3, 37, 51)
    np.testing.assert_allclose(up.sum(axis=0), 1.0, atol=1e-5)
