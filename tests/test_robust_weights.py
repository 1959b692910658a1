"""Weights faults: missing or corrupt checkpoints give a WeightsError naming the file, and the
classical methods keep working in the same process afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mffgui.errors import MffError, WeightsError

torch = pytest.importorskip("torch")


def _real_checkpoint(tmp_path: Path, arch: str = "fusion2void") -> Path:
    from mffgui.models.weights import save_checkpoint

    sd = {"conv.weight": torch.randn(8, 3, 3, 3), "conv.bias": torch.randn(8)}
    p = tmp_path / f"real-{arch}.pt"
    save_checkpoint(p, arch, sd, {}, {"name": "test"})
    return p


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    """Every kind of broken weights file, by name."""
    out: dict[str, Path] = {"missing": tmp_path / "nope" / "weights.pt"}
    p = tmp_path / "random.pt"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out["random-bytes"] = p
    real = _real_checkpoint(tmp_path)
    data = real.read_bytes()
    p = tmp_path / "truncated.pt"
    p.write_bytes(data[: len(data) // 2])
    out["truncated"] = p
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    out["empty"] = p
    p = tmp_path / "readme.pt"
    p.write_text("these are not the weights you are looking for\n", encoding="utf-8")
    out["text"] = p
    p = tmp_path / "folder.pt"
    p.mkdir()
    out["folder"] = p
    p = tmp_path / "list.pt"
    torch.save([1, 2, 3], p)
    out["not-a-dict"] = p
    return out


BAD = ["missing", "random-bytes", "truncated", "empty", "text", "folder", "not-a-dict"]


@pytest.mark.parametrize("kind", BAD)
def test_load_checkpoint_rejects(tmp_path, kind):
    from mffgui.models.weights import load_checkpoint

    path = _bad_files(tmp_path)[kind]
    with pytest.raises(WeightsError) as info:
        load_checkpoint(path, "gacn")
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_checkpoint_for_another_architecture(tmp_path):
    from mffgui.models.weights import load_checkpoint

    path = _real_checkpoint(tmp_path, "fusion2void")
    with pytest.raises(WeightsError, match="fusion2void") as info:
        load_checkpoint(path, "gacn")
    assert info.value.path == path


def test_pickled_code_is_refused(tmp_path):
    """weights_only loading: a checkpoint carrying arbitrary objects is not executed."""
    from mffgui.models.weights import load_checkpoint

    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": _Marker()}, path)
    with pytest.raises(WeightsError):
        load_checkpoint(path, "gacn")


class _Marker:
    pass


def _pair(h: int = 48, w: int = 64):
    from mffgui.types import Stack

    rng = np.random.default_rng(5)
    sharp = rng.random((h, w, 3), dtype=np.float32)
    blur = (sharp + np.roll(sharp, 1, 0) + np.roll(sharp, 1, 1) + np.roll(sharp, -1, 0)) / 4
    a, b = sharp.copy(), sharp.copy()
    a[:, w // 2 :] = blur[:, w // 2 :]
    b[:, : w // 2] = blur[:, : w // 2]
    return Stack.from_arrays([a, b]), sharp


def _network_methods() -> list[str]:
    from mffgui.methods import list_methods

    return [i.name for i in list_methods() if i.name in ("gacn", "fusion2void")]


def _foreign_state_dict(tmp_path: Path) -> Path:
    """A plain state_dict of some other network (what a user may pick by mistake)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    p = tmp_path / "resnet-ish.pth"
    torch.save(net.state_dict(), p)
    return p


@pytest.mark.parametrize("method_name", ["gacn", "fusion2void"])
@pytest.mark.parametrize("kind", [*BAD, "foreign-state-dict", "other-arch"])
def test_network_methods_reject_bad_weights_then_classical_works(tmp_path, method_name, kind):
    from mffgui.methods import get_method

    assert method_name in _network_methods(), f"{method_name} is not registered"
    files = _bad_files(tmp_path)
    if kind == "foreign-state-dict":
        path = _foreign_state_dict(tmp_path)
    elif kind == "other-arch":
        path = _real_checkpoint(tmp_path, "gacn" if method_name == "fusion2void" else "fusion2void")
    else:
        path = files[kind]
    method = get_method(method_name)
    params = method.info.params.from_mapping({"weights": str(path), "device": "cpu"})
    stack, _ = _pair()
    with pytest.raises(MffError) as info:
        method.fuse(stack, params)
    assert isinstance(info.value, WeightsError), f"{type(info.value).__name__}: {info.value}"
    assert info.value.path is not None, str(info.value)
    assert Path(info.value.path) == path, str(info.value)

    _classical_still_works()


def _classical_still_works() -> None:
    from mffgui.methods import get_method, list_methods

    names = [i.name for i in list_methods() if i.kind == "classical"]
    assert names, "no classical method registered"
    stack, sharp = _pair()
    for name in names:
        m = get_method(name)
        res = m.fuse(stack, m.info.params())
        fused = np.asarray(res.fused)
        assert fused.shape == sharp.shape
        assert np.isfinite(fused).all()
        # closer to the all-sharp image than either input (an independent reference)
        err = np.abs(fused - sharp)[4:-4, 4:-4].mean()
        for i in range(2):
            assert err < np.abs(stack.frame(i) - sharp)[4:-4, 4:-4].mean(), name


def test_missing_bundled_weights_message(monkeypatch, tmp_path):
    """No weights given and none bundled: a WeightsError telling what to do, not a crash."""
    import mffgui.models.weights as weights

    monkeypatch.setattr(weights, "weights_dir", lambda: tmp_path)
    from mffgui.methods import get_method

    names = _network_methods()
    assert names, "no network method registered"
    stack, _ = _pair()
    for name in names:
        m = get_method(name)
        with pytest.raises(WeightsError) as info:
            m.fuse(stack, m.info.params.from_mapping({"device": "cpu"}))
        assert "weights" in str(info.value).lower()
    _classical_still_works()
    assert os.path.isdir(tmp_path)


def test_saving_removes_temporaries_of_killed_writers_only(tmp_path):
    import os
    import subprocess
    import sys

    import torch

    from mffgui.models.weights import load_checkpoint, save_checkpoint

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = tmp_path / "run.pt"
    stale = tmp_path / f".run.pt.tmp-{dead}"  # a writer killed mid-save
    live = tmp_path / f".run.pt.tmp-{os.getppid()}"  # a writer still running
    other = tmp_path / f".other.pt.tmp-{dead}"  # another file's temporary
    for f in (stale, live, other):
        f.write_bytes(b"partial")
    save_checkpoint(target, "gacn", {"w": torch.ones(2)}, {}, {})
    assert load_checkpoint(target, "gacn").state_dict["w"].tolist() == [1.0, 1.0]
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
