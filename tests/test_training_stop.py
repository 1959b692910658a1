"""Stop takes effect within a step or a validation batch: no end-of-epoch validation after it.

The stop arrives the way the Train dialog sends it (a ``stop`` line on the trainer's stdin);
validation is made slow here so that finishing it before stopping would be visible.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mffgui.training.losses as losses_mod  # noqa: E402
from mffgui.training.__main__ import main as training_main  # noqa: E402
from mffgui.training.gacn import GACNTask  # noqa: E402

STEPS = 3
VAL_BATCHES = 8  # --val-count 64, 8 per batch
SLOW_S = 0.6  # per validation batch: ~5 s of validation in all


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sharp")
    rng = np.random.default_rng(2)
    for i in range(4):
        img = cv2.GaussianBlur(rng.random((40, 44)).astype(np.float32), (0, 0), 0.8)
        cv2.imwrite(str(d / f"g{i}.png"), (img * 255).astype(np.uint8))
    return d


class _StdinStop:
    """``sys.stdin`` stand-in: yields ``stop`` once :attr:`go` is set (like the dialog's Stop)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.sent_at = 0.0

    def __iter__(self):
        self.go.wait(60)
        self.sent_at = time.monotonic()
        yield "stop\n"


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "gacn",
        "--data",
        str(data),
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--patch-size",
        "32",
        "--val-count",
        str(8 * VAL_BATCHES),
        "--threads",
        "1",
        "--log-every",
        "1",
        "--seed",
        "3",
        "--steps-per-epoch",
        str(STEPS),
        "--jsonl",
        *extra,
    ]


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in text.splitlines() if x.startswith("{")]


@pytest.fixture
def slow_validation(monkeypatch):
    """Each validation batch takes ``SLOW_S`` longer; counts the batches scored."""
    calls = {"n": 0, "first": threading.Event()}
    original = losses_mod.soft_qabf

    def slow(*a: Any, **k: Any) -> Any:
        if torch.is_grad_enabled():  # the training loss uses it too; validation runs no_grad
            return original(*a, **k)
        calls["n"] += 1
        calls["first"].set()
        time.sleep(SLOW_S)
        return original(*a, **k)

    monkeypatch.setattr(losses_mod, "soft_qabf", slow)
    return calls


@pytest.mark.slow
def test_stop_during_validation_ends_within_a_batch(
    data, tmp_path, monkeypatch, capsys, slow_validation
):
    stdin = _StdinStop()
    monkeypatch.setattr(sys, "stdin", stdin)
    threading.Thread(
        target=lambda: (slow_validation["first"].wait(60), stdin.go.set()), daemon=True
    ).start()
    out = tmp_path / "run.pt"
    assert training_main(_argv(data, out, "--epochs", "2")) == 0
    ended = time.monotonic()
    events = _events(capsys.readouterr().out)
    kinds = [e["event"] for e in events]
    assert "stopped" in kinds
    assert "epoch" not in kinds  # the validation was not finished
    assert slow_validation["n"] < VAL_BATCHES
    assert ended - stdin.sent_at < 3 * SLOW_S + 1.0
    stopped = next(e for e in events if e["event"] == "stopped")
    assert stopped["reason"] == "stop on stdin"
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert (raw["epoch"], raw["step"]) == (1, 0)  # the epoch's steps are kept, unvalidated
    assert raw["metrics"] == []
    assert (stopped["epoch"], stopped["step"]) == (1, 0)
    # Resuming goes on with the next epoch.
    monkeypatch.setattr(sys, "stdin", iter(()))
    slow_validation["n"] = 0
    assert training_main(_argv(data, out, "--epochs", "2", "--resume")) == 0
    events = _events(capsys.readouterr().out)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [2]
    assert sum(e["event"] == "step" for e in events) == STEPS
    assert slow_validation["n"] == VAL_BATCHES
    assert torch.load(out, map_location="cpu", weights_only=True)["epoch"] == 2


def test_stop_in_last_step_skips_validation(data, tmp_path, monkeypatch, capsys, slow_validation):
    stdin = _StdinStop()
    monkeypatch.setattr(sys, "stdin", stdin)
    original = GACNTask.loss
    calls = {"n": 0}

    def loss(self: GACNTask, model: Any, batch: tuple[Any, ...]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == STEPS:  # the user presses Stop during the epoch's last step
            stdin.go.set()
            time.sleep(0.3)
        return original(self, model, batch)

    monkeypatch.setattr(GACNTask, "loss", loss)
    out = tmp_path / "run.pt"
    assert training_main(_argv(data, out, "--epochs", "3")) == 0
    kinds = [e["event"] for e in _events(capsys.readouterr().out)]
    assert "stopped" in kinds
    assert "epoch" not in kinds
    assert slow_validation["n"] == 0
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert (raw["epoch"], raw["step"]) == (1, 0)
