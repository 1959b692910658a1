"""Fusion2Void stack strategies: pairs unchanged, frame k wins band k, weights, the pyramid."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mffgui.methods.fusion2void as f2v  # noqa: E402
from mffgui.core.attribution import attribute_pair  # noqa: E402
from mffgui.core.synthetic import render_focus_stack, sharp_scene  # noqa: E402
from mffgui.methods import get_method  # noqa: E402
from mffgui.methods.fusion2void_stack import STRATEGIES, fuse_stack  # noqa: E402
from mffgui.models.fusion2void import build_pair_model  # noqa: E402
from mffgui.models.weights import bundled_weights, save_checkpoint  # noqa: E402
from mffgui.types import Stack  # noqa: E402

BANDS = 5
BAND_W = 48


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random-initialised F=4 checkpoint."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("f2vs") / "random.pt"
    save_checkpoint(
        path,
        "fusion2void",
        build_pair_model({"features": 4}).state_dict(),
        {"features": 4},
        {"name": "test"},
    )
    return str(path)


def _fuse(frames, **params):
    return get_method("fusion2void").fuse(
        Stack.from_arrays(list(frames)), f2v.Fusion2VoidParams(**params)
    )


def _band_stack(n: int = BANDS) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames of a procedural scene whose depth is constant in ``n`` vertical bands:
    band ``k`` is at frame ``k``'s focal plane, so frame ``k`` is the sharp one there."""
    sharp = sharp_scene(64, n * BAND_W, seed=3)
    depth = np.repeat(np.arange(n, dtype=np.float32) / (n - 1), BAND_W)[None].repeat(64, 0)
    return render_focus_stack(sharp, depth, n, max_sigma=8.0), sharp


def _interior(k: int) -> slice:
    return slice(k * BAND_W + 12, (k + 1) * BAND_W - 12)


def test_strategies_and_default():
    assert STRATEGIES[0] == f2v.Fusion2VoidParams().strategy == "pyramid"
    assert "tree" in STRATEGIES
    with pytest.raises(ValueError, match="strategy"):
        fuse_stack(Stack.from_arrays([np.zeros((8, 8, 3))] * 3), "nope", None, 3)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pairs_are_fused_exactly_as_before(weights, strategy):
    """N = 2 is the old pair rule bit for bit under every strategy: the symmetric network
    output (``fuse_pair_tensor``) and its attribution as the weights."""
    rng = np.random.default_rng(7)
    a, b = (rng.random((50, 44, 3)).astype(np.float32) for _ in range(2))
    net, _ = f2v.load_model(f2v.resolve_weights(weights), torch.device("cpu"))
    ref = f2v.fuse_pair_tensor(net, a, b, torch.device("cpu"), 1024)
    wl = attribute_pair(ref, a, b, 3)
    r = _fuse([a, b], weights=weights, device="cpu", strategy=strategy)
    np.testing.assert_array_equal(r.fused, ref)
    np.testing.assert_array_equal(np.asarray(r.weights[0]), wl)
    np.testing.assert_array_equal(np.asarray(r.weights[1]), 1.0 - wl)
    assert r.meta["strategy"] == "pair"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_weights_are_a_partition_for_stacks(weights, strategy):
    frames, _ = _band_stack(4)
    r = _fuse(frames, weights=weights, device="cpu", strategy=strategy)
    w = np.asarray(r.weights)
    assert w.shape == (4, *frames.shape[1:3])
    assert w.min() >= 0.0
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-5)
    assert r.fused.min() >= 0.0
    assert r.fused.max() <= 1.0
    assert r.meta["strategy"] == strategy


class _SharperPicker(torch.nn.Module):
    """Symmetric stand-in network: per pixel, the input with more local detail."""

    features = 0

    def forward(self, a, b):
        def detail(x):
            lo = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
            return torch.nn.functional.avg_pool2d(
                (x - lo).abs().mean(1, keepdim=True), 7, 1, 3, count_include_pad=False
            )

        return torch.where(detail(a) >= detail(b), a, b)


@pytest.mark.parametrize("net", ["picker", "bundled"])
def test_frame_k_wins_band_k(weights, monkeypatch, net):
    """On a stack whose band k is in focus only in frame k, the pyramid strategy's index map
    names frame k inside band k and the result there is close to the sharp scene. (With the
    real network the attribution may split a band between frame k and a neighbour.)"""
    if net == "picker":
        monkeypatch.setattr(f2v, "load_model", lambda path, device: (_SharperPicker(), {}))
        path = weights
    else:
        if bundled_weights("fusion2void") is None:
            pytest.skip("no bundled Fusion2Void weights")
        path = None
    share, closer = (0.9, 0.5) if net == "picker" else (0.3, 1.0)
    frames, sharp = _band_stack()
    r = _fuse(frames, weights=path, device="cpu")
    assert r.meta["strategy"] == "pyramid"
    for k in range(BANDS):
        band = (slice(12, -12), _interior(k))
        counts = np.bincount(r.index_map[band].ravel(), minlength=BANDS)
        if net == "picker":
            assert counts.argmax() == k, (k, counts)
            assert counts[k] > share * counts.sum(), (k, counts)
        else:  # the attribution may split frame k's band with a neighbour, never further
            assert counts[max(k - 1, 0) : k + 2].sum() > 0.95 * counts.sum(), (k, counts)
            assert counts[k] > 0.3 * counts.sum(), (k, counts)
        err = np.abs(r.fused[band] - sharp[band]).mean()
        blurred = min(np.abs(frames[j][band] - sharp[band]).mean() for j in range(BANDS) if j != k)
        assert err < closer * blurred, (k, err, blurred)


def test_pyramid_beats_tree_with_the_bundled_network():
    """The reason for the default: on a small ground-truth stack the adjacent-pairs pyramid is
    closer to the all-in-focus image than the tree (bundled weights)."""
    from mffgui.core.synthetic import ground_truth_stack
    from mffgui.metrics import psnr

    if bundled_weights("fusion2void") is None:
        pytest.skip("no bundled Fusion2Void weights")
    sharp = sharp_scene(96, 128, seed=5)
    gt = ground_truth_stack(sharp, 5, seed=2, max_sigma=6.0)
    scores = {}
    for strategy in STRATEGIES:
        fused = _fuse(gt.frames, device="cpu", strategy=strategy).fused
        scores[strategy] = psnr(np.rint(fused * 255), np.rint(gt.sharp * 255))
    assert scores["pyramid"] > scores["tree"], scores
