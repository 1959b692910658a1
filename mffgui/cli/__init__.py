"""Headless command line: ``mffgui fuse|methods|...``; with no sub-command it starts the GUI.

Each sub-command lives in its own module of this package exposing ``add_parser(subparsers)``,
which registers an ``argparse`` parser whose ``func(args) -> int`` runs it. Errors a user can
cause (:class:`~mffgui.errors.MffError`) are printed without a traceback, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mffgui import __version__
from mffgui.errors import Cancelled, MffError

# Sub-command modules, in the order shown by --help.
SUBCOMMANDS = [
    "mffgui.cli.fuse",
    "mffgui.cli.methods",
    "mffgui.cli.bench",
    "mffgui.cli.compare",
    "mffgui.cli.align",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="mffgui",
        description="Multi-focus image fusion (focus stacking). Without a sub-command, "
        "opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"mffgui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in SUBCOMMANDS:
        importlib.import_module(mod).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mffgui`` console command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (
        argv[0] not in parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        and not argv[0].startswith("-")
    ):
        from mffgui.app import main as app_main

        return app_main(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        from mffgui.app import main as app_main

        return app_main([])
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("mffgui: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("mffgui: interrupted", file=sys.stderr)
        return 130
    except MffError as err:
        print(f"mffgui: error: {err}", file=sys.stderr)
        return 2
