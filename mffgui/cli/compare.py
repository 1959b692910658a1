"""``mffgui compare``: fuse one stack with several methods; labelled grid + metrics table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mffgui.compare import (
    compare_methods,
    comparison_csv,
    comparison_grid,
    comparison_markdown,
)
from mffgui.errors import MffError, ParamsError
from mffgui.io import read_image, read_stack, write_image
from mffgui.io.writers import check_export_target, export_format
from mffgui.metrics import METRICS, resolve_metrics
from mffgui.metrics.common import to_uint8
from mffgui.metrics.report import write_text_atomic

__all__ = ["add_parser", "run"]


def _params(methods: list[str], sets: list[str] | None) -> dict[str, Any]:
    from mffgui.methods import get_method

    raw: dict[str, dict[str, str]] = {}
    for item in sets or ():
        key, sep, value = item.partition("=")
        meth, dot, name = key.partition(".")
        if not sep or not dot or not meth.strip() or not name.strip():
            raise ParamsError(f"--set expects METHOD.KEY=VALUE, got {item!r}")
        raw.setdefault(meth.strip().lower(), {})[name.strip()] = value.strip()
    unknown = set(raw) - {m.lower() for m in methods}
    if unknown:
        raise ParamsError(f"--set for a method that is not compared: {', '.join(unknown)}")
    out = {}
    for m in methods:
        info = get_method(m).info
        out[m] = info.params.from_mapping(raw.get(info.name, {}))
    return out


def run(args: argparse.Namespace) -> int:
    """Entry of ``mffgui compare``."""
    from mffgui.cli.fuse import ProgressLine
    from mffgui.methods import list_methods

    out = Path(args.output).expanduser()
    export_format(out)  # a bad extension fails before any fusion
    try:
        metrics = resolve_metrics(args.metrics)
    except ValueError as err:
        raise MffError(str(err)) from None
    methods = list(args.methods or [i.name for i in list_methods() if i.kind == "classical"])
    params = _params(methods, args.set)
    from mffgui.cli.align import align_for_fusion, align_options
    from mffgui.core.align import AlignedStack

    align = align_options(args)
    stack = read_stack(args.inputs, mixed_sizes=align["model"] != "off")
    check_export_target(out, [m.path for m in stack.metas])
    for note in stack.notes:
        print(f"compare: note: {note}", file=sys.stderr)
    gt = None
    if args.ground_truth:
        gt_img, _ = read_image(Path(args.ground_truth).expanduser())
        gt = to_uint8(gt_img)
        if gt.shape[:2] != stack.frame_size((len(stack) - 1) // 2):
            raise MffError("ground truth size differs from the stack's", args.ground_truth)
    stack = align_for_fusion(stack, label="compare", **align)
    if gt is not None and isinstance(stack, AlignedStack):
        x0, y0, x1, y1 = stack.box  # the ground truth is in the reference frame's pixels
        gt = gt[y0:y1, x0:x1]
    progress = ProgressLine("compare")
    entries = compare_methods(stack, methods, params, metrics, gt, progress=progress)
    progress.done(f"compare: {len(entries)} method(s) on {len(stack)} frames")
    grid = comparison_grid(entries, cols=args.cols, tile_width=args.tile_width or None)
    written = [write_image(out, grid, bit_depth=8, sources=[m.path for m in stack.metas if m.path])]
    md = comparison_markdown(entries)
    try:
        written.append(write_text_atomic(out.with_suffix(".md"), md))
        written.append(write_text_atomic(out.with_suffix(".csv"), comparison_csv(entries)))
    except OSError as err:
        raise MffError(f"cannot write the metrics table ({err.strerror or err})", out) from None
    print(md, end="")
    print("compare: wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0 if any(e.error is None for e in entries) else 1


def add_parser(subparsers: Any) -> None:
    """Register ``compare`` on the top-level sub-parsers."""
    p = subparsers.add_parser(
        "compare",
        help="fuse one stack with several methods: labelled grid + metrics table",
        description="Fuse one focus stack with several methods, save the results side by side "
        "in a labelled grid image (-o) and the objective metrics of each result next to it "
        "(same name, .md and .csv); the Markdown table is also printed.",
        epilog="examples:\n"
        "  mffgui compare shots/ --methods laplacian gff depthmap -o grid.png\n"
        "  mffgui compare a.jpg b.jpg -o grid.jpg --metrics QG QMI QY --set gff.r1=7\n"
        "  mffgui compare shots/ --methods gff depthmap -o grid.png --align similarity\n"
        "  mffgui compare shots/ -o grid.png --align off     # never align (default: auto)\n"
        f"metrics: {', '.join(METRICS)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="STACK", help="image files and/or a folder")
    p.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME",
        help="methods to compare (default: every classical method)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="GRID",
        help="grid image to write (.png, .jpg, .tif)",
    )
    p.add_argument("--metrics", nargs="+", metavar="NAME", help="metrics (default: all)")
    p.add_argument("--ground-truth", metavar="FILE", help="all-in-focus reference (PSNR/SSIM)")
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="method parameter (repeatable), e.g. --set gff.r1=7",
    )
    p.add_argument("--cols", type=int, metavar="N", help="tiles per row (default: automatic)")
    p.add_argument(
        "--tile-width",
        type=int,
        default=480,
        metavar="PX",
        help="width of each tile in pixels (0 = original size; default 480)",
    )
    from mffgui.cli.align import add_align_option

    add_align_option(p)
    p.set_defaults(func=run)
