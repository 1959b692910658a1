"""Ground-truth stacks: occlusion-aware layered defocus, depth map shape, noise, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mffgui.core.synthetic import (
    ground_truth_stack,
    occluding_depth,
    render_layered_stack,
    sharp_scene,
)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    axes = (sigma, sigma, 0) if x.ndim == 3 else sigma
    return ndimage.gaussian_filter(x.astype(np.float64), axes, mode="mirror", truncate=4.0)


def test_layered_model_matches_the_over_operator():
    h, w = 64, 80
    sharp = sharp_scene(h, w, 3)
    near = np.zeros((h, w), bool)
    near[16:48, 20:50] = True
    depth = np.where(near, 0.0, 1.0).astype(np.float32)
    frames = render_layered_stack(sharp, depth, np.array([0.0, 1.0]), max_sigma=3.0)
    assert frames.shape == (2, h, w, 3)
    # Focused on the near square: all of it, up to its outline, is exactly sharp (the blurred
    # background is behind it and never spreads over it).
    np.testing.assert_allclose(frames[0][near], sharp[near], atol=1e-6)
    # Focused far: the blurred square is composited OVER the sharp background (independent
    # computation with scipy): colour = blur(c a) + (1 - blur(a)) * c_bg, divided by coverage.
    a = near.astype(np.float64)
    fg = _blur(sharp * a[:, :, None], 3.0)
    fa = _blur(a, 3.0)[:, :, None]
    bg_a = (1 - a)[:, :, None]
    ref = (fg + (1 - fa) * sharp * bg_a) / (fa + (1 - fa) * bg_a)
    inner = (slice(6, -6), slice(6, -6))
    np.testing.assert_allclose(frames[1][inner], ref[inner], atol=3e-3)
    # Just outside the square the sharp background is visibly veiled by the blurred square.
    ring = ndimage.binary_dilation(near, iterations=2) & ~near
    assert np.abs(frames[1][ring] - sharp[ring]).mean() > 0.02
    far_bg = ~ndimage.binary_dilation(near, iterations=14)
    np.testing.assert_allclose(frames[1][far_bg], sharp[far_bg], atol=1e-4)


def test_occluding_depth_is_piecewise_smooth_with_jumps():
    d = occluding_depth(120, 160, seed=4)
    assert d.shape == (120, 160)
    assert d.dtype == np.float32
    assert d.min() >= 0.0
    assert d.max() <= 1.0
    np.testing.assert_array_equal(d, occluding_depth(120, 160, seed=4))
    assert not np.array_equal(d, occluding_depth(120, 160, seed=5))
    step = np.maximum(np.abs(np.diff(d, axis=0))[:, :-1], np.abs(np.diff(d, axis=1))[:-1])
    jumps = step > 0.04
    assert jumps.any(), "no occlusion boundary"
    assert jumps.mean() < 0.1, "not piecewise smooth"
    assert np.median(step) < 0.005


def test_ground_truth_stack_is_deterministic_and_focuses_through_the_depth():
    sharp = sharp_scene(72, 96, 1)
    a = ground_truth_stack(sharp, 5, seed=2)
    b = ground_truth_stack(sharp, 5, seed=2)
    c = ground_truth_stack(sharp, 5, seed=3)
    assert a.frames.shape == (5, 72, 96, 3)
    assert a.frames.dtype == np.float32
    np.testing.assert_array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    np.testing.assert_allclose(a.planes[[0, -1]], [a.depth.min(), a.depth.max()], atol=1e-6)
    # JPEG: every value is an 8-bit level.
    np.testing.assert_allclose(a.frames * 255, np.rint(a.frames * 255), atol=1e-3)
    # The frame nearest in focus is (on average) the closest to the ground truth.
    err = np.abs(a.frames - sharp[None]).mean(axis=3)
    nearest = a.nearest_frame()
    mine = np.take_along_axis(err, nearest[None], 0)[0].mean()
    assert mine < err.mean(axis=0).mean() * 0.8


def test_ground_truth_stack_noise_and_jpeg_are_optional():
    sharp = sharp_scene(40, 48, 0)
    clean = ground_truth_stack(sharp, 3, seed=1, noise=0.0, jpeg_quality=None)
    noisy = ground_truth_stack(sharp, 3, seed=1, noise=0.02, jpeg_quality=None)
    diff = noisy.frames - clean.frames
    assert 0.015 < diff.std() < 0.025
    with pytest.raises(ValueError, match="n_frames"):
        ground_truth_stack(sharp, 1)


def test_hidden_background_shows_through_a_defocused_edge():
    h, w = 64, 80
    back = sharp_scene(h, w, 6)
    front = np.zeros((h, w), bool)
    front[16:48, 20:50] = True
    img = back.copy()
    img[front] = 0.9
    depth = np.where(front, 0.0, 1.0).astype(np.float32)
    ones = np.ones((h, w), np.float32)
    far = render_layered_stack(img, depth, np.array([1.0]), 3.0, hidden=back, hidden_depth=ones)[0]
    # Independent computation: the blurred square OVER the full, sharp background.
    a = _blur(front.astype(np.float64), 3.0)[:, :, None]
    ref = _blur(img * front[:, :, None], 3.0) + (1 - a) * back
    np.testing.assert_allclose(far[6:-6, 6:-6], ref[6:-6, 6:-6], atol=3e-3)
    # Just inside the outline the hidden background now shows (the edge is blurred both ways).
    inside = front & ~ndimage.binary_erosion(front, iterations=2)
    assert np.abs(far[inside] - 0.9).mean() > 0.05


def test_occluders_give_the_objects_their_own_look():
    sharp = sharp_scene(60, 80, 1)
    other = sharp_scene(60, 80, 9)
    gt = ground_truth_stack(sharp, 3, seed=0, occluders=other)
    objects = gt.depth < 0.425
    assert objects.any()
    np.testing.assert_array_equal(gt.sharp[objects], other[objects])
    np.testing.assert_array_equal(gt.sharp[~objects], sharp[~objects])
