"""``python -m mffgui.training gacn``: smoke, determinism, resume, stop, use in the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mffgui.models.weights import load_checkpoint, sha256_file
from mffgui.training.__main__ import main as training_main

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--batch-size",
    "2",
    "--patch-size",
    "32",
    "--val-count",
    "2",
    "--threads",
    "1",
    "--log-every",
    "1",
]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 0.8)
    y, x = np.mgrid[0:h, 0:w]
    img = img + 0.5 * ((x // 7 + y // 5) % 2)  # some strong edges
    return (img - img.min()) / (img.max() - img.min())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """Five small sharp gray/colour images (made here, nothing from ../shared)."""
    d = tmp_path_factory.mktemp("sharp")
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(d / f"g{i}.png"), (_texture(rng, 40, 44) * 255).astype(np.uint8))
    rgb = np.stack([_texture(rng, 36, 40) for _ in range(3)], axis=2)
    cv2.imwrite(str(d / "c0.jpg"), (rgb * 255).astype(np.uint8))
    return d


def _train(data: Path, out: Path, *extra: str) -> int:
    return training_main(["gacn", "--data", str(data), "--out", str(out), *TINY, *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path, "gacn").state_dict


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_step_run_writes_an_app_checkpoint(tiny_data, tmp_path, capsys):
    out = tmp_path / "run.pt"
    assert _train(tiny_data, out, "--jsonl", "--seed", "3") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("step") == 2
    assert "epoch" in kinds
    assert kinds[-1] == "done"
    ck = load_checkpoint(out, "gacn")
    raw = ck.raw
    assert raw["epoch"] == 1
    assert raw["step"] == 0
    assert raw["global_step"] == 2
    assert raw["model_args"] == {}
    assert raw["config"]["seed"] == 3
    assert raw["optimizer"]["state"], "optimizer state saved"
    assert isinstance(raw["rng"]["torch"], torch.Tensor)
    val = raw["metrics"][-1]["val"]
    for key in ("dice", "iou", "accuracy"):
        assert 0.0 <= val[key] <= 1.0
    assert ck.meta["epochs"] == 1
    assert "python -m mffgui.training gacn" in ck.meta["command"]
    # The network changed (two Adam steps from the seeded initialisation).
    from mffgui.models.gacn import build_gacn

    torch.manual_seed(3)
    fresh = build_gacn().state_dict()
    assert not _same({k: v for k, v in fresh.items()}, ck.state_dict)
    best = load_checkpoint(out.with_name("run.best.pt"), "gacn")
    assert "optimizer" not in best.raw
    assert _same(best.state_dict, ck.state_dict)


def test_same_seed_gives_identical_weights(tiny_data, tmp_path):
    a, b, c = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    assert _train(tiny_data, a, "--seed", "5") == 0
    assert _train(tiny_data, b, "--seed", "5") == 0
    assert _train(tiny_data, c, "--seed", "6") == 0
    assert _same(_weights(a), _weights(b))
    assert not _same(_weights(a), _weights(c))


def test_resume_continues_exactly(tiny_data, tmp_path):
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    common = ["--steps-per-epoch", "1", "--seed", "2"]
    assert _train(tiny_data, straight, *common, "--epochs", "2") == 0
    assert _train(tiny_data, split, *common, "--epochs", "1") == 0
    first = load_checkpoint(split, "gacn").raw
    assert first["epoch"] == 1
    assert _train(tiny_data, split, *common, "--epochs", "2", "--resume") == 0
    resumed = load_checkpoint(split, "gacn").raw
    assert resumed["epoch"] == 2
    assert resumed["global_step"] == 2
    assert len(resumed["metrics"]) == 2
    steps = {int(s["step"]) for s in resumed["optimizer"]["state"].values()}
    assert steps == {2}, "Adam moments continued from the saved optimizer state"
    assert _same(_weights(straight), _weights(split))


def test_resume_mid_epoch_after_time_budget(tiny_data, tmp_path, capsys):
    out = tmp_path / "budget.pt"
    assert _train(tiny_data, out, "--max-minutes", "0", "--jsonl") == 0
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    stopped = [e for e in events if e["event"] == "stopped"]
    assert stopped
    assert stopped[0]["reason"] == "time budget"
    raw = load_checkpoint(out, "gacn").raw
    assert raw["epoch"] == 0
    assert raw["step"] == 0
    assert _train(tiny_data, out, "--resume") == 0
    assert load_checkpoint(out, "gacn").raw["epoch"] == 1


def test_result_loads_into_the_gacn_method_and_fuses(tiny_data, tmp_path):
    from mffgui.methods import gacn as methods
    from mffgui.methods import get_method
    from mffgui.types import Stack

    out = tmp_path / "m.pt"
    assert _train(tiny_data, out) == 0
    rng = np.random.default_rng(9)
    sharp = np.stack([_texture(rng, 48, 52)] * 3, axis=2).astype(np.float32)
    blur = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    left = np.zeros((48, 52, 1), np.float32)
    left[:, :26] = 1
    a = left * sharp + (1 - left) * blur
    b = (1 - left) * sharp + left * blur
    res = get_method("gacn").fuse(
        Stack.from_arrays([a, b]), methods.GacnParams(weights=str(out), device="cpu")
    )
    assert res.fused.shape == a.shape
    assert np.isfinite(res.fused).all()
    assert res.meta["weights_sha256"] == sha256_file(out)
    # The fused image is a per-pixel blend of the two sources.
    # (the boundary-guided map may leave [0, 1] by a hair, as in the official code).
    lo, hi = np.minimum(a, b) - 0.02, np.maximum(a, b) + 0.02
    assert np.all((res.fused >= lo) & (res.fused <= hi))


def test_init_loads_weights_and_zero_lr_keeps_them(tiny_data, tmp_path):
    src, dst = tmp_path / "src.pt", tmp_path / "dst.pt"
    assert _train(tiny_data, src, "--seed", "1") == 0
    assert _train(tiny_data, dst, "--seed", "9", "--init", str(src), "--lr", "0") == 0
    w0, w1 = _weights(src), _weights(dst)
    convs = [k for k in w0 if k.endswith(".weight")]
    assert convs
    assert all(torch.equal(w0[k], w1[k]) for k in convs)
    assert load_checkpoint(dst, "gacn").raw["init"]["sha256"] == sha256_file(src)


def test_real_validation_pairs_are_scored(tiny_data, tmp_path):
    from mffgui.training.gacn import GACNTask, fuse_pair_arrays, qabf_metric

    val = tmp_path / "val"
    val.mkdir()
    rng = np.random.default_rng(4)
    sharp = _texture(rng, 40, 40)
    blur = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    m = np.zeros_like(sharp)
    m[:, :20] = 1
    cv2.imwrite(str(val / "p_A.png"), ((m * sharp + (1 - m) * blur) * 255).astype(np.uint8))
    cv2.imwrite(str(val / "p_B.png"), (((1 - m) * sharp + m * blur) * 255).astype(np.uint8))
    out = tmp_path / "v.pt"
    assert _train(tiny_data, out, "--val", str(val)) == 0
    ck = load_checkpoint(out, "gacn")
    score = ck.raw["metrics"][-1]["val"]["real_qabf"]
    # Independent recomputation from the saved weights (same weights as validated).
    from mffgui.models.gacn import load_gacn
    from mffgui.training.datasets import read_rgb_float

    model = load_gacn(ck)
    a, b = read_rgb_float(val / "p_A.png"), read_rgb_float(val / "p_B.png")
    with torch.no_grad():
        fused, _, _ = fuse_pair_arrays(model, a, b, torch.device("cpu"))
    assert score == pytest.approx(qabf_metric(a, b, fused), abs=1e-9)
    assert 0.0 < score < 1.0
    assert GACNTask.score_key == "iou"


def test_user_errors_exit_2(tiny_data, tmp_path, capsys):
    assert (
        training_main(["gacn", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x.pt")])
        == 2
    )
    assert "not found" in capsys.readouterr().err
    assert _train(tiny_data, tmp_path / "none.pt", "--resume") == 2
    assert "no checkpoint to resume" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert _train(tiny_data, tmp_path / "y.pt", "--init", str(bad)) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_stop_line_on_stdin_ends_cleanly_with_a_checkpoint(tiny_data, tmp_path):
    out = tmp_path / "stop.pt"
    cmd = [
        sys.executable,
        "-m",
        "training",
        "gacn",
        "--data",
        str(tiny_data),
        "--out",
        str(out),
        "--epochs",
        "1000",
        "--steps-per-epoch",
        "1000",
        "--batch-size",
        "2",
        "--patch-size",
        "32",
        "--val-count",
        "2",
        "--threads",
        "1",
        "--log-every",
        "1",
        "--jsonl",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    events = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        assert proc.stdin is not None
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "step":
                proc.stdin.write("stop\n")
                proc.stdin.flush()
                break
            assert time.monotonic() < deadline
        rest, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    events += [json.loads(x) for x in rest.splitlines()]
    assert proc.returncode == 0, err
    kinds = [e["event"] for e in events]
    assert "stopped" in kinds
    assert "checkpoint" in kinds
    assert next(e for e in events if e["event"] == "stopped")["reason"] == "stop on stdin"
    raw = load_checkpoint(out, "gacn").raw
    assert raw["epoch"] == 0
    assert 1 <= raw["step"] < 1000
    assert raw["global_step"] == raw["step"]


def test_export_writes_small_weights_and_index_entry(tiny_data, tmp_path):
    run = tmp_path / "e.pt"
    assert _train(tiny_data, run) == 0
    index = tmp_path / "weights.json"
    index.write_text(json.dumps({"other": {"file": "x.pt"}}))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"lytro": {"mean_qabf": 0.5}}))
    out = tmp_path / "gacn.pt"
    assert (
        training_main(
            [
                "export",
                str(run.with_name("e.best.pt")),
                str(out),
                "--note",
                "n",
                "--weights-json",
                str(index),
                "--extra-validation",
                str(extra),
            ]
        )
        == 0
    )
    ck = load_checkpoint(out, "gacn")
    assert "optimizer" not in ck.raw
    assert out.stat().st_size < run.stat().st_size
    assert _same(ck.state_dict, _weights(run.with_name("e.best.pt")))
    data = json.loads(index.read_text())
    assert data["other"] == {"file": "x.pt"}
    entry = data["gacn"]
    assert entry["file"] == "gacn.pt"
    assert entry["sha256"] == sha256_file(out)
    assert entry["model_args"] == {}
    assert entry["command"].startswith("python -m mffgui.training gacn --data")
    assert entry["epochs"] == 1
    assert entry["notes"] == "n"
    assert entry["validation"]["lytro"] == {"mean_qabf": 0.5}
    assert set(entry["validation"]["synthetic_holdout"]) >= {"dice", "iou", "accuracy"}


def test_bundled_weights_are_indexed_small_and_load():
    from mffgui.models.gacn import load_gacn
    from mffgui.models.weights import bundled_weights
    from mffgui.resources import weights_dir

    path = bundled_weights("gacn")
    assert path is not None, "resources/weights/gacn.pt (bundled GACN weights) is missing"
    entry = json.loads((weights_dir() / "weights.json").read_text())["gacn"]
    assert entry["sha256"] == sha256_file(path)
    assert path.stat().st_size < 5 * 2**20
    ck = load_checkpoint(path, "gacn")
    assert "optimizer" not in ck.raw
    assert ck.meta["init"] is None, "the shipped weights are the project's own (fresh init)"
    load_gacn(ck)


def test_bundled_weights_agree_with_official_on_a_lytro_pair():
    from conftest import shared_path

    from mffgui.models.gacn import load_gacn
    from mffgui.models.weights import bundled_weights
    from mffgui.training.datasets import read_rgb_float
    from mffgui.training.gacn import fuse_pair_arrays, qabf_metric

    ref = shared_path("weights", "gacn-official", "reference")
    lytro = shared_path("data", "lytro", "lytro_10")
    path = bundled_weights("gacn")
    assert path is not None, "resources/weights/gacn.pt (bundled GACN weights) is missing"
    a = read_rgb_float(lytro / "lytro_10_A.jpg")
    b = read_rgb_float(lytro / "lytro_10_B.jpg")
    with torch.inference_mode():
        fused, raw, _ = fuse_pair_arrays(
            load_gacn(load_checkpoint(path, "gacn")), a, b, torch.device("cpu")
        )
    official = cv2.imread(str(ref / "lytro_10_decision.png"), cv2.IMREAD_UNCHANGED) / 65535.0
    assert np.mean((raw > 0.5) == (official > 0.5)) >= 0.95
    q_off = qabf_metric(a, b, read_rgb_float(ref / "lytro_10_fused.png"))
    assert qabf_metric(a, b, fused) >= 0.99 * q_off


def test_events_of_a_tiny_run_parse_into_typed_classes(tiny_data, tmp_path, capsys):
    """One schema: every line the trainer writes reads back as its typed event."""
    from mffgui.training import events as ev

    out = tmp_path / "typed.pt"
    assert _train(tiny_data, out, "--jsonl", "--epochs", "2") == 0
    # A resume that stops at once (time budget) writes the remaining kinds of a GACN run.
    assert _train(tiny_data, out, "--jsonl", "--epochs", "3", "--resume", "--max-minutes", "0") == 0
    lines = capsys.readouterr().out.splitlines()
    parsed = [ev.parse_event(x) for x in lines]
    assert all(isinstance(e, ev.Event) for e in parsed), [
        e for e in parsed if not isinstance(e, ev.Event)
    ]
    assert not [e for e in parsed if isinstance(e, ev.UnknownEvent)]
    kinds = {e.name for e in parsed}
    assert {"data", "start", "step", "epoch", "checkpoint", "done", "stopped"} <= kinds
    for e in parsed:
        assert type(e) is ev.EVENT_TYPES[e.name]
        assert e.time
        # Only a step's loss terms (and nothing else) fall outside the typed fields.
        if not isinstance(e, ev.StepEvent):
            assert e.extras == {}, e
        assert ev.parse_event(ev.to_json(e)) == e
    step = next(e for e in parsed if isinstance(e, ev.StepEvent))
    assert step.loss is not None
    assert step.global_step == 1
    assert step.terms["loss"] == step.loss
    epoch = next(e for e in parsed if isinstance(e, ev.EpochEvent))
    assert epoch.epoch == 1
    assert set(epoch.val or {}) >= {"iou", "dice"}
    start = [e for e in parsed if isinstance(e, ev.StartEvent)]
    assert [s.resumed for s in start] == [False, True]
    assert start[1].epoch == 2
