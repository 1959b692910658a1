"""The network registry (mffgui.models.specs), its readers, the shared model runtime
(mffgui.models.runtime), and the worked example of docs/ADDING_A_NETWORK.md."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mffgui.methods  # noqa: E402
import mffgui.models  # noqa: E402
from mffgui.errors import MffError, WeightsError  # noqa: E402
from mffgui.methods.registry import get_method, list_methods, unregister_method  # noqa: E402
from mffgui.models import runtime  # noqa: E402
from mffgui.models.specs import (  # noqa: E402
    NetworkSpec,
    get_spec,
    network_specs,
    register_network,
    spec_for_method,
    unregister_network,
)
from mffgui.models.weights import (  # noqa: E402
    bundled_weights,
    load_checkpoint,
    read_bundled_index,
    save_checkpoint,
    sha256_file,
)
from mffgui.types import Stack  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "ADDING_A_NETWORK.md"


# -- the registry and its readers --------------------------------------------------------------


def test_builtin_networks_are_registered() -> None:
    assert [s.arch for s in network_specs()][:2] == ["gacn", "fusion2void"]
    assert get_spec("gacn").method == "gacn"
    with pytest.raises(MffError, match="unknown network 'nope'"):
        get_spec("nope")


def test_every_network_method_has_a_spec_and_every_spec_a_network_method() -> None:
    network_methods = {i.name for i in list_methods() if i.kind == "network"}
    assert {s.method for s in network_specs()} == network_methods
    for spec in network_specs():
        assert get_method(spec.method).info.kind == "network"
        assert spec_for_method(spec.method) is spec
    assert spec_for_method("depthmap") is None


def test_bundled_weights_exist_verify_and_build() -> None:
    index = read_bundled_index()
    for spec in network_specs():
        if spec.bundled_weights is None:
            continue
        path = bundled_weights(spec.arch)
        assert path is not None, f"{spec.arch}: {spec.bundled_weights} is not shipped"
        assert path.name == spec.bundled_weights
        assert sha256_file(path) == index[spec.arch].sha256
        model = spec.build(load_checkpoint(path, spec.arch))
        assert isinstance(model, torch.nn.Module)
        assert not model.training


def test_bundled_weights_record_must_name_the_specs_file(tmp_path, monkeypatch) -> None:
    import mffgui.models.weights as W

    src = bundled_weights("gacn")
    assert src is not None
    other = tmp_path / "renamed.pt"
    other.write_bytes(src.read_bytes())
    rec = read_bundled_index()["gacn"]
    data = {"gacn": {**rec.to_json(with_arch=False), "file": "renamed.pt"}}
    (tmp_path / "weights.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(W, "weights_dir", lambda: tmp_path)
    with pytest.raises(WeightsError, match=r"renamed\.pt"):
        bundled_weights("gacn")


def test_train_dialog_networks_are_the_trainable_specs() -> None:
    from mffgui.training import api, trainable_networks
    from mffgui.training.run_setup import TRAINABLE_NETWORKS, task_defaults

    trainable = [s for s in network_specs() if s.training_task is not None]
    assert trainable_networks() == trainable
    assert list(TRAINABLE_NETWORKS) == [s.arch for s in trainable]
    assert api.arches() == tuple(s.arch for s in trainable)
    for spec in trainable:
        net = TRAINABLE_NETWORKS[spec.arch]
        assert net.label == spec.title
        assert net.title == (spec.train_title or spec.title)
        assert net.uses_stacks is (not spec.pair_only)
        assert task_defaults(spec.arch) == spec.task_class().defaults
        assert api.task_defaults(spec.arch) == spec.task_class().defaults


def test_a_registered_trainable_network_reaches_the_train_dialog() -> None:
    from mffgui.training.run_setup import TRAINABLE_NETWORKS, task_defaults

    spec = dataclasses.replace(
        get_spec("gacn"), arch="extra", title="Extra", method="extra-method", pair_only=False
    )
    spec = dataclasses.replace(spec, train_title="Extra (test)")
    register_network(spec)
    try:
        assert TRAINABLE_NETWORKS["extra"].title == "Extra (test)"
        assert TRAINABLE_NETWORKS["extra"].uses_stacks
        assert task_defaults("extra")["epochs"] == task_defaults("gacn")["epochs"]
    finally:
        unregister_network("extra")
    assert "extra" not in TRAINABLE_NETWORKS


def test_weights_library_titles_come_from_the_specs(tmp_path) -> None:
    from mffgui.user_weights import WeightsEntry, arch_title

    for spec in network_specs():
        assert arch_title(spec.arch) == spec.title
        entry = WeightsEntry(id="x", name="my scope", arch=spec.arch, file="x.pt", root=tmp_path)
        assert entry.title == f"{spec.title} — my scope"
    assert arch_title("unregistered") == "unregistered"


def test_export_offers_the_registered_archs() -> None:
    import argparse

    from mffgui.training import export

    sub = argparse.ArgumentParser().add_subparsers()
    parser = export.add_parser(sub)
    action = next(a for a in parser._actions if a.dest == "arch")
    assert list(action.choices) == [s.arch for s in network_specs()]
    with pytest.raises(SystemExit):
        parser.parse_args(["a.pt", "b.pt", "--arch", "nope"])


def test_register_network_rejects_conflicts() -> None:
    gacn = get_spec("gacn")
    assert register_network(gacn) is gacn  # the same spec again: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_network(NetworkSpec("gacn", "Other", "other", "mffgui.models.gacn:load_gacn"))
    with pytest.raises(ValueError, match="already runs network 'gacn'"):
        register_network(NetworkSpec("other", "Other", "gacn", "mffgui.models.gacn:load_gacn"))
    with pytest.raises(ValueError, match="module:attr"):
        NetworkSpec("bad", "Bad", "bad", "mffgui.models.gacn.load_gacn")
    with pytest.raises(MffError, match="cannot be trained"):
        NetworkSpec("x", "X", "x", "m:f").task_class()


# -- the runtime: cache --------------------------------------------------------------------------


@pytest.fixture
def gacn_files(tmp_path) -> tuple[Path, Path]:
    """Two different GACN checkpoints (the bundled one and a copy with changed tensors)."""
    src = bundled_weights("gacn")
    if src is None:
        pytest.skip("no bundled GACN weights")
    ck = load_checkpoint(src, "gacn")
    a = tmp_path / "a.pt"
    save_checkpoint(a, "gacn", ck.state_dict, ck.model_args, {})
    b = tmp_path / "b.pt"
    save_checkpoint(b, "gacn", {k: v * 0.5 for k, v in ck.state_dict.items()}, ck.model_args, {})
    return a, b


def test_cache_returns_the_same_model_for_the_same_key(gacn_files) -> None:
    cache = runtime.ModelCache()
    cpu = torch.device("cpu")
    first = cache.get("gacn", gacn_files[0], cpu)
    again = cache.get(get_spec("gacn"), gacn_files[0], cpu)
    assert again is first
    assert again.model is first.model
    assert cache.loads == 1
    assert first.sha256 == sha256_file(gacn_files[0])
    conv = next(m for m in first.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # spec.channels_last


def test_cache_reloads_another_or_rewritten_file(gacn_files) -> None:
    a, b = gacn_files
    cache = runtime.ModelCache()
    cpu = torch.device("cpu")
    ma = cache.get("gacn", a, cpu)
    mb = cache.get("gacn", b, cpu)
    assert mb.model is not ma.model
    assert mb.sha256 == sha256_file(b) != ma.sha256
    assert len(cache) == 1  # one model at a time
    # the same path rewritten with other weights: a new model
    mb_first = next(iter(mb.model.parameters())).detach().clone()
    a.write_bytes(b.read_bytes())
    reloaded = cache.get("gacn", a, cpu)
    assert reloaded.model is not ma.model
    assert reloaded.sha256 == mb.sha256
    torch.testing.assert_close(next(iter(reloaded.model.parameters())), mb_first)
    assert cache.loads == 3


def test_cache_is_thread_safe_under_concurrent_gets(gacn_files, monkeypatch) -> None:
    """Eight threads ask for the same model at once: it is built once and all get it."""
    real = runtime.ModelCache._build

    def slow_build(spec, path, device):
        time.sleep(0.2)  # widen the window in which an unlocked cache would build twice
        return real(spec, path, device)

    monkeypatch.setattr(runtime.ModelCache, "_build", staticmethod(slow_build))
    cache = runtime.ModelCache()
    barrier = threading.Barrier(8)
    got: list[object] = []

    def worker() -> None:
        barrier.wait()
        got.append(cache.get("gacn", gacn_files[0], torch.device("cpu")).model)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8
    assert all(m is got[0] for m in got)
    assert cache.loads == 1


def test_weights_path_errors_name_the_file_or_say_how_to_get_weights(monkeypatch) -> None:
    import mffgui.models.weights as W

    with pytest.raises(WeightsError, match=r"nope\.pt: GACN weights file not found"):
        runtime.weights_path("gacn", "/nonexistent/nope.pt")
    monkeypatch.setattr(W, "bundled_weights", lambda arch: None)
    for spec in network_specs():
        with pytest.raises(WeightsError) as info:
            runtime.weights_path(spec, None)
        assert str(info.value) == spec.missing_weights


# -- the runtime: threads, memory, tiles, out-of-memory fallback -------------------------------


def test_torch_threads_sets_and_restores() -> None:
    before = torch.get_num_threads()
    with runtime.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with runtime.torch_threads(0):
        assert torch.get_num_threads() == before


def test_memory_budget_and_auto_tile() -> None:
    from mffgui.core.tiling import tile_for_budget

    cpu = torch.device("cpu")
    assert runtime.memory_budget(cpu, 512) == 512 * 2**20
    assert 0 < runtime.memory_budget(cpu, 0) <= 8 * 2**30
    shape = (3000, 4000)
    tile = runtime.auto_tile(cpu, shape, 512, 2400, 40, 128)
    assert tile == tile_for_budget(shape, 2400, 512 * 2**20, 40, 128)
    assert 128 <= tile < 4000
    assert (tile + 80) ** 2 * 2400 <= 512 * 2**20 < (tile + 2 * 64 + 80) ** 2 * 2400


def _focus_net():
    """A small local network (receptive radius 4): |Laplacian| averaged over 7x7."""
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="replicate", bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None])

    def net(x):
        return torch.nn.functional.avg_pool2d(conv(x).abs(), 7, 1, 3, count_include_pad=False)

    return net


def test_oom_fallback_shrinks_tiles_and_matches_the_untiled_result() -> None:
    """A model that runs out of memory on read regions larger than 100 px: the runtime halves
    the tile from the whole image (300) to 150 and 75 px; the stitched result equals the
    whole-image result."""
    rng = np.random.default_rng(0)
    gray = rng.random((300, 260)).astype(np.float32)
    net = _focus_net()
    with torch.inference_mode():
        whole = net(runtime.to_tensor(gray, "cpu"))[0, 0].numpy()
    tried: list[tuple[str, int]] = []

    def attempt(place: runtime.Placement) -> np.ndarray:
        tried.append((place.device.type, place.tile))

        def step(tile):
            if max(tile.read_shape) > 100:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return net(runtime.to_tensor(gray[tile.read], "cpu"))

        with torch.inference_mode():
            return runtime.map_tiles(step, gray.shape, 1, place.tile, 8)[:, :, 0]

    place = runtime.Placement(torch.device("cuda"), 0)  # a label: nothing runs on it
    cache = runtime.ModelCache()
    out = runtime.run_with_fallback(attempt, place, 300, 64, cache=cache)
    assert tried == [("cuda", 0), ("cuda", 150), ("cuda", 75)]
    assert place.tile == 75
    assert place.device.type == "cuda"
    assert len(place.notes) == 2
    assert "75 px" in place.notes[-1]
    np.testing.assert_allclose(out, whole, rtol=0, atol=1e-6)


def test_oom_fallback_ends_on_the_cpu_and_other_errors_propagate() -> None:
    tried: list[tuple[str, int]] = []

    def attempt(place: runtime.Placement) -> str:
        tried.append((place.device.type, place.tile))
        if place.device.type != "cpu":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return "done"

    place = runtime.Placement(torch.device("cuda"), 512)
    out = runtime.run_with_fallback(attempt, place, 1000, 128, cpu_tile=lambda dev: 1024)
    assert out == "done"
    assert tried == [("cuda", 512), ("cuda", 256), ("cuda", 128), ("cpu", 1024)]
    assert "falling back to the CPU" in place.notes[-1]

    def broken(place: runtime.Placement) -> None:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        runtime.run_with_fallback(broken, runtime.Placement(torch.device("cuda"), 0), 100, 64)
    with pytest.raises(RuntimeError, match="out of memory"):  # on the CPU nothing is retried
        runtime.run_with_fallback(
            lambda p: (_ for _ in ()).throw(RuntimeError("out of memory")),
            runtime.Placement(torch.device("cpu"), 0),
            100,
            64,
        )


# -- the worked example: a new network in three files ------------------------------------------


def _doc_files() -> dict[str, str]:
    """The code blocks of docs/ADDING_A_NETWORK.md that start with ``# file: PATH``."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(# file: [^\n]+)\n(.*?)```", text, flags=re.S)
    return {head[len("# file: ") :].split(" ")[0]: body for head, body in blocks}


@pytest.fixture
def toynet(tmp_path, monkeypatch):
    """ToyNet installed from the doc: the network and method files in the packages' search
    path, the spec block run against the public registry API; removed afterwards."""
    files = _doc_files()
    assert set(files) == {
        "mffgui/models/toynet.py",
        "mffgui/methods/toynet.py",
        "mffgui/models/specs.py",
    }
    for pkg, mod in (("models", mffgui.models), ("methods", mffgui.methods)):
        folder = tmp_path / pkg
        folder.mkdir()
        (folder / "toynet.py").write_text(files[f"mffgui/{pkg}/toynet.py"], encoding="utf-8")
        monkeypatch.setattr(mod, "__path__", [*mod.__path__, str(folder)])
    namespace = {"NetworkSpec": NetworkSpec, "register_network": register_network}
    exec(files["mffgui/models/specs.py"], namespace)
    try:
        method_module = importlib.import_module("mffgui.methods.toynet")
        yield importlib.import_module("mffgui.models.toynet"), method_module
    finally:
        unregister_method("toynet")
        unregister_network("toynet")
        runtime.MODEL_CACHE.clear()
        for name in ("mffgui.methods.toynet", "mffgui.models.toynet"):
            sys.modules.pop(name, None)


def _band_stack(n: int = 3, shape=(96, 120)):
    """Frame k is sharp in vertical band k only (box-blurred elsewhere)."""
    import cv2

    rng = np.random.default_rng(3)
    sharp = rng.random((*shape, 3)).astype(np.float32)
    blur = cv2.blur(sharp, (9, 9))
    edges = np.linspace(0, shape[1], n + 1).astype(int)
    frames = []
    for k in range(n):
        f = blur.copy()
        f[:, edges[k] : edges[k + 1]] = sharp[:, edges[k] : edges[k + 1]]
        frames.append(f)
    return frames, sharp, edges


def test_worked_example_adds_a_network(toynet, tmp_path) -> None:
    models_toynet, _ = toynet
    from mffgui.user_weights import WeightsEntry

    # listed, titled and tied to its spec like a built-in network
    info = next(i for i in list_methods() if i.name == "toynet")
    assert info.kind == "network"
    spec = spec_for_method("toynet")
    assert spec is not None
    assert spec.arch == "toynet"
    entry = WeightsEntry(id="t", name="lab", arch="toynet", file="t.pt", root=tmp_path)
    assert entry.title == "ToyNet — lab"
    with pytest.raises(WeightsError, match="ToyNet needs weights"):
        get_method("toynet").fuse(Stack.from_arrays(_band_stack()[0]), info.params())

    # fuses a stack: frame k wins band k (away from the band edges), pixels copied exactly
    ckpt = tmp_path / "toynet.pt"
    save_checkpoint(ckpt, "toynet", models_toynet.laplacian_toynet().state_dict(), {}, {})
    frames, sharp, edges = _band_stack()
    res = get_method("toynet").fuse(
        Stack.from_arrays(frames), info.params.from_mapping({"weights": str(ckpt)})
    )
    for k in range(3):
        band = (slice(None), slice(edges[k] + 6, edges[k + 1] - 6))
        assert (res.index_map[band] == k).all()
        np.testing.assert_array_equal(res.fused[band], sharp[band])
    weights = np.asarray(res.weights)
    np.testing.assert_array_equal(weights.sum(axis=0), 1.0)
    assert res.meta["device"] == "cpu"

    # tiles give the same result (halo 8 >= receptive radius 4)
    tiled = get_method("toynet").fuse(
        Stack.from_arrays(frames),
        info.params.from_mapping({"weights": str(ckpt), "tile_size": 32}),
    )
    np.testing.assert_array_equal(tiled.index_map, res.index_map)
    np.testing.assert_allclose(np.asarray(tiled.focus_maps), np.asarray(res.focus_maps), atol=1e-6)
