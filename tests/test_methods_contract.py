"""The method contract, checked for EVERY registered method (network ones too, when usable)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mffgui.core import decision
from mffgui.core.progress import CancelToken
from mffgui.errors import Cancelled, ParamsError, TooFewImages, WeightsError
from mffgui.methods import get_method, list_methods
from mffgui.types import Stack

H, W = 72, 88  # not square, so transposed outputs are caught

METHODS = [info.name for info in list_methods()]
CLASSICAL = [info.name for info in list_methods() if info.kind == "classical"]


def _texture(rng: np.random.Generator, channels: int) -> np.ndarray:
    import cv2

    noise = rng.random((H, W, channels), dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 1.5).reshape(H, W, channels)
    return np.clip((smooth - smooth.mean()) * 4 + 0.5, 0, 1).astype(np.float32)


def _stack(n: int, channels: int, seed: int = 0) -> Stack:
    import cv2

    rng = np.random.default_rng(seed)
    sharp = _texture(rng, channels)
    frames = []
    for k in range(n):
        blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0).reshape(H, W, channels)
        # Frame k is sharp in the k-th vertical band.
        x0, x1 = k * W // n, (k + 1) * W // n
        f = blurred.copy()
        f[:, x0:x1] = sharp[:, x0:x1]
        frames.append(f)
    return Stack.from_arrays(frames)


def _fuse(name: str, stack: Stack, **kw):
    """Fuse with default parameters; every network method ships bundled weights, so weights
    that are missing or do not load are a bug and fail."""
    from mffgui.models.weights import bundled_weights

    method = get_method(name)
    try:
        return method.fuse(stack, method.info.params(), **kw)
    except WeightsError as exc:
        if bundled_weights(name) is not None:
            pytest.fail(f"{name}: the bundled weights do not load ({exc})")
        pytest.fail(f"{name}: no bundled weights in resources/weights ({exc})")


def _check_result(res, n: int, channels: int, name: str) -> None:
    assert res.fused.shape == (H, W, channels)
    assert res.fused.dtype == np.float32
    assert np.isfinite(res.fused).all()
    assert res.fused.min() >= 0.0
    assert res.fused.max() <= 1.0

    assert res.index_map.shape == (H, W)
    assert res.index_map.dtype == np.uint16
    assert int(res.index_map.max()) < n

    weights = np.asarray(res.weights)
    assert weights.shape == (n, H, W)
    assert weights.dtype == np.float32
    assert len(res.weights) == n
    assert np.asarray(res.weights[n - 1]).shape == (H, W)
    assert weights.min() >= -1e-6
    assert weights.max() <= 1 + 1e-6
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-4)

    focus = np.asarray(res.focus_maps)
    assert focus.shape == (n, H, W)
    assert np.isfinite(focus).all()
    assert focus.min() >= 0.0
    assert focus.max() <= 1.0

    assert res.meta["method"] == name
    assert isinstance(res.meta["params"], dict)
    assert "timings" in res.meta
    if n == 2:
        np.testing.assert_array_equal(res.decision_map, weights[0])


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize(("n", "channels"), [(2, 3), (2, 1), (3, 3), (3, 1)])
def test_result_contract(name: str, n: int, channels: int) -> None:
    calls: list[tuple[float, float, str]] = []
    res = _fuse(name, _stack(n, channels), progress=lambda d, t, s="": calls.append((d, t, s)))
    _check_result(res, n, channels, name)
    assert calls, "progress was never reported"
    done = [c[0] for c in calls]
    assert done == sorted(done), "progress went backwards"
    assert all(0 <= d <= t for d, t, _ in calls)
    assert calls[-1][0] == calls[-1][1], "progress did not reach its total"


@pytest.mark.parametrize("name", METHODS)
def test_cancel_before_start_raises(name: str) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        _fuse(name, _stack(3, 3), cancel=token)


@pytest.mark.parametrize("name", METHODS)
def test_cancel_during_work_raises(name: str) -> None:
    token = CancelToken()
    seen: list[float] = []

    def progress(done: float, total: float, stage: str = "") -> None:
        seen.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        _fuse(name, _stack(3, 3), progress=progress, cancel=token)
    assert seen, "cancel was requested from progress, which was never called"


@pytest.mark.parametrize("name", METHODS)
def test_single_image_is_refused(name: str) -> None:
    with pytest.raises(TooFewImages):
        _fuse(name, _stack(3, 3)[:1])


@pytest.mark.parametrize("name", METHODS)
def test_params_are_described_and_round_trip(name: str) -> None:
    info = get_method(name).info
    defaults = info.params()
    described = info.params.describe()
    assert [d["name"] for d in described] == [f.name for f in dataclasses.fields(defaults)]
    for d in described:
        assert d["help"], f"{name}.{d['name']} has no help text"
    # Every default survives the CLI's string form.
    as_text = {k: str(v) for k, v in defaults.to_dict().items()}
    assert info.params.from_mapping(as_text) == defaults
    assert info.citation
    assert info.title
    assert info.description
    with pytest.raises(ParamsError):
        info.params.from_mapping({"no_such_parameter": "1"})


@pytest.mark.parametrize("name", CLASSICAL)
def test_numeric_params_out_of_range_are_refused(name: str) -> None:
    info = get_method(name).info
    for d in info.params.describe():
        if d["min"] is not None:
            with pytest.raises(ParamsError):
                info.params.from_mapping({d["name"]: str(d["min"] - 1)})


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("channels", [1, 3])
def test_lazy_maps_equal_eager_maps(
    name: str, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deep stacks get recomputed (lazy) maps; they must be the same maps as held arrays."""
    stack = _stack(3, channels, seed=4)
    eager = _fuse(name, stack)
    assert isinstance(eager.weights, np.ndarray)
    monkeypatch.setattr(decision, "EAGER_MAPS_BYTES", 0)
    lazy = _fuse(name, stack)
    assert isinstance(lazy.weights, decision.LazyMaps)
    _check_result(lazy, 3, channels, name)
    np.testing.assert_array_equal(lazy.fused, eager.fused)
    np.testing.assert_array_equal(lazy.index_map, eager.index_map)
    np.testing.assert_allclose(np.asarray(lazy.weights), eager.weights, atol=1e-6)
    np.testing.assert_allclose(np.asarray(lazy.focus_maps), eager.focus_maps, atol=1e-6)
    np.testing.assert_allclose(lazy.weights[1], eager.weights[1], atol=1e-6)


@pytest.mark.parametrize("name", CLASSICAL)
def test_sources_are_not_modified(name: str) -> None:
    stack = _stack(3, 3, seed=2)
    before = [f.copy() for f in stack]
    _fuse(name, stack)
    for a, b in zip(before, stack, strict=True):
        np.testing.assert_array_equal(a, b)


def _bands(n: int, w: int = 200, h: int = 64) -> Stack:
    """N frames of one texture; frame k is the only sharp one in the k-th vertical band, the
    others blurred by σ growing with the frame number (no exact ties)."""
    import cv2

    rng = np.random.default_rng(7)
    noise = rng.random((h, w, 3), dtype=np.float32)
    sharp = np.clip((cv2.GaussianBlur(noise, (0, 0), 1.2) - 0.5) * 5 + 0.5, 0, 1)
    frames = []
    for k in range(n):
        f = cv2.GaussianBlur(sharp, (0, 0), 2.0 + 0.5 * k)
        x0, x1 = k * w // n, (k + 1) * w // n
        f[:, x0:x1] = sharp[:, x0:x1]
        frames.append(np.ascontiguousarray(f, dtype=np.float32))
    return Stack.from_arrays(frames)


@pytest.mark.parametrize("name", METHODS)
def test_frame_k_wins_its_sharp_band(name: str) -> None:
    """Default parameters, N = 5: the frame that alone is sharp in band k is chosen there
    (index map, 10 px away from the band edges and the image border)."""
    n, w = 5, 200
    res = _fuse(name, _bands(n, w))
    for k in range(n):
        band = res.index_map[10:-10, k * w // n + 10 : (k + 1) * w // n - 10]
        assert np.mean(band == k) > 0.9, (name, k, np.bincount(band.ravel(), minlength=n))
