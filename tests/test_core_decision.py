"""Decision helpers against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import median_filter

from mffgui.core.decision import (
    ArgmaxTracker,
    LazyMaps,
    fill_low_confidence,
    median_labels,
    mode_filter,
    relative_threshold,
    smooth_depth,
    smooth_large,
    transition_band,
)


def _windows(a: np.ndarray, size: int) -> np.ndarray:
    r = size // 2
    return sliding_window_view(np.pad(a, r, mode="symmetric"), (size, size))


def test_argmax_tracker_equals_numpy_argmax_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(5, 13, 17)).astype(np.float32)  # many ties
    t = ArgmaxTracker((13, 17))
    for i, s in enumerate(scores):
        t.update(i, s)
    np.testing.assert_array_equal(t.index, np.argmax(scores, axis=0))
    np.testing.assert_array_equal(t.best, scores.max(axis=0))
    assert t.index.dtype == np.uint16


@pytest.mark.parametrize("size", [3, 5])
def test_mode_filter_matches_brute_force(size: int) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=(15, 19)).astype(np.uint16)
    out = mode_filter(labels, size)
    win = _windows(labels, size)
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            counts = np.bincount(win[y, x].ravel(), minlength=3)
            own = labels[y, x]
            expect = own if counts[own] == counts.max() else int(np.argmax(counts))
            assert out[y, x] == expect, (y, x)


def test_mode_filter_removes_isolated_choices() -> None:
    labels = np.zeros((20, 20), np.uint16)
    labels[5, 5] = 1
    labels[10:, :] = 2
    out = mode_filter(labels, 3)
    assert out[5, 5] == 0
    np.testing.assert_array_equal(out[12:, :], 2)


@pytest.mark.parametrize("size", [3, 7])
def test_median_labels_matches_scipy(size: int) -> None:
    labels = np.random.default_rng(2).integers(0, 40, (25, 31)).astype(np.uint16)
    expect = median_filter(labels, size=size, mode="reflect")
    # OpenCV replicates the border; compare the interior.
    r = size // 2
    np.testing.assert_array_equal(median_labels(labels, size)[r:-r, r:-r], expect[r:-r, r:-r])
    big = labels.astype(np.uint16) * 10  # labels above 255 take another code path
    np.testing.assert_array_equal(
        median_labels(big, size)[r:-r, r:-r],
        median_filter(big, size=size, mode="reflect")[r:-r, r:-r],
    )


def test_fill_low_confidence_interpolates_from_neighbours() -> None:
    index = np.zeros((40, 60), np.uint16)
    index[:, 30:] = 4
    noisy = index.copy()
    rng = np.random.default_rng(3)
    hole = np.zeros_like(index, bool)
    hole[15:25, 5:15] = True  # a flat patch inside the depth-0 region
    hole[15:25, 45:55] = True  # and one inside the depth-4 region
    noisy[hole] = rng.integers(0, 5, hole.sum())
    out = fill_low_confidence(noisy, ~hole, sigma=4.0)
    np.testing.assert_array_equal(out[~hole], noisy[~hole])  # trusted pixels untouched
    np.testing.assert_array_equal(out[15:25, 5:15], 0)
    np.testing.assert_array_equal(out[15:25, 45:55], 4)


def test_fill_reaches_far_holes_by_widening() -> None:
    index = np.full((64, 64), 3, np.uint16)
    confident = np.zeros_like(index, bool)
    confident[:2, :2] = True
    index[2:, 2:] = 0
    out = fill_low_confidence(index, confident, sigma=2.0)
    np.testing.assert_array_equal(out, 3)


def test_smooth_large_approximates_gaussian() -> None:
    import cv2

    x = np.zeros((256, 256), np.float32)
    x[100:156, 100:156] = 1.0
    ref = cv2.GaussianBlur(x, (0, 0), 16, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(smooth_large(x, 16.0), ref, atol=0.03)


def test_transition_band_matches_brute_force() -> None:
    labels = np.random.default_rng(4).integers(0, 2, (12, 14)).astype(np.uint16)
    labels[:, :7] = 0
    win = _windows(labels, 5)
    expect = win.max(axis=(-2, -1)) != win.min(axis=(-2, -1))
    np.testing.assert_array_equal(transition_band(labels, 2), expect)


def test_smooth_depth_is_exact_away_from_changes() -> None:
    index = np.zeros((30, 40), np.uint16)
    index[:, 20:] = 3
    depth = smooth_depth(index, 2.0)
    band = transition_band(index, 6)
    np.testing.assert_array_equal(depth[~band], index[~band].astype(np.float32))
    row = depth[10]
    assert (np.diff(row) >= 0).all()  # a monotone ramp across the step
    assert 0 < row[19] < 3
    assert depth.min() >= 0
    assert depth.max() <= 3


def test_relative_threshold() -> None:
    best = np.linspace(0, 1, 10_000, dtype=np.float32).reshape(100, 100)
    assert relative_threshold(best, 0.5) == pytest.approx(0.5 * 0.99, rel=1e-3)


def test_lazy_maps_behave_like_an_array() -> None:
    calls: list[int] = []

    def compute(i: int) -> np.ndarray:
        calls.append(i)
        return np.full((4, 5), float(i), np.float32)

    maps = LazyMaps(3, (4, 5), compute, cache=1)
    assert len(maps) == 3
    assert maps.shape == (3, 4, 5)
    arr = np.asarray(maps)
    assert arr.shape == (3, 4, 5)
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr[:, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(maps[-1], 2.0)
    n_calls = len(calls)
    maps[-1]
    assert len(calls) == n_calls  # cached
    assert maps[1:].shape == (2, 4, 5)
    with pytest.raises(IndexError):
        maps[3]
