"""One weights record (models.weights.WeightsRecord) for weights.json and the user library."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mffgui.errors import MffError, WeightsError
from mffgui.models import weights as W
from mffgui.resources import weights_dir


def test_bundled_index_round_trips_and_verifies():
    raw = json.loads((weights_dir() / "weights.json").read_text(encoding="utf-8"))
    recs = W.read_bundled_index()
    assert set(recs) == set(raw)
    for arch, rec in recs.items():
        assert rec.to_json(with_arch=False) == raw[arch]
        assert rec.sha256
        assert rec.size_bytes
        assert rec.verify(weights_dir()) == weights_dir() / rec.file


def test_bundled_index_has_no_machine_paths():
    text = (weights_dir() / "weights.json").read_text(encoding="utf-8")
    assert not re.search(r"(/work/|/tmp/|/home/|\.gpudata/)", text)
    assert "<shared>/data/train-sharp" in text


def test_corrupt_bundled_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    copy = tmp_path / "weights"
    shutil.copytree(weights_dir(), copy)
    rec = W.read_bundled_index(copy)["gacn"]
    f = copy / rec.file
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    f.write_bytes(bytes(data))
    monkeypatch.setattr(W, "weights_dir", lambda: copy)
    with pytest.raises(MffError, match="sha256") as info:
        W.bundled_weights("gacn")
    assert isinstance(info.value, WeightsError)
    assert info.value.path == f
    f.write_bytes(bytes(data[:-1]))  # truncated
    with pytest.raises(WeightsError, match="bytes"):
        W.bundled_weights("gacn")


def test_old_library_index_is_read_and_rewritten_as_records(tmp_path: Path):
    from mffgui.user_weights import INDEX, INDEX_VERSION, WeightsLibrary

    root = tmp_path / "lib"
    root.mkdir()
    (root / "abc.pt").write_bytes(b"weights")
    old = {
        "id": "abc",
        "name": "mine",
        "arch": "gacn",
        "file": "abc.pt",
        "notes": "n",
        "data": ["/d"],
        "date": "2024-05-01T10:00:00",
        "metrics": {"iou": 0.9},
        "epochs": 3,
        "source": "",
        "best": {},
    }
    (root / INDEX).write_text(json.dumps({"version": 1, "entries": [old]}), encoding="utf-8")
    lib = WeightsLibrary(root)
    (e,) = lib.entries()
    assert (e.id, e.name, e.date, e.metrics, e.epochs) == (
        "abc",
        "mine",
        old["date"],
        {"iou": 0.9},
        3,
    )
    lib._write(lib._read())  # any change rewrites the index in the new format
    doc = json.loads((root / INDEX).read_text(encoding="utf-8"))
    assert doc["version"] == INDEX_VERSION
    (rec,) = (W.WeightsRecord.from_json(d) for d in doc["entries"])
    assert rec.created == old["date"]
    assert rec.metrics == {"iou": 0.9}
    assert rec.sha256 == W.sha256_file(root / "abc.pt")
    assert rec.size_bytes == 7
    assert lib.entries()[0] == e


def test_symbolic_provenance_drops_machine_folders():
    cmd = (
        "python -m mffgui.training gacn --data /work/shared/data/train-sharp/gray "
        "--data .gpudata/shared/data/train-sharp --out /tmp/g2/f2v.pt --epochs 4"
    )
    assert W.symbolic_provenance(cmd) == (
        "python -m mffgui.training gacn --data <shared>/data/train-sharp/gray "
        "--data <shared>/data/train-sharp --out <run>/f2v.pt --epochs 4"
    )
    assert (
        W.symbolic_provenance("train-sharp/color (155 images)") == "train-sharp/color (155 images)"
    )
