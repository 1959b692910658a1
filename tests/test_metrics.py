"""Properties of the fusion metrics, MATLAB-convention helpers and the score() API.

Values are checked against independent computations (scipy, explicit loops, closed forms) and
known properties (perfect fusion, invariances, the documented N > 2 generalisations).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.signal import correlate2d

from mffgui import metrics as M
from mffgui.metrics import common as C
from mffgui.metrics.phase import phase_congruency

RNG = np.random.default_rng(7)


def _scene(h: int = 96, w: int = 112) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured all-in-focus image and two complementary half-blurred sources (0..255)."""
    base = cv2.GaussianBlur(RNG.random((h, w)) * 255, (0, 0), 1.2)
    base = np.round(cv2.normalize(base, None, 10, 245, cv2.NORM_MINMAX))
    blur = np.round(cv2.GaussianBlur(base, (0, 0), 2.5))
    a, b = base.copy(), base.copy()
    a[:, w // 2 :] = blur[:, w // 2 :]
    b[:, : w // 2] = blur[:, : w // 2]
    return base, a, b


BASE, SRC_A, SRC_B = _scene()
FUSION = [M.qmi, M.qncie, M.qabf, M.qp, M.qe, M.qy, M.qcb, M.qcv]


# --- MATLAB conventions ----------------------------------------------------------------------


def test_matlab_round_is_half_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999])
    np.testing.assert_array_equal(C.matlab_round(x), [-3, -2, -1, 1, 2, 3, 2])


def test_gray255_is_rounded_rgb2gray():
    rgb = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    w = np.linalg.inv([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])[0]
    expect = np.floor(rgb.astype(np.float64) @ w + 0.5)
    np.testing.assert_array_equal(M.gray255(rgb), expect)
    np.testing.assert_array_equal(M.gray255(rgb[:, :, 1]), rgb[:, :, 1])
    # float [0, 1] and 16-bit inputs land on the same 8-bit levels
    np.testing.assert_array_equal(M.gray255(rgb.astype(np.float32) / 255), expect)
    np.testing.assert_array_equal(M.gray255(rgb.astype(np.uint16) * 257), expect)


@pytest.mark.parametrize("size", [3, 7, 11, 31])
def test_filter2_same_matches_scipy(size):
    x = RNG.random((40, 53)) * 255
    k = C.fspecial_gaussian_1d(size, 1.5)
    got = C.filter2_sep(x, k, shape="same")
    want = correlate2d(x, np.outer(k, k), mode="same", boundary="fill")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("size", [7, 8, 11])
def test_filter2_valid_matches_scipy(size):
    x = RNG.random((40, 53)) * 255
    k = np.arange(1, size + 1, dtype=np.float64)
    ky = np.linspace(0.5, 2, size)
    got = C.filter2_sep(x, k, ky, shape="valid")
    want = correlate2d(x, np.outer(ky, k), mode="valid")
    assert got.shape == (40 - size + 1, 53 - size + 1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_freqspace_matches_matlab_definition():
    u, v = C.freqspace(4, 5)
    np.testing.assert_allclose(u[0], [-0.8, -0.4, 0.0, 0.4, 0.8])
    np.testing.assert_allclose(v[:, 0], [-1.0, -0.5, 0.0, 0.5])


def test_blkproc_pads_partial_blocks_with_zeros():
    x = np.arange(20, dtype=np.float64).reshape(4, 5)
    blocks = C.blkproc_pad(x, 3)
    assert blocks.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(blocks[1, 1], [[18, 19, 0], [0, 0, 0], [0, 0, 0]])


def test_normalize1_stretches_and_rounds():
    x = np.array([[2.0, 3.0], [4.0, 6.0]])
    # (x - 2) / 4 * 255 = 0, 63.75, 127.5, 255 -> MATLAB round
    np.testing.assert_array_equal(C.normalize1(x), [[0, 64], [128, 255]])
    assert not C.normalize1(np.full((3, 3), 7.0)).any()


# --- closed forms and independent computations ------------------------------------------------


def _mi_loop(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    h, _, _ = np.histogram2d(a.ravel(), b.ravel(), bins=256, range=[[-0.5, 255.5]] * 2)
    p = h / h.sum()

    def ent(q):
        q = q[q > 0]
        return -sum(float(v) * math.log2(float(v)) for v in q)

    ha, hb, hab = ent(p.sum(1)), ent(p.sum(0)), ent(p.ravel())
    return ha + hb - hab, ha, hb


def test_qmi_equals_hossny_formula():
    f = np.round((SRC_A + SRC_B) / 2)
    mi_a, ha, hf = _mi_loop(C.normalize1(SRC_A), C.normalize1(f))
    mi_b, hb, _ = _mi_loop(C.normalize1(SRC_B), C.normalize1(f))
    want = 2 * (mi_a / (ha + hf) + mi_b / (hb + hf))
    assert M.qmi([SRC_A, SRC_B], f) == pytest.approx(want, rel=1e-12)


def test_qncie_is_one_for_identical_images_with_flat_histogram():
    # NCC(x, x) = H(x) / 8 = 1 when all 256 levels are equally frequent; R is then all ones.
    img = RNG.permutation(np.repeat(np.arange(256.0), 36)).reshape(96, 96)
    assert M.qncie([img, img], img) == pytest.approx(1.0, abs=1e-12)
    assert M.qncie([SRC_A, SRC_B], BASE) < 1.0


def test_qabf_of_perfect_copy_is_the_sigmoid_ceiling():
    # Equal gradients everywhere: G = 1 and A = 1 at every pixel.
    ceiling = 0.9994 / (1 + math.exp(-15 * 0.5)) * 0.9879 / (1 + math.exp(-22 * 0.2))
    assert M.qabf([BASE, BASE], BASE) == pytest.approx(ceiling, rel=1e-12)


def test_perfect_fusion_of_identical_sources():
    assert M.qy([BASE, BASE], BASE) == pytest.approx(1.0, abs=1e-9)
    assert M.qcb([BASE, BASE], BASE) == pytest.approx(1.0, abs=1e-12)
    assert M.qcv([BASE, BASE], BASE) == 0.0
    assert M.qe([BASE, BASE], BASE) == pytest.approx(1.0, abs=1e-6)


def test_qp_ignores_contrast():
    # Phase congruency is dimensionless, and so is the correlation Q_P is built from. (Q_P of a
    # perfect fusion is below 1: the reference masks the source maps but not the fused one.)
    v = M.qp([SRC_A, SRC_B], BASE)
    # (only the tiny epsilons of phasecong3 break exact invariance)
    assert M.qp([SRC_A * 0.5, SRC_B * 0.5], BASE * 0.5) == pytest.approx(v, rel=1e-4)
    assert 0.5 < v < 1


def test_sharp_fusion_beats_blurred_fusion():
    blurred = np.round(cv2.GaussianBlur(BASE, (0, 0), 2.5))
    for f in FUSION:
        good, bad = f([SRC_A, SRC_B], BASE), f([SRC_A, SRC_B], blurred)
        if f is M.qcv:
            assert good < bad, f.__name__
        else:
            assert good > bad, f.__name__


@pytest.mark.parametrize(
    "metric", [M.qmi, M.qabf, M.qp, M.qe, M.qy, M.qcb, M.qcv], ids=lambda f: f.__name__
)
def test_n_source_generalisation_reduces_to_pairs(metric):
    # Documented generalisations: repeating every source leaves the score unchanged.
    pair = metric([SRC_A, SRC_B], BASE)
    assert metric([SRC_A, SRC_A, SRC_B, SRC_B], BASE) == pytest.approx(pair, rel=1e-9)


def test_qncie_with_three_sources_uses_the_4x4_matrix():
    third = np.round(cv2.GaussianBlur(BASE, (0, 0), 1.0))
    v = M.qncie([SRC_A, SRC_B, third], BASE)
    imgs = [C.normalize1(x) for x in (SRC_A, SRC_B, third, BASE)]
    r = np.eye(4)
    for i in range(4):
        for j in range(i + 1, 4):
            mi, _, _ = _mi_loop(imgs[i], imgs[j])
            r[i, j] = r[j, i] = mi / 8
    ev = np.linalg.eigvalsh(r)
    assert v == pytest.approx(1 + np.sum(ev / 4 * np.log2(ev / 4)) / 8, rel=1e-10)


def test_fusion_metrics_reject_bad_inputs():
    with pytest.raises(ValueError, match="two source"):
        M.qabf([SRC_A], BASE)
    with pytest.raises(ValueError, match="same-size"):
        M.qmi([SRC_A, SRC_B[:-1]], BASE)


# --- phase congruency ---------------------------------------------------------------------------


def test_phase_congruency_marks_a_step_edge_and_ignores_contrast():
    img = np.zeros((64, 64))
    img[:, 32:] = 200.0
    img += RNG.normal(0, 0.5, img.shape)
    pc = phase_congruency(img)
    assert pc.pc[20:44, 31:33].mean() > 0.5
    assert pc.pc[20:44, 8:20].mean() < 0.05
    scaled = phase_congruency(img * 0.25)
    np.testing.assert_allclose(scaled.pc, pc.pc, atol=1e-3)
    assert np.all(pc.max_moment >= pc.min_moment)


# --- fused-image statistics -------------------------------------------------------------------


def test_entropy_of_uniform_levels_is_eight_bits():
    img = np.repeat(np.arange(256, dtype=np.float64), 4).reshape(32, 32)
    assert M.entropy(img) == pytest.approx(8.0)
    assert M.entropy(np.full((8, 8), 3.0)) == 0.0


def test_spatial_frequency_and_gradient_by_hand():
    f = RNG.integers(0, 256, (9, 11)).astype(np.float64)
    rf = sum((f[i, j] - f[i, j - 1]) ** 2 for i in range(9) for j in range(1, 11)) / 99
    cf = sum((f[i, j] - f[i - 1, j]) ** 2 for i in range(1, 9) for j in range(11)) / 99
    assert M.spatial_frequency(f) == pytest.approx(math.sqrt(rf + cf), rel=1e-12)
    ramp = np.add.outer(np.arange(6) * 3.0, np.arange(7) * 4.0)  # gy = 3, gx = 4 everywhere
    assert M.average_gradient(ramp) == pytest.approx(6 * 7 * math.sqrt(12.5) / (5 * 6))
    assert M.standard_deviation(f) == pytest.approx(float(np.std(f)))


def test_psnr_and_ssim():
    noisy = BASE + RNG.normal(0, 5, BASE.shape)
    mse = np.mean((noisy - BASE) ** 2)
    assert M.psnr(noisy, BASE) == pytest.approx(10 * math.log10(255**2 / mse))
    assert M.psnr(BASE, BASE) == math.inf
    assert M.ssim(BASE, BASE) == pytest.approx(1.0)
    assert 0 < M.ssim(noisy, BASE) < 1
    with pytest.raises(ValueError, match="11x11"):
        M.ssim(BASE[:8, :8], BASE[:8, :8])


# --- score() API ----------------------------------------------------------------------------------


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray.astype(np.uint8)[:, :, None], 3, axis=2)


def test_score_returns_every_metric_in_order():
    got = M.score(_rgb(BASE), [_rgb(SRC_A), _rgb(SRC_B)])
    assert list(got) == [m for m in M.METRICS if M.METRICS[m].kind != "reference"]
    assert got["QG"] == M.qabf([SRC_A, SRC_B], BASE)
    withgt = M.score(
        _rgb(BASE),
        [_rgb(SRC_A), _rgb(SRC_B)],
        ground_truth=_rgb(BASE),
        metrics=["psnr", "SSIM", "qabf"],
    )
    assert list(withgt) == ["PSNR", "SSIM", "QG"]
    assert withgt["PSNR"] == math.inf
    assert withgt["SSIM"] == pytest.approx(1.0)


def test_score_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown metric"):
        M.score(BASE, [SRC_A, SRC_B], metrics=["QXYZ"])
    with pytest.raises(ValueError, match="differs"):
        M.score(BASE, [SRC_A, SRC_B[:, :-2]])
    with pytest.raises(ValueError, match="two source"):
        M.score(BASE, [SRC_A])


@pytest.mark.parametrize("metric", [M.qe, M.qy])
def test_structural_metrics_document_their_inputs(metric):
    # The Parameters/Returns sections are written once and filled in by a decorator.
    doc = metric.__doc__
    assert "{" not in doc
    assert "sources : sequence of ndarray, each (H, W) float64" in doc
    assert "At most 1, higher is better." in doc
