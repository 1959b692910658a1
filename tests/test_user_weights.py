"""The user's trained-weights library: add/list/rename/export/delete with an atomic index."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from mffgui.errors import MffError, WeightsError  # noqa: E402
from mffgui.models.weights import load_checkpoint, save_checkpoint  # noqa: E402
from mffgui.user_weights import WeightsLibrary, data_dir  # noqa: E402

META = {
    "data": ["/images/scope-a"],
    "epochs": 3,
    "date": "2026-01-02T03:04:05+00:00",
    "validation": {"iou": 0.75, "dice": 0.8},
    "best": {"epoch": 2, "score": 0.76, "key": "iou"},
}


def _training_checkpoint(path, seed=0):
    """A GACN training checkpoint (weights + optimizer state), as the trainer writes it."""
    from mffgui.models.gacn import build_gacn

    torch.manual_seed(seed)
    model = build_gacn()
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(
        path, "gacn", model.state_dict(), {}, dict(META), optimizer=opt.state_dict(), epoch=3
    )
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


def test_rename_updates_the_name_inside_the_weights_file(lib, tmp_path):
    src = tmp_path / "run.pt"
    sd = _training_checkpoint(src)
    e = lib.add(src, "gacn", "old name", "old notes")
    assert load_checkpoint(e.path, "gacn").meta["name"] == "old name"
    lib.rename(e.id, "new name", "new notes")
    ck = load_checkpoint(lib.get(e.id).path, "gacn")
    assert ck.meta["name"] == "new name"
    assert ck.meta["notes"] == "new notes"
    assert ck.meta["data"] == META["data"]  # the rest of the metadata is kept
    for k, v in sd.items():
        assert torch.equal(ck.state_dict[k], v)
    # An exported copy carries the new name; renaming without notes keeps the notes.
    lib.rename(e.id, "third")
    out = lib.export(e.id, tmp_path)
    exported = load_checkpoint(out, "gacn").meta
    assert (exported["name"], exported["notes"]) == ("third", "new notes")


def test_training_runs_are_listed_with_their_info_and_deleted(lib):
    from mffgui.user_weights import (
        TrainingRun,
        delete_run,
        list_runs,
        run_info_path,
        runs_dir,
        write_run_info,
    )

    runs = runs_dir()
    runs.mkdir(parents=True)
    old, new, bare = (
        runs / "gacn-20260101-100000.pt",
        runs / "gacn-20260102-100000.pt",
        runs / "fusion2void-20260103-100000.pt",
    )
    for p in (old, new, bare):
        _training_checkpoint(p)
    write_run_info(
        TrainingRun(old, "gacn", "2026-01-01T10:00:00", "done", 4, 0, 4, {"sharp": ["/x"]})
    )
    write_run_info(TrainingRun(new, "gacn", "2026-01-02T10:00:00", "stopped", 2, 1, 9))
    (runs / "gacn-20260101-100000.best.pt").write_bytes(old.read_bytes())
    found = list_runs()
    assert [r.path for r in found] == [bare, new, old]  # newest first, .best.pt not a run
    by_path = {r.path: r for r in found}
    assert by_path[new].label.endswith("GACN · epoch 2/9 · stopped")
    assert by_path[new].step == 1
    assert by_path[old].settings == {"sharp": ["/x"]}
    assert by_path[bare].arch == "fusion2void"  # no side file: guessed from the name
    assert by_path[bare].created == "2026-01-03T10:00:00"
    assert not any(r.finished_and_saved for r in found)
    # Saving the best epoch to the library makes the finished run "saved".
    entry = lib.add(runs / "gacn-20260101-100000.best.pt", "gacn", "mine")
    saved = {r.path: r for r in list_runs()}
    assert saved[old].saved_id == entry.id
    assert saved[old].finished_and_saved
    assert not saved[new].finished_and_saved
    delete_run(old)
    assert not old.exists()
    assert not run_info_path(old).exists()
    assert not (runs / "gacn-20260101-100000.best.pt").exists()
    assert lib.get(entry.id).path.is_file()  # the library copy stays
    assert [r.path for r in list_runs()] == [bare, new]
