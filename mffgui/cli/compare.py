"""``mffgui compare``: fuse one stack with several methods; labelled grid + metrics table."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from mffgui.cli.common import (
    ProgressLine,
    add_align_option,
    align_options,
    classical_methods,
    metric_names,
    parse_method_sets,
    report_alignment,
)
from mffgui.compare import (
    compare_methods,
    comparison_csv,
    comparison_grid,
    comparison_markdown,
)
from mffgui.core.align import AlignedStack
from mffgui.errors import MffError
from mffgui.io import read_image, read_stack, write_image
from mffgui.io.writers import check_export_target, export_format
from mffgui.metrics import METRICS
from mffgui.metrics.common import to_uint8
from mffgui.metrics.report import write_text_atomic
from mffgui.pipeline import align_input

__all__ = ["add_parser", "run"]


def _params(methods: list[str], sets: list[str] | None) -> dict[str, Any]:
    from mffgui.methods import get_method

    raw = parse_method_sets(sets, methods, "compared")
    out = {}
    for m in methods:
        info = get_method(m).info
        out[m] = info.params.from_mapping(raw.get(info.name, {}))
    return out


def run(args: argparse.Namespace) -> int:
    """Entry of ``mffgui compare``."""
    out = Path(args.output).expanduser()
    export_format(out)  # a bad extension fails before any fusion
    metrics = metric_names(args.metrics)
    methods = list(args.methods or classical_methods())
    params = _params(methods, args.set)
    align = align_options(args)
    stack = read_stack(args.inputs, mixed_sizes=align.mode != "off")
    check_export_target(out, [m.path for m in stack.metas])
    for note in stack.notes:
        print(f"compare: note: {note}", file=sys.stderr)
    gt = None
    if args.ground_truth:
        gt_img, _ = read_image(Path(args.ground_truth).expanduser())
        gt = to_uint8(gt_img)
        if gt.shape[:2] != stack.frame_size((len(stack) - 1) // 2):
            raise MffError("ground truth size differs from the stack's", args.ground_truth)
    align_progress = ProgressLine("compare: align")
    t0 = time.perf_counter()
    try:
        outcome = align_input(stack, align, progress=align_progress)
    finally:
        align_progress.clear()
    report_alignment(outcome, time.perf_counter() - t0, "compare", align)
    stack = outcome.stack
    if gt is not None and isinstance(stack, AlignedStack):
        x0, y0, x1, y1 = stack.box  # the ground truth is in the reference frame's pixels
        gt = gt[y0:y1, x0:x1]
    progress = ProgressLine("compare")
    # Every method fuses through the one compare loop (mffgui.compare.compare_stack): a method
    # that raises (MffError, a torch RuntimeError, MemoryError...) is reported in the tables
    # and the others still run.
    entries = compare_methods(stack, methods, params, metrics, gt, progress=progress)
    progress.done(f"compare: {len(entries)} method(s) on {len(stack)} frames")
    for e in entries:
        if e.error is not None:
            print(f"compare: {e.label} failed: {e.error}", file=sys.stderr)
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
    add_align_option(p)
    p.set_defaults(func=run)
