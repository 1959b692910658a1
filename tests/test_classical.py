"""Quality and exactness of the classical methods on stacks with a known answer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from mffgui.methods import get_method, list_methods
from mffgui.types import Stack

CLASSICAL = [info.name for info in list_methods() if info.kind == "classical"]
H, W = 224, 256
MARGIN = 16  # pixels this far from a focus boundary must be decided correctly


def _sharp_texture(seed: int, channels: int = 3) -> np.ndarray:
    """A textured (H, W, C) float32 image in [0, 1] with detail at several scales."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, channels), np.float32)
    for sigma, amp in ((0.7, 0.5), (1.5, 0.3), (4.0, 0.2)):
        noise = rng.standard_normal((H, W, channels)).astype(np.float32)
        img += (
            amp
            * cv2.GaussianBlur(noise, (0, 0), sigma).reshape(H, W, channels)
            / max(1e-6, float(cv2.GaussianBlur(noise, (0, 0), sigma).std()))
        )
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma).reshape(img.shape)


def _smooth_mask(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.standard_normal((H, W)).astype(np.float32), (0, 0), 24)
    return field > np.median(field)


def _half_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    return mask


def _far_from_boundary(labels: np.ndarray, margin: int) -> np.ndarray:
    """Pixels farther than ``margin`` from any change of ``labels`` (and from the border)."""
    far = np.ones(labels.shape, bool)
    for v in np.unique(labels):
        inside = (labels == v).astype(np.uint8)
        d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
        d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
        far &= np.maximum(d_in, d_out) > margin
    far[:margin, :] = far[-margin:, :] = False
    far[:, :margin] = far[:, -margin:] = False
    return far


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / mse)


def _pair(mask: np.ndarray, seed: int, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sharp = _sharp_texture(seed, channels)
    blurred = _blur(sharp, 3.0)
    m = mask[:, :, None]
    a = np.where(m, sharp, blurred)  # source 0 is sharp where mask
    b = np.where(m, blurred, sharp)
    return sharp, a, b


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize(("mask_kind", "channels"), [("halves", 3), ("smooth", 3), ("smooth", 1)])
def test_pair_fusion_beats_both_sources(name: str, mask_kind: str, channels: int) -> None:
    mask = _half_mask() if mask_kind == "halves" else _smooth_mask(7)
    sharp, a, b = _pair(mask, seed=3, channels=channels)
    res = get_method(name).fuse(Stack.from_arrays([a, b]))

    fused_psnr = _psnr(res.fused, sharp)
    assert fused_psnr > max(_psnr(a, sharp), _psnr(b, sharp)) + 3.0, fused_psnr

    far = _far_from_boundary(mask.astype(np.uint8), MARGIN)
    assert far.sum() > 0.25 * far.size
    decided = np.asarray(res.weights[0]) > 0.5
    agreement = float(np.mean(decided[far] == mask[far]))
    assert agreement >= 0.95, f"{name}: decision map agrees on {agreement:.1%}"
    # The index map tells the same story as the weights.
    assert float(np.mean((res.index_map[far] == 0) == mask[far])) >= 0.95


@pytest.mark.parametrize("name", CLASSICAL)
def test_pair_order_is_symmetric(name: str) -> None:
    """Swapping the sources swaps the decision (no method prefers source 0)."""
    mask = _smooth_mask(11)
    _, a, b = _pair(mask, seed=5, channels=3)
    m = get_method(name)
    ab = m.fuse(Stack.from_arrays([a, b]))
    ba = m.fuse(Stack.from_arrays([b, a]))
    far = _far_from_boundary(mask.astype(np.uint8), MARGIN)
    d_ab = np.asarray(ab.weights[0])[far] > 0.5
    d_ba = np.asarray(ba.weights[1])[far] > 0.5
    assert float(np.mean(d_ab == d_ba)) >= 0.98


def _layered_stack(n: int, seed: int, channels: int = 3) -> tuple[Stack, np.ndarray, np.ndarray]:
    """``n`` frames of a scene with ``n`` depth layers; frame k is sharp on layer k and blurred
    more the farther a layer is from k (as a real focus sweep)."""
    rng = np.random.default_rng(seed)
    sharp = _sharp_texture(seed, channels)
    field = cv2.GaussianBlur(rng.standard_normal((H, W)).astype(np.float32), (0, 0), 30)
    edges = np.quantile(field, np.linspace(0, 1, n + 1)[1:-1])
    layers = np.digitize(field, edges).astype(np.uint16)
    frames = []
    for k in range(n):
        frame = np.empty_like(sharp)
        for layer in range(n):
            dist = abs(layer - k)
            src = sharp if dist == 0 else _blur(sharp, 2.0 * dist)
            frame[layers == layer] = src[layers == layer]
        frames.append(frame)
    return Stack.from_arrays(frames), layers, sharp


@pytest.mark.parametrize("channels", [1, 3])
def test_depthmap_recovers_depth_layers(channels: int) -> None:
    stack, layers, sharp = _layered_stack(3, seed=21, channels=channels)
    res = get_method("depthmap").fuse(stack)
    far = _far_from_boundary(layers, MARGIN)
    assert far.sum() > 0.15 * far.size
    agreement = float(np.mean(res.index_map[far] == layers[far]))
    assert agreement >= 0.98, f"depth map agrees on {agreement:.1%}"
    # Away from boundaries the result is the sharp scene itself.
    np.testing.assert_allclose(
        res.fused[far & (res.index_map == layers)],
        sharp[far & (res.index_map == layers)],
        atol=1e-6,
    )
    assert _psnr(res.fused, sharp) > max(_psnr(f, sharp) for f in stack) + 3.0


@pytest.mark.parametrize("name", CLASSICAL)
def test_five_frame_stack_beats_every_frame(name: str) -> None:
    stack, layers, sharp = _layered_stack(5, seed=8)
    res = get_method(name).fuse(stack)
    assert _psnr(res.fused, sharp) > max(_psnr(f, sharp) for f in stack) + 2.0
    far = _far_from_boundary(layers, MARGIN // 2)
    assert float(np.mean(res.index_map[far] == layers[far])) >= 0.8


def _check_16bit_selection(frames_u16: list[np.ndarray], res, min_selected: float) -> None:
    """Where a pixel's weights are one-hot, the fused value IS that source's 16-bit value;
    everywhere else it lies between the sources' values (a convex blend)."""
    src = np.stack(frames_u16).astype(np.int64)  # (N, H, W)
    out = np.rint(res.fused[:, :, 0].astype(np.float64) * 65535).astype(np.int64)
    weights = np.asarray(res.weights)
    one_hot = weights.max(axis=0) == 1.0
    assert one_hot.mean() >= min_selected, "too few selected pixels for the test to mean much"
    chosen = np.take_along_axis(src, res.index_map[None].astype(np.int64), axis=0)[0]
    np.testing.assert_array_equal(out[one_hot], chosen[one_hot])
    assert (out >= src.min(axis=0)).all()
    assert (out <= src.max(axis=0)).all()


def test_depthmap_keeps_narrow_16bit_values_exact() -> None:
    stack, _, _ = _layered_stack(3, seed=30, channels=1)
    # Map to the narrow range of the DFNN microscopy data (36..689 of 65535), as integers.
    frames_u16 = [np.rint(36 + f[:, :, 0] * (689 - 36)).astype(np.uint16) for f in stack]
    res = get_method("depthmap").fuse(Stack.from_arrays(frames_u16))
    _check_16bit_selection(frames_u16, res, min_selected=0.5)
    # An 8-bit detour would collapse ~650 levels into about 3.
    assert len(np.unique(np.rint(res.fused * 65535))) > 300


def test_depthmap_exact_on_dfnn_16bit_stack() -> None:
    import tifffile

    folder = shared_path("data", "stacks", "dfnn-microtubules-16bit")
    files = sorted(folder.glob("*.tif"))[10:16]
    frames_u16 = [tifffile.imread(f).astype(np.uint16) for f in files]
    assert frames_u16[0].dtype == np.uint16
    assert frames_u16[0].max() < 1000
    method = get_method("depthmap")
    stack = Stack.from_arrays(frames_u16)
    # Noisy fluorescence data: depth changes almost everywhere, so most pixels are blends ...
    _check_16bit_selection(frames_u16, method.fuse(stack), min_selected=0.0)
    # ... while hard selection must reproduce a source value at every pixel.
    hard = method.fuse(stack, method.info.params(blend_sigma=0.0))
    _check_16bit_selection(frames_u16, hard, min_selected=1.0)


@pytest.mark.parametrize("name", CLASSICAL)
def test_lytro_pair_decision_is_plausible(name: str) -> None:
    """On a real pair the fused image is sharper than either source (more Laplacian energy)
    and the decision is not degenerate."""
    folder = shared_path("data", "lytro", "lytro_05")
    frames = []
    for f in sorted(folder.glob("*_[AB].jpg")):
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    res = get_method(name).fuse(Stack.from_arrays(frames))

    def sharpness(img: np.ndarray) -> float:
        gray = cv2.cvtColor(np.ascontiguousarray(img, np.float32), cv2.COLOR_RGB2GRAY)
        return float(np.mean(np.abs(cv2.Laplacian(gray, cv2.CV_32F))))

    sources = [f.astype(np.float32) / 255 for f in frames]
    assert sharpness(res.fused) > max(sharpness(s) for s in sources)
    share = float(np.mean(np.asarray(res.weights[0]) > 0.5))
    assert 0.1 < share < 0.9


@pytest.mark.parametrize("name", CLASSICAL)
def test_frame_of_another_size_is_a_clear_error(name: str) -> None:
    from mffgui.errors import StackMismatch

    good = np.zeros((40, 50, 3), np.float32)
    stack = Stack.from_arrays(
        [good, good, np.zeros((40, 52, 3), np.float32)], names=["a.png", "b.png", "c.png"]
    )
    with pytest.raises(StackMismatch, match=r"c\.png.*52x40"):
        get_method(name).fuse(stack)


def test_gff_with_colour_guidance_also_fuses_well() -> None:
    mask = _smooth_mask(7)
    sharp, a, b = _pair(mask, seed=3, channels=3)
    method = get_method("gff")
    res = method.fuse(Stack.from_arrays([a, b]), method.info.params(guide="color"))
    assert _psnr(res.fused, sharp) > max(_psnr(a, sharp), _psnr(b, sharp)) + 3.0
    far = _far_from_boundary(mask.astype(np.uint8), MARGIN)
    assert float(np.mean((np.asarray(res.weights[0])[far] > 0.5) == mask[far])) >= 0.95
