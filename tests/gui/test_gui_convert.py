"""The numpy <-> QImage bridge and the colour maps."""

from __future__ import annotations

import numpy as np
import pytest
from gui_support import config_dir  # noqa: F401 - fixture

from mffgui.gui.convert import (
    apply_levels,
    colorize_index,
    display_levels,
    diverging_lut,
    from_qimage,
    heat_rgba,
    index_colors,
    outline_rgba,
    to_qimage,
    to_uint8,
    viridis_lut,
)

# R's viridisLite::viridis(5): the published five-colour viridis palette.
VIRIDIS_5 = ["#440154", "#3B528B", "#21908C", "#5DC863", "#FDE725"]


def _rgb(hexcode: str) -> list[int]:
    return [int(hexcode[i : i + 2], 16) for i in (1, 3, 5)]


def test_viridis_matches_published_palette():
    lut = viridis_lut(5).astype(int)
    ref = np.array([_rgb(h) for h in VIRIDIS_5])
    assert np.abs(lut - ref).max() <= 6


def test_viridis_luminance_is_monotonic():
    lut = viridis_lut(64).astype(np.float64) / 255  # 256 steps differ by < 1 level
    lum = lut @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(lum) > 0)


def test_diverging_is_symmetric_around_a_light_centre():
    lut = diverging_lut(257).astype(int)
    assert lut[128].min() >= 240  # near white in the middle
    assert lut[0][2] > lut[0][0]
    assert lut[-1][0] > lut[-1][2]


@pytest.mark.parametrize("shape", [(7, 9), (7, 9, 1), (7, 9, 3), (5, 11, 4)])
def test_qimage_round_trip_is_exact(qapp, shape):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        a[..., 3] = 255  # opaque, so premultiplication does not change colours
    q = to_qimage(a)
    assert (q.width(), q.height()) == (shape[1], shape[0])
    back = from_qimage(q)
    expect = (
        a[..., :3]
        if a.ndim == 3 and a.shape[2] >= 3
        else np.repeat(a.reshape(shape[0], shape[1], 1), 3, axis=2)
    )
    np.testing.assert_array_equal(back, expect)


def test_float_images_are_rounded_not_truncated():
    a = np.array([[0.0, 0.5, 1.0, 0.998]], np.float32)
    np.testing.assert_array_equal(to_uint8(a), np.rint(a * 255).astype(np.uint8))


def test_index_colours_are_distinct_and_ordered():
    c = index_colors(7)
    assert len({tuple(x) for x in c}) == 7
    img = colorize_index(np.array([[0, 6], [3, 3]], np.uint16), 7)
    np.testing.assert_array_equal(img[0, 0], c[0])
    np.testing.assert_array_equal(img[0, 1], c[6])


def test_display_levels_stretch_dim_images_only():
    rng = np.random.default_rng(0)
    dim = (rng.random((50, 60)) * 0.1 + 0.02).astype(np.float32)
    lv = display_levels(dim)
    assert lv is not None
    assert 0.02 <= lv[0] < lv[1] <= 0.12
    out = apply_levels(dim, lv)
    assert out.min() == 0.0
    assert out.max() == 1.0
    assert display_levels(rng.random((50, 60)).astype(np.float32)) is None


def test_outline_marks_only_the_boundary_inside_the_mask():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    layer = outline_rgba(mask, width=1)
    drawn = layer[..., 3] > 0
    assert drawn[10, 20]
    assert drawn[20, 10]
    assert drawn[29, 20]
    assert not drawn[20, 20]
    assert not drawn[5, 5]
    assert not drawn[9, 20]


def test_heat_layer_alpha_follows_values():
    v = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    np.testing.assert_array_equal(heat_rgba(v, gamma=1.0)[0, :, 3], [0, 64, 128, 255])
    alpha = heat_rgba(v)[0, :, 3]  # default gamma 0.5 lifts weak focus
    assert alpha[1] == 128
    assert np.all(np.diff(alpha.astype(int)) > 0)


@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 1), (40, 30, 3), (8, 9, 4), (4, 4, 5)])
def test_quantisation_matches_numpy_rounding(shape):
    from mffgui.gui.convert import to_index_u8

    rng = np.random.default_rng(7)
    a = (rng.random(shape) * 1.4 - 0.2).astype(np.float32)  # below 0 and above 1 too
    a.flat[0] = np.nan
    a.flat[1] = 1.5 / 255  # ties round to even, as np.rint does
    a.flat[2] = 2.5 / 255
    ref = np.rint(np.clip(np.nan_to_num(a), 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(to_index_u8(a), ref)
