"""Train dialog: where the loaded stack goes, the GACN hint, and the texts after Stop."""

from __future__ import annotations

import pytest

import mffgui.gui  # noqa: F401 - first: works around the PySide6 refcount defect

pytest.importorskip("torch")

from mffgui.gui.training.dialog import TrainingDialog
from mffgui.training.session import data_hint, stopped_message


@pytest.fixture
def dlg(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("MFFGUI_DATA_DIR", str(tmp_path / "userdata"))
    stack = tmp_path / "stack"
    stack.mkdir()
    d = TrainingDialog(folders=[str(stack)])
    qtbot.addWidget(d)
    d.stack = stack  # type: ignore[attr-defined]
    return d


def test_loaded_stack_goes_to_fusion2void_stacks(dlg):
    stack = str(dlg.stack)
    assert dlg.stacks_list.paths() == [stack]
    assert dlg.sharp_list.paths() == []
    assert dlg.arch == "fusion2void"
    dlg.run_path = dlg.stack / "run.pt"
    args = dlg.command_args()
    assert args[args.index("--pairs") + 1] == stack
    assert "--data" not in args
    assert not dlg.data_hint.isVisibleTo(dlg)


def test_gacn_chosen_with_only_a_stack_warns(dlg):
    idx = dlg.network.findData("gacn")
    dlg.network.setCurrentIndex(idx)
    dlg.network.activated.emit(idx)  # as a user's choice
    assert dlg.arch == "gacn"
    assert dlg.data_hint.isVisibleTo(dlg)
    assert "sharp, in-focus" in dlg.data_hint.text()
    # Opening the dialog again with the stack keeps the user's network.
    dlg.set_default_folders([str(dlg.stack)])
    assert dlg.arch == "gacn"
    dlg.sharp_list.add_path(dlg.stack.parent)
    assert not dlg.data_hint.isVisibleTo(dlg)


class _Proc:
    """Stands in for the trainer's QProcess: records what Stop writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.alive = True

    def state(self):
        from PySide6.QtCore import QProcess

        return QProcess.ProcessState.Running if self.alive else QProcess.ProcessState.NotRunning

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_stop_clears_time_left_and_says_it_plainly(dlg):
    dlg.proc = _Proc()  # type: ignore[assignment]
    dlg._set_state("running")
    dlg.eta.setText("about 3 min left")
    dlg.stop()
    assert dlg.proc.written == [b"stop\n"]
    assert dlg.eta.text() == ""
    dlg.eta.setText("about 3 min left")
    dlg._on_event({"event": "stopped", "reason": "stop on stdin", "epoch": 1, "step": 14})
    assert dlg.eta.text() == ""
    text = dlg.status.text()
    assert text.startswith("Stopped by you; resume any time")
    assert "stdin" not in text
    assert "epoch 2, step 14" in text
    dlg._stop_timer.stop()
    dlg.proc.alive = False
    dlg._set_state("stopped")


def test_messages_are_plain():
    assert (
        stopped_message("stop on stdin", 0, 3)
        == "Stopped by you; resume any time (saved at epoch 1, step 3)."
    )
    assert stopped_message("stop on stdin", 2, 0).endswith("(saved after epoch 2).")
    assert stopped_message("time budget", 2, None).startswith("Stopped: the time budget")
    assert "stdin" not in stopped_message("stop on stdin", 0, 0)
    assert data_hint("gacn", [], ["/s"])
    assert data_hint("gacn", ["/a"], ["/s"]) == ""
    assert data_hint("fusion2void", [], ["/s"]) == ""
