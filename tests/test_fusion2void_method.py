"""The fusion2void method: symmetry, tiling, stacks, gray input, attribution, errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mffgui.methods.fusion2void as f2v  # noqa: E402
from mffgui.errors import TooFewImages, WeightsError  # noqa: E402
from mffgui.methods import get_method  # noqa: E402
from mffgui.models.fusion2void import build_pair_model  # noqa: E402
from mffgui.models.weights import save_checkpoint  # noqa: E402
from mffgui.types import Stack  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random-initialised F=4 checkpoint (the method must not care how it was trained)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("f2v") / "random.pt"
    save_checkpoint(
        path,
        "fusion2void",
        build_pair_model({"features": 4}).state_dict(),
        {"features": 4},
        {"name": "test"},
    )
    return str(path)


def _frames(n: int, shape=(70, 60, 3), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(shape).astype(np.float32) for _ in range(n)]


def _fuse(frames, **params):
    return get_method("fusion2void").fuse(
        Stack.from_arrays(frames), f2v.Fusion2VoidParams(**params)
    )


def test_pair_is_symmetric(weights):
    a, b = _frames(2)
    r1 = _fuse([a, b], weights=weights, tile=0)
    r2 = _fuse([b, a], weights=weights, tile=0)
    np.testing.assert_allclose(r1.fused, r2.fused, atol=1e-6)
    np.testing.assert_allclose(r1.weights[0], r2.weights[1], atol=1e-5)


def test_pair_equals_average_of_both_orders(weights):
    a, b = _frames(2, seed=1)
    net, _ = f2v.load_model(f2v.resolve_weights(weights), torch.device("cpu"))
    ta = torch.from_numpy(a.transpose(2, 0, 1).copy())[None]
    tb = torch.from_numpy(b.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        ref = ((net(ta, tb) + net(tb, ta)) / 2)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(_fuse([a, b], weights=weights).fused, ref, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("tile", [16, 25, 64])
def test_tiled_equals_whole(weights, tile):
    a, b = _frames(2, shape=(83, 71, 3), seed=2)
    whole = _fuse([a, b], weights=weights, tile=0)
    tiled = _fuse([a, b], weights=weights, tile=tile)
    np.testing.assert_allclose(tiled.fused, whole.fused, atol=2e-6)


def test_a_smaller_overlap_would_change_the_result(weights, monkeypatch):
    """The overlap must be the full receptive radius: a shorter one gives visible seams."""
    import mffgui.models.fusion2void as model

    a, b = _frames(2, shape=(83, 71, 3), seed=2)
    whole = _fuse([a, b], weights=weights, tile=0).fused
    monkeypatch.setattr(model, "receptive_radius", lambda: 4)
    seams = _fuse([a, b], weights=weights, tile=32).fused
    assert np.abs(seams - whole).max() > 1e-4


def test_result_contract_for_stacks(weights):
    frames = _frames(5, seed=3)
    r = _fuse(frames, weights=weights, tile=32)
    w = np.asarray(r.weights)
    assert r.fused.shape == (70, 60, 3)
    assert r.fused.dtype == np.float32
    assert w.shape == (5, 70, 60)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-5)
    assert w.min() >= 0.0
    np.testing.assert_array_equal(r.index_map, np.argmax(w, axis=0))
    assert r.index_map.dtype == np.uint16
    fm = np.asarray(r.focus_maps)
    assert fm.shape == (5, 70, 60)
    assert fm.min() >= 0.0
    assert fm.max() == pytest.approx(1.0)
    assert r.meta["strategy"] == "pyramid"
    assert r.meta["features"] == 4
    assert _fuse(frames, weights=weights, strategy="tree").meta["strategy"] == "tree"
    assert _fuse(frames[:2], weights=weights).meta["strategy"] == "pair"


def test_gray_stack_gives_gray_result_equal_to_replicated_rgb(weights):
    g = [f[:, :, :1] for f in _frames(2, seed=4)]
    rg = _fuse(g, weights=weights)
    rc = _fuse([np.repeat(x, 3, axis=2) for x in g], weights=weights)
    assert rg.fused.shape == (70, 60, 1)
    luma = 0.2125 * rc.fused[:, :, 0] + 0.7154 * rc.fused[:, :, 1] + 0.0721 * rc.fused[:, :, 2]
    np.testing.assert_allclose(rg.fused[:, :, 0], luma, atol=1e-5)


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


def test_decision_map_follows_the_sharp_source(weights, monkeypatch):
    import cv2

    sharp = _frames(1, shape=(64, 64, 3), seed=5)[0]
    blur = cv2.GaussianBlur(sharp, (0, 0), 3)
    a = sharp.copy()
    a[:, :32] = blur[:, :32]  # A sharp on the right
    b = sharp.copy()
    b[:, 32:] = blur[:, 32:]  # B sharp on the left
    monkeypatch.setattr(f2v, "load_model", lambda path, device: (_SharperPicker(), {}))
    r = _fuse([a, b], weights=weights)
    dec = r.decision_map
    assert dec[:, 40:].mean() > 0.9
    assert dec[:, :24].mean() < 0.1
    assert (r.index_map[:, 40:] == 0).mean() > 0.9


def test_missing_bundled_weights_is_a_clear_error(monkeypatch):
    import mffgui.models.weights as w

    monkeypatch.setattr(w, "bundled_weights", lambda arch: None)
    with pytest.raises(WeightsError, match="no Fusion2Void weights"):
        _fuse(_frames(2))
    with pytest.raises(WeightsError, match="not found"):
        _fuse(_frames(2), weights="/nonexistent/f2v.pt")


def test_wrong_architecture_checkpoint(tmp_path):
    p = tmp_path / "gacn.pt"
    save_checkpoint(p, "gacn", {"x": torch.zeros(1)}, {}, {})
    with pytest.raises(WeightsError, match="gacn"):
        _fuse(_frames(2), weights=str(p))


def test_one_frame_is_rejected(weights):
    with pytest.raises(TooFewImages):
        _fuse(_frames(1), weights=weights)


def test_out_of_memory_shrinks_tiles_then_falls_back_to_cpu(weights, monkeypatch):
    real = f2v.fuse_pair_tensor
    calls = []

    def fake(net, a, b, device, tile, cancel=f2v.NEVER):
        calls.append((device.type, tile))
        if device.type != "cpu":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(net, a, b, device, tile, cancel)

    monkeypatch.setattr(f2v, "fuse_pair_tensor", fake)
    monkeypatch.setattr(f2v, "load_model", lambda path, device: (_SharperPicker(), {}))
    runner = f2v._Runner(f2v.resolve_weights(weights), torch.device("meta"), 600, f2v.NEVER)
    a, b = _frames(2)
    out = runner(a, b)
    assert out.shape == (70, 60, 3)
    assert calls == [("meta", 600), ("meta", 300), ("meta", 150), ("cpu", 150)]
    assert runner.place.device.type == "cpu"
    assert any("CPU" in n for n in runner.place.notes)


def _live_tensors() -> int:
    """Tensors the garbage collector can reach (tested by type: ``isinstance`` on every
    object would touch deprecated torch attributes and warn)."""
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["pyramid", "tree"])
def test_memory_does_not_grow_with_frame_count(weights, monkeypatch, inline_read_ahead, strategy):
    """From 4 to 16 frames the traced peak grows by less than a tenth of an (H, W) map per
    frame: the tree holds O(log N) images, the pyramid streams the pair outputs from a file,
    and the per-frame maps spill to a file (forced here with ``EAGER_MAPS_BYTES = 0``, as a
    big stack does at the 64 MiB default). No tensor outlives a run (tracemalloc sees numpy's
    memory, not torch's)."""
    import tracemalloc

    from mffgui.core import decision

    monkeypatch.setattr(decision, "EAGER_MAPS_BYTES", 0)
    # The pyramid's Laplacian pass decodes the next pair output in a read-ahead thread; whether
    # it is done at the peak varied the peak by one image from run to run (a quarter of a map
    # per frame over 12 frames); ``inline_read_ahead`` reads it in the caller.
    # 96 x 80: a map (30 KiB) dwarfs the per-frame bookkeeping (Python objects, about 1 KiB a
    # frame); at 48 x 40 that bookkeeping alone was 0.2 of a map per frame, near the bar.
    shape = (96, 80, 3)
    map_bytes = shape[0] * shape[1] * 4
    method = get_method("fusion2void")
    params = method.info.params(weights=str(weights), device="cpu", strategy=strategy)
    method.fuse(Stack.from_arrays(_frames(4, shape)), params)  # warms up the model cache
    tensors = _live_tensors()
    peaks: dict[int, int] = {}
    for n in (4, 16):
        stack = Stack.from_arrays(_frames(n, shape))
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            res = method.fuse(stack, params)
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert res.index_map.max() < n
        del res
        assert _live_tensors() == tensors, "a run left tensors behind"
    # The tree holds one (H, W, 3) image per level: log2(16) - log2(4) = 2 more at 16 frames.
    held = 2 * map_bytes * 3 if strategy == "tree" else 0
    per_frame = (peaks[16] - peaks[4] - held) / 12
    assert per_frame < 0.1 * map_bytes, (peaks, per_frame, map_bytes)
