"""Training and fine-tuning of mffgui's networks: ``python -m mffgui.training <network> ...``.

Each network is a sub-command module listed in :data:`SUBCOMMANDS`; it exposes
``add_parser(subparsers)`` and sets ``func(args) -> int`` (the same convention as the
``mffgui`` CLI). Adding a network is one line here plus its module (and ``training_task`` in its
:class:`~mffgui.models.specs.NetworkSpec`, which puts it in the Train dialog), which reuses
:mod:`mffgui.training.common` (loop, checkpoints, resume, stop, events) and
:mod:`mffgui.training.datasets` (synthetic pairs).
"""

from __future__ import annotations

from mffgui.models.specs import NetworkSpec, network_specs

#: Sub-command modules, in the order shown by ``--help``.
SUBCOMMANDS = [
    "mffgui.training.gacn",
    "mffgui.training.fusion2void",
    "mffgui.training.fusion2void_gpu",
    "mffgui.training.export",
]


def trainable_networks() -> list[NetworkSpec]:
    """The networks the app can train: every registered
    :class:`~mffgui.models.specs.NetworkSpec` with a training task, in registration order."""
    return [s for s in network_specs() if s.trainable]
