"""The user's trained-weights library: add/list/rename/export/delete with an atomic index."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from mffgui.errors import MffError, WeightsError  # noqa: E402
from mffgui.models.weights import load_checkpoint, save_checkpoint  # noqa: E402
from mffgui.user_weights import WeightsLibrary, data_dir  # noqa: E402

META = {"data": ["/images/scope-a"], "epochs": 3, "date": "2026-01-02T03:04:05+00:00",
        "validation": {"iou": 0.75, "dice": 0.8}, "best": {"epoch": 2, "score": 0.76,
                                                          "key": "iou"}}


def _training_checkpoint(path, seed=0):
    """A GACN training checkpoint (weights + optimizer state), as the trainer writes it."""
    from mffgui.models.gacn import build_gacn

    torch.manual_seed(seed)
    model = build_gacn()
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(path, "gacn", model.state_dict(), {}, dict(META),
                    optimizer=opt.state_dict(), epoch=3)
    return model.state_dict()


@pytest.fixture
def lib(tmp_path, monkeypatch):
    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "data"))
    return WeightsLibrary()


def test_data_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "x"))
    assert data_dir() == tmp_path / "x"
    assert WeightsLibrary().root == tmp_path / "x" / "weights"


def test_add_copies_weights_only_and_records_metadata(lib, tmp_path):
    src = tmp_path / "run.pt"
    sd = _training_checkpoint(src)
    e = lib.add(src, "gacn", "my microscope", "20x objective")
    assert e.title == "GACN — my microscope"
    assert e.path.parent == lib.root
    assert e.path.is_file()
    assert e.data == META["data"]
    assert e.epochs == 3
    assert e.date == META["date"]
    assert e.metrics == pytest.approx(META["validation"])
    assert e.best["epoch"] == 2
    ck = load_checkpoint(e.path, "gacn")
    assert set(ck.state_dict) == set(sd)
    for k, v in sd.items():
        assert torch.equal(ck.state_dict[k], v)
    assert "optimizer" not in ck.raw  # weights only
    assert ck.meta["name"] == "my microscope"
    assert ck.meta["notes"] == "20x objective"
    assert [x.id for x in lib.entries()] == [e.id]
    assert lib.entries("fusion2void") == []
    index = json.loads((lib.root / "index.json").read_text())
    assert index["entries"][0]["name"] == "my microscope"
    assert not [p for p in lib.root.iterdir() if ".tmp" in p.name]


def test_resumed_run_updates_its_entry(lib, tmp_path):
    src = tmp_path / "run.pt"
    _training_checkpoint(src, seed=0)
    first = lib.add(src, "gacn", "scope", "notes kept")
    sd2 = _training_checkpoint(src, seed=1)
    second = lib.add(src, "gacn")
    assert second.id == first.id
    assert len(lib.entries()) == 1
    assert second.name == "scope"
    assert second.notes == "notes kept"
    ck = load_checkpoint(second.path, "gacn")
    k = next(iter(sd2))
    assert torch.equal(ck.state_dict[k], sd2[k])
    other = lib.add(src, "gacn", replace_source=False)
    assert other.id != first.id
    assert len(lib.entries()) == 2
    assert other.name == "scope-a"  # default name: the data folder


def test_rename_export_delete(lib, tmp_path):
    src = tmp_path / "run.pt"
    _training_checkpoint(src)
    e = lib.add(src, "gacn", "a")
    assert lib.rename(e.id, "  b  ", "new notes").name == "b"
    assert lib.get(e.id).notes == "new notes"
    with pytest.raises(MffError, match="name"):
        lib.rename(e.id, "   ")
    out_dir = tmp_path / "exp"
    out_dir.mkdir()
    written = lib.export(e.id, out_dir)
    assert written.parent == out_dir
    assert written.read_bytes() == e.path.read_bytes()
    target = lib.export(e.id, tmp_path / "mine.pt")
    assert target.read_bytes() == e.path.read_bytes()
    with pytest.raises(MffError, match="export folder"):
        lib.export(e.id, tmp_path / "missing" / "x.pt")
    lib.delete(e.id)
    assert lib.entries() == []
    assert not e.path.exists()
    with pytest.raises(MffError, match="no trained weights"):
        lib.get(e.id)


def test_bad_inputs_raise_clear_errors(lib, tmp_path):
    src = tmp_path / "run.pt"
    _training_checkpoint(src)
    with pytest.raises(WeightsError, match="not 'fusion2void'"):
        lib.add(src, "fusion2void")
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"junk\.pt"):
        lib.add(bad, "gacn")
    lib.root.mkdir(parents=True)
    (lib.root / "index.json").write_text("{broken")
    with pytest.raises(MffError, match="index"):
        lib.entries()


def test_missing_file_is_not_listed(lib, tmp_path):
    src = tmp_path / "run.pt"
    _training_checkpoint(src)
    e = lib.add(src, "gacn", "x")
    e.path.unlink()
    assert lib.entries() == []
