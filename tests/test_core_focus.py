"""Focus measures against explicit numpy formulas and the defining property (sharp > blurred)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from mffgui.core.focus import (
    energy_of_laplacian,
    focus_measure,
    laplacian_saliency,
    luma,
    modified_laplacian,
    sum_modified_laplacian,
)
from mffgui.types import to_gray


@pytest.fixture
def img() -> np.ndarray:
    return np.random.default_rng(5).random((21, 26), dtype=np.float32)


def _ml_reference(g: np.ndarray, s: int) -> np.ndarray:
    p = np.pad(g.astype(np.float64), s, mode="symmetric")
    c = p[s:-s, s:-s]
    dx = np.abs(2 * c - p[s:-s, : -2 * s] - p[s:-s, 2 * s :])
    dy = np.abs(2 * c - p[: -2 * s, s:-s] - p[2 * s :, s:-s])
    return dx + dy


@pytest.mark.parametrize("step", [1, 2])
def test_modified_laplacian_formula(img: np.ndarray, step: int) -> None:
    np.testing.assert_allclose(modified_laplacian(img, step), _ml_reference(img, step), atol=1e-5)


def test_sml_is_window_mean_of_ml(img: np.ndarray) -> None:
    expect = uniform_filter(_ml_reference(img, 1), size=7, mode="reflect")
    np.testing.assert_allclose(sum_modified_laplacian(img, 3), expect, atol=1e-5)


def test_energy_of_laplacian_formula(img: np.ndarray) -> None:
    p = np.pad(img.astype(np.float64), 1, mode="symmetric")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]
    expect = uniform_filter(lap**2, size=5, mode="reflect")
    np.testing.assert_allclose(energy_of_laplacian(img, 2), expect, atol=1e-5)


def test_gff_saliency_is_gaussian_of_abs_laplacian(img: np.ndarray) -> None:
    p = np.pad(img.astype(np.float64), 1, mode="symmetric")
    lap = np.abs(p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1])
    k1 = cv2.getGaussianKernel(11, 5.0)[:, 0]
    pad = np.pad(lap, 5, mode="symmetric")
    rows = np.stack([np.convolve(r, k1, mode="valid") for r in pad])
    expect = np.stack([np.convolve(c, k1, mode="valid") for c in rows.T]).T
    np.testing.assert_allclose(laplacian_saliency(img, 5, 5.0), expect, atol=1e-5)


@pytest.mark.parametrize("kind", ["sml", "eol"])
@pytest.mark.parametrize("presmooth", [0.0, 1.0])
def test_focus_prefers_the_sharp_image(img: np.ndarray, kind: str, presmooth: float) -> None:
    blurred = cv2.GaussianBlur(img, (0, 0), 1.5)
    sharp_f = focus_measure(img, kind, 3, presmooth)
    blur_f = focus_measure(blurred, kind, 3, presmooth)
    assert (sharp_f > blur_f).mean() > 0.95
    assert (sharp_f >= 0).all()


def test_unknown_focus_measure(img: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown focus measure"):
        focus_measure(img, "nope")  # type: ignore[arg-type]


def test_luma_matches_to_gray() -> None:
    rgb = np.random.default_rng(1).random((9, 11, 3), dtype=np.float32)
    np.testing.assert_allclose(luma(rgb), to_gray(rgb), atol=1e-6)
    np.testing.assert_array_equal(luma(rgb[:, :, :1]), rgb[:, :, 0])


@pytest.mark.parametrize("sigma", [0.8, 1.0, 2.5])
def test_presmoothed_sml_equals_blur_then_sml(img: np.ndarray, sigma: float) -> None:
    from mffgui.core.filters import gaussian

    expect = sum_modified_laplacian(gaussian(img, sigma), 3)
    np.testing.assert_allclose(focus_measure(img, "sml", 3, sigma), expect, atol=1e-6)
