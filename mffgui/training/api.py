"""What the app may use of the training package (the GUI imports only this module).

The app starts training in a child process (``python -m mffgui.training ...``) and reads its
JSON-lines events; in-process it needs only the trainers' defaults and the data-folder helpers
below. The import contract "gui uses training only through mffgui.training.api"
(``[tool.importlinter]`` in pyproject.toml) keeps it that way. Qt-free; torch is not imported.
"""

from __future__ import annotations

from typing import Any

from mffgui.models.specs import get_spec
from mffgui.training import trainable_networks
from mffgui.training.datasets import find_real_pairs, list_images

__all__ = ["arches", "find_real_pairs", "list_images", "task_defaults"]


def arches() -> tuple[str, ...]:
    """Networks the app can train (``python -m mffgui.training <arch>``), from their specs."""
    return tuple(s.arch for s in trainable_networks())


def task_defaults(arch: str) -> dict[str, Any]:
    """The trainer's defaults for ``arch`` (epochs, batch size, patch size, ...).

    Raises
    ------
    MffError
        Unknown or not trainable network.
    """
    return dict(get_spec(arch).task_class().defaults)
