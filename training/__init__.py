"""Training and fine-tuning of mffgui's networks: ``python -m training <network> ...``.

Each network is a sub-command module listed in :data:`SUBCOMMANDS`; it exposes
``add_parser(subparsers)`` and sets ``func(args) -> int`` (the same convention as the
``mffgui`` CLI). Adding a network is one line here plus its module, which reuses
:mod:`training.common` (loop, checkpoints, resume, stop, events) and
:mod:`training.datasets` (synthetic pairs).
"""

from __future__ import annotations

#: Sub-command modules, in the order shown by ``--help``.
SUBCOMMANDS = [
    "training.gacn",
    "training.fusion2void",
    "training.fusion2void_gpu",
    "training.export",
]
