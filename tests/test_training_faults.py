"""Training faults (issue 11): non-finite steps never reach the checkpoint; kill/Ctrl-C resume.

* NaN loss, NaN gradients or an optimizer step that makes weights non-finite stop the run
  *before* the step is applied or written: exit status 2, an ``error`` event naming the epoch
  and step, and the last good checkpoint in ``--out`` byte-for-byte unchanged (and finite), so
  ``--resume`` continues from it exactly.
* ``SIGKILL`` mid-epoch leaves the last epoch's checkpoint intact; ``--resume`` then gives the
  weights of a run that was never killed.
* ``SIGINT`` (Ctrl-C) ends the run cleanly with exit status 0 after a mid-epoch checkpoint, which
  resumes exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mffgui.training.__main__ import main as training_main  # noqa: E402
from mffgui.training.common import nonfinite_tensors  # noqa: E402
from mffgui.training.gacn import GACNTask  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY = [
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
    "--seed",
    "4",
]
#: Steps per epoch of the subprocess runs: enough margin to signal a run mid-epoch.
SUB_STEPS = 10


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small textured gray images (made here)."""
    d = tmp_path_factory.mktemp("sharp")
    rng = np.random.default_rng(1)
    for i in range(4):
        img = cv2.GaussianBlur(rng.random((40, 44)).astype(np.float32), (0, 0), 0.8)
        y, x = np.mgrid[0:40, 0:44]
        img = img + 0.5 * ((x // 7 + y // 5) % 2)
        img = (img - img.min()) / (img.max() - img.min())
        cv2.imwrite(str(d / f"g{i}.png"), (img * 255).astype(np.uint8))
    return d


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["gacn", "--data", str(data), "--out", str(out), *TINY, *extra]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raw(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_finite(raw: dict[str, Any]) -> None:
    named = list(raw["model"].items())
    for i, st in raw.get("optimizer", {}).get("state", {}).items():
        named += [(f"optimizer.{i}.{k}", v) for k, v in st.items()]
    assert nonfinite_tensors(named) == []


def _same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in text.splitlines() if x.startswith("{")]


def _poison(monkeypatch: pytest.MonkeyPatch, at_call: int, how: str = "loss") -> None:
    """Make the ``at_call``-th loss of the next run NaN (``loss``) or its gradients (``grad``)."""
    original = GACNTask.loss
    calls = {"n": 0}

    def loss(self: GACNTask, model: Any, batch: tuple[Any, ...]) -> dict[str, Any]:
        terms = dict(original(self, model, batch))
        calls["n"] += 1
        if calls["n"] == at_call:
            if how == "loss":
                terms["loss"] = terms["loss"] * float("nan")
            else:  # finite loss, NaN gradient: d sqrt(x)/dx at 0 is inf, times 0
                p = next(model.parameters())
                terms["loss"] = terms["loss"] + 0.0 * torch.sqrt(p.sum() * 0.0)
        return terms

    monkeypatch.setattr(GACNTask, "loss", loss)


# -- non-finite steps --------------------------------------------------------------------------


def test_nan_loss_keeps_last_good_checkpoint_and_resume_continues(
    data, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run.pt"
    common = ["--steps-per-epoch", "2"]
    assert training_main(_argv(data, out, *common, "--epochs", "1")) == 0
    good_sha, good_best = _sha(out), _sha(out.with_name("run.best.pt"))
    good = _raw(out)
    capsys.readouterr()

    # Epoch 2: step 1 is applied in memory, step 2's loss is NaN.
    _poison(monkeypatch, at_call=2)
    rc = training_main(_argv(data, out, *common, "--epochs", "2", "--resume", "--jsonl"))
    captured = capsys.readouterr()
    assert rc == 2
    assert "training diverged at epoch 2, step 2 (global step 4): the loss is nan" in captured.err
    assert "kept unchanged" in captured.err
    errors = [e for e in _events(captured.out) if e["event"] == "error"]
    assert len(errors) == 1
    err = errors[0]
    assert err["reason"] == "non-finite"
    assert (err["epoch"], err["step"], err["global_step"]) == (1, 2, 4)
    assert err["checkpoint"] == str(out)
    assert (err["checkpoint_epoch"], err["checkpoint_step"]) == (1, 0)
    assert "checkpoint" not in [e["event"] for e in _events(captured.out)]
    # The last good checkpoint (and the best copy) are byte-for-byte what they were.
    assert _sha(out) == good_sha
    assert _sha(out.with_name("run.best.pt")) == good_best
    _assert_finite(_raw(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.best.pt", "run.pt"]

    # Without the fault, --resume continues from it exactly: same as a run that never failed.
    monkeypatch.undo()
    assert training_main(_argv(data, out, *common, "--epochs", "2", "--resume")) == 0
    straight = tmp_path / "straight.pt"
    assert training_main(_argv(data, straight, *common, "--epochs", "2")) == 0
    resumed = _raw(out)
    assert resumed["epoch"] == 2
    assert resumed["global_step"] == 4
    assert resumed["metrics"][0] == good["metrics"][0]
    assert _same_weights(resumed["model"], _raw(straight)["model"])


def test_nan_gradient_in_first_step_writes_nothing(data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "fresh.pt"
    _poison(monkeypatch, at_call=1, how="grad")
    assert (
        training_main(_argv(data, out, "--epochs", "1", "--steps-per-epoch", "2", "--jsonl")) == 2
    )
    captured = capsys.readouterr()
    assert "non-finite gradients in" in captured.err
    assert "no checkpoint was written by this run" in captured.err
    err = next(e for e in _events(captured.out) if e["event"] == "error")
    assert err["checkpoint"] is None
    assert (err["epoch"], err["step"]) == (0, 1)
    assert list(tmp_path.iterdir()) == []


def test_huge_lr_never_overwrites_an_existing_checkpoint(data, tmp_path, capsys):
    # The auditor's case: an earlier run's checkpoint at --out, then a new run whose huge
    # learning rate blows the network up. Whatever step fails, the file stays as it was.
    out = tmp_path / "run.pt"
    assert training_main(_argv(data, out, "--epochs", "1", "--steps-per-epoch", "1")) == 0
    before = _sha(out)
    capsys.readouterr()
    assert (
        training_main(_argv(data, out, "--epochs", "2", "--steps-per-epoch", "3", "--lr", "1e37"))
        == 2
    )
    err = capsys.readouterr().err
    assert "training diverged at epoch 1" in err
    assert "no checkpoint was written by this run" in err
    assert _sha(out) == before
    _assert_finite(_raw(out))


def test_step_that_makes_weights_inf_is_not_saved(data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run.pt"
    assert training_main(_argv(data, out, "--epochs", "1", "--steps-per-epoch", "2")) == 0
    before = _sha(out)
    capsys.readouterr()
    original = torch.optim.Adam.step
    calls = {"n": 0}

    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        res = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # finite loss and gradients, but the update overflows
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("inf"))
        return res

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    assert (
        training_main(_argv(data, out, "--epochs", "2", "--steps-per-epoch", "2", "--resume")) == 2
    )
    err = capsys.readouterr().err
    assert "at epoch 2, step 1 (global step 3): the optimizer step made" in err
    assert "non-finite" in err
    assert "(after 1 epoch) is kept unchanged" in err
    assert _sha(out) == before
    _assert_finite(_raw(out))


def test_nonfinite_tensors_names_only_bad_float_tensors():
    t = {
        "a": torch.zeros(3),
        "b": torch.tensor([1.0, float("inf")]),
        "c": None,
        "d": torch.tensor([1, 2]),
        "e": torch.tensor([float("nan")]),
    }
    assert nonfinite_tensors(t.items()) == ["b", "e"]
    assert nonfinite_tensors([]) == []


# -- kill and Ctrl-C (real subprocesses) -------------------------------------------------------


def _spawn(data: Path, out: Path) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "training",
        *_argv(data, out, "--epochs", "1000", "--steps-per-epoch", str(SUB_STEPS), "--jsonl"),
    ]
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_until(
    proc: subprocess.Popen[str], done: Any, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Events of ``proc`` up to the first one for which ``done(event)`` is true."""
    assert proc.stdout is not None
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        events.append(json.loads(line))
        if done(events[-1]):
            return events
        assert time.monotonic() < deadline, "the training subprocess is too slow"
    raise AssertionError(f"the run ended early: {proc.wait()} {proc.stderr and proc.stderr.read()}")


def _reference(data: Path, tmp: Path, epochs: int) -> dict[str, Any]:
    """Weights of an uninterrupted in-process run of ``epochs`` epochs."""
    ref = tmp / f"ref{epochs}.pt"
    assert (
        training_main(
            _argv(data, ref, "--epochs", str(epochs), "--steps-per-epoch", str(SUB_STEPS))
        )
        == 0
    )
    return _raw(ref)["model"]


@pytest.mark.slow
def test_sigkill_mid_epoch_resumes_from_last_checkpoint(data, tmp_path):
    out = tmp_path / "killed.pt"
    proc = _spawn(data, out)
    try:
        # The first epoch's checkpoint is written, then the second epoch has begun.
        _read_until(proc, lambda e: e["event"] == "step" and e["epoch"] == 1 and e["step"] >= 1)
        at_kill = _sha(out)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _sha(out) == at_kill
    raw = _raw(out)
    assert (raw["epoch"], raw["step"], raw["global_step"]) == (1, 0, SUB_STEPS)
    _assert_finite(raw)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # Resume (with a shorter target: --epochs may change) and compare with a run never killed.
    assert (
        training_main(
            _argv(data, out, "--epochs", "2", "--steps-per-epoch", str(SUB_STEPS), "--resume")
        )
        == 0
    )
    done = _raw(out)
    assert (done["epoch"], done["global_step"]) == (2, 2 * SUB_STEPS)
    assert len(done["metrics"]) == 2
    assert done["metrics"][0] == raw["metrics"][0]
    assert _same_weights(done["model"], _reference(data, tmp_path, 2))


@pytest.mark.slow
def test_sigint_mid_epoch_saves_exits_0_and_resumes_exactly(data, tmp_path):
    out = tmp_path / "interrupted.pt"
    proc = _spawn(data, out)
    try:
        _read_until(proc, lambda e: e["event"] == "step" and e["step"] >= 2)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    events = _events(rest)
    stopped = [e for e in events if e["event"] == "stopped"]
    assert stopped
    assert stopped[0]["reason"] == "interrupt"
    assert "--resume" in stopped[0]["resume"]
    ck = next(e for e in events if e["event"] == "checkpoint")
    assert ck["reason"] == "interrupt"
    raw = _raw(out)
    assert raw["epoch"] == 0
    assert 2 <= raw["step"] < SUB_STEPS, "stopped mid-epoch"
    assert raw["global_step"] == raw["step"] == ck["step"]
    _assert_finite(raw)
    assert (
        training_main(
            _argv(data, out, "--epochs", "1", "--steps-per-epoch", str(SUB_STEPS), "--resume")
        )
        == 0
    )
    done = _raw(out)
    assert (done["epoch"], done["step"], done["global_step"]) == (1, 0, SUB_STEPS)
    assert _same_weights(done["model"], _reference(data, tmp_path, 1))
