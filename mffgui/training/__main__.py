"""``python -m mffgui.training {gacn,export,...} ...``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mffgui.errors import MffError
from mffgui.training import SUBCOMMANDS


def build_parser() -> argparse.ArgumentParser:
    """Parser with every module of :data:`mffgui.training.SUBCOMMANDS` registered."""
    parser = argparse.ArgumentParser(
        prog="python -m mffgui.training",
        description="Train or fine-tune mffgui's fusion networks; checkpoints load in the app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in SUBCOMMANDS:
        importlib.import_module(mod).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors print one line and exit with status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in checkpoints as the exact command
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("training: interrupted", file=sys.stderr)
        return 130
    except MffError as err:
        print(f"training: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
