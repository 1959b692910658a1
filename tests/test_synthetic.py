"""Synthetic scenes and stacks: determinism, blur model, complementary pairs, bundled sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mffgui.core.synthetic import (
    complementary_pair,
    depth_scene,
    focal_planes,
    half_mask,
    render_focus_stack,
    sharp_scene,
)
from mffgui.io.readers import read_image
from mffgui.io.sample import main
from mffgui.io.stacks import read_stack
from mffgui.resources import sample_stack_dir


def _sharpness(img: np.ndarray) -> np.ndarray:
    """Local energy of the Laplacian of the luma, smoothed (independent of mffgui.core.focus)."""
    g = img.mean(axis=2) if img.ndim == 3 else img
    lap = ndimage.laplace(g.astype(np.float64))
    return ndimage.uniform_filter(lap * lap, size=9)


def test_scene_is_deterministic_and_detailed():
    a, b, c = sharp_scene(96, 128, 3), sharp_scene(96, 128, 3), sharp_scene(96, 128, 4)
    assert a.shape == (96, 128, 3)
    assert a.dtype == np.float32
    assert 0.0 <= a.min()
    assert a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Fine detail everywhere: a mild blur changes (almost) every 16x16 block.
    blurred = ndimage.gaussian_filter(a, sigma=(1.5, 1.5, 0))
    diff = np.abs(a - blurred).mean(axis=2)
    blocks = diff.reshape(6, 16, 8, 16).mean(axis=(1, 3))
    assert (blocks > 2e-3).mean() > 0.95


def test_depth_scene_range():
    d = depth_scene(60, 80, 0)
    assert d.shape == (60, 80)
    assert d.dtype == np.float32
    assert d.min() >= 0
    assert d.max() <= 1
    assert d.max() - d.min() > 0.5


def test_focus_stack_pixels_in_focal_plane_are_sharp():
    sharp = sharp_scene(64, 80, 1)
    depth = np.zeros((64, 80), np.float32)
    depth[:, 40:] = 1.0
    frames = render_focus_stack(sharp, depth, n_frames=3, max_sigma=3.0, seed=0)
    assert frames.shape == (3, 64, 80, 3)
    assert frames.dtype == np.float32
    # Frame 0 focuses at depth 0: left half exactly sharp; frame 2 (depth 1): right half.
    np.testing.assert_array_equal(frames[0][:, :40], sharp[:, :40])
    np.testing.assert_array_equal(frames[2][:, 40:], sharp[:, 40:])
    # Far from the seam, the defocused half equals a Gaussian blur of sigma 3 (scipy reference).
    ref = ndimage.gaussian_filter(sharp, sigma=(3, 3, 0), mode="mirror", truncate=4.0)
    np.testing.assert_allclose(frames[0][12:-12, 60:68], ref[12:-12, 60:68], atol=2e-3)
    # The middle frame is blurred by sigma 1.5 on both sides.
    ref_mid = ndimage.gaussian_filter(sharp, sigma=(1.5, 1.5, 0), mode="mirror")
    np.testing.assert_allclose(frames[1][12:-12, 8:30], ref_mid[12:-12, 8:30], atol=3e-3)


def test_sharpest_frame_follows_depth():
    h, w = 96, 128
    sharp = sharp_scene(h, w, 2)
    depth = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    n = 5
    frames = render_focus_stack(sharp, depth, n_frames=n, max_sigma=4.0)
    best = np.argmax(np.stack([_sharpness(f) for f in frames]), axis=0)
    nearest = np.argmin(np.abs(depth[None] - focal_planes(n)[:, None, None]), axis=0)
    inner = (slice(8, -8), slice(8, -8))
    assert (best[inner] == nearest[inner]).mean() > 0.8


def test_noise_is_seeded():
    sharp = sharp_scene(32, 32, 0)
    depth = depth_scene(32, 32, 0)
    a = render_focus_stack(sharp, depth, 2, 2.0, seed=5, noise=0.01)
    b = render_focus_stack(sharp, depth, 2, 2.0, seed=5, noise=0.01)
    c = render_focus_stack(sharp, depth, 2, 2.0, seed=6, noise=0.01)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_render_rejects_bad_input():
    with pytest.raises(ValueError, match="depth"):
        render_focus_stack(np.zeros((4, 4, 3), np.float32), np.zeros((5, 4)), 3)
    with pytest.raises(ValueError, match="n_frames"):
        render_focus_stack(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4)), 1)


def test_complementary_pair():
    sharp = sharp_scene(40, 60, 0)
    mask = half_mask(40, 60)
    a, b = complementary_pair(sharp, mask, sigma=2.0)
    np.testing.assert_array_equal(a[mask], sharp[mask])
    np.testing.assert_array_equal(b[~mask], sharp[~mask])
    ref = ndimage.gaussian_filter(sharp, sigma=(2, 2, 0), mode="mirror")
    np.testing.assert_allclose(a[8:-8, 38:52], ref[8:-8, 38:52], atol=2e-3)
    np.testing.assert_allclose(b[8:-8, 8:22], ref[8:-8, 8:22], atol=2e-3)
    assert half_mask(4, 6, vertical=False)[:2].all()
    assert not half_mask(4, 6, vertical=False)[2:].any()


def test_bundled_sample_stack():
    folder = sample_stack_dir()
    frames = sorted(folder.glob("frame_*.png"))
    assert len(frames) == 5
    assert sum(f.stat().st_size for f in frames) < 3 * 2**20
    assert (folder / "README.md").is_file()
    stack = read_stack(folder)
    assert len(stack) == 5
    assert stack.shape == (480, 640)
    assert stack.channels == 3
    assert stack.bit_depth == 8


def test_sample_stack_is_reproducible_by_its_documented_command(tmp_path):
    # resources/samples/sample-stack/README.md documents this command and its defaults.
    assert (
        main(
            [
                "--out",
                str(tmp_path),
                "--frames",
                "5",
                "--size",
                "640x480",
                "--max-sigma",
                "4.0",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    for f in sorted(sample_stack_dir().glob("frame_*.png")):
        mine, _ = read_image(tmp_path / f.name)
        bundled, _ = read_image(f)
        # Identical up to rounding differences of other BLAS/OpenCV builds.
        assert np.abs(mine - bundled).max() <= 2 / 255
