"""The main window's side of the Train dialog: its menu actions, opening and closing.

The window offers what the dialog needs through :class:`TrainingHost` (explicit members of
:class:`mffgui.gui.main_window.MainWindow`): the dialog it holds, the folders of the loaded
stack, and a hook for "trained weights changed".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from mffgui.gui.training.dialog import TrainingDialog

__all__ = [
    "TrainingHost",
    "open_training_dialog",
    "shutdown_training",
    "stack_folders",
    "training_actions",
]


@runtime_checkable
class TrainingHost(Protocol):
    """A window that hosts the Train dialog (the main window)."""

    training_dialog: TrainingDialog | None
    """The window's Train dialog once opened (one per window)."""

    def training_folders(self) -> list[str]:
        """Folders of the loaded stack (else the bundled sample's): the default data."""
        ...

    def trained_weights_changed(self) -> None:
        """Weights were saved to, renamed in or deleted from the library."""
        ...


def stack_folders(window: TrainingHost) -> list[str]:
    """Folders of the window's included sources, in order; else the bundled sample's."""
    return window.training_folders()


def open_training_dialog(
    parent: QWidget | None = None, folders: list[str] | None = None
) -> TrainingDialog:
    """Show the (non-modal) Train dialog; one per :class:`TrainingHost` window.

    ``folders`` become the training data unless the user picked other data already.
    """
    from mffgui.gui.training.dialog import TrainingDialog

    host = parent if isinstance(parent, TrainingHost) else None
    dlg = host.training_dialog if host is not None else None
    if dlg is not None:
        dlg.set_default_folders(folders or [])
        dlg.refresh_runs()
    else:
        dlg = TrainingDialog(parent, folders=folders)
        if host is not None:
            host.training_dialog = dlg
            dlg.weightsSaved.connect(lambda _id: host.trained_weights_changed())
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg


def training_actions(window: QWidget) -> tuple[QAction, QAction]:
    """ "Train on your data…" and "Trained weights…" actions for the window's menu."""
    host = window if isinstance(window, TrainingHost) else None
    train = QAction("&Train on your data…", window)
    train.setObjectName("act_train")
    train.setStatusTip("Fine-tune GACN or Fusion2Void on your own images")
    train.triggered.connect(
        lambda: open_training_dialog(window, host.training_folders() if host else [])
    )
    weights = QAction("Trained &weights…", window)
    weights.setObjectName("act_weights")
    weights.setStatusTip("Rename, export or delete your trained network weights")

    def manage() -> None:
        from mffgui.gui.widgets.weights_manager import WeightsManager

        dlg = WeightsManager(window)
        if host is not None:
            dlg.changed.connect(host.trained_weights_changed)
        dlg.show()

    weights.triggered.connect(manage)
    return train, weights


def shutdown_training(window: TrainingHost) -> bool:
    """Stop the window's training run cleanly before the app closes (see
    :meth:`TrainingDialog.shutdown`); ``True`` when no trainer is left running."""
    dlg = window.training_dialog
    if dlg is None:
        return True
    try:
        ok = dlg.shutdown()
        dlg.close()
    except RuntimeError:  # the C++ dialog is already gone
        return True
    return ok
