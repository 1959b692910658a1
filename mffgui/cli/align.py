"""``mffgui align``: align a focus stack and write the aligned frames (no fusion)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mffgui.cli.common import ProgressLine
from mffgui.core.align import (
    INTERPOLATIONS,
    MODELS,
    AlignmentReport,
    apply_alignment,
    estimate_alignment,
)
from mffgui.errors import AlignmentError, ExportError
from mffgui.types import ImageMeta

__all__ = ["add_parser", "output_name", "parse_reference", "run"]


def parse_reference(text: str) -> str | int:
    """``middle`` / ``sharpest`` / a 1-based frame number -> the API's reference argument."""
    if text in ("middle", "sharpest"):
        return text
    try:
        number = int(text)
    except ValueError:
        raise AlignmentError(
            f"--reference must be 'middle', 'sharpest' or a frame number, not {text!r}"
        ) from None
    if number < 1:
        raise AlignmentError(f"--reference frame numbers start at 1, got {number}")
    return number - 1


def output_name(meta: ImageMeta, index: int, ext: str) -> str:
    """File name of an aligned frame: the source's stem (plus the page for multi-page files)."""
    stem = meta.path.stem if meta.path is not None else f"frame_{index + 1:03d}"
    if meta.page is not None:
        stem += f"_p{meta.page + 1:03d}"
    return f"{stem}{ext}"


def run(args: argparse.Namespace) -> int:
    """Entry of ``mffgui align``; returns the exit code (MffErrors propagate to the CLI)."""
    from mffgui.io import read_stack, write_image

    out_dir = Path(args.output).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError("-o must name a folder for the aligned frames", out_dir)
    reference = parse_reference(args.reference)
    # Frames of another size are registered on the reference frame's canvas.
    stack = read_stack(args.inputs, mixed_sizes=True)
    for note in stack.notes:
        print(f"note: {note}", file=sys.stderr)
    sources = [m.path for m in stack.metas if m.path is not None]
    t0 = time.perf_counter()
    if args.transforms:
        report = AlignmentReport.from_json(args.transforms)
        print(f"using the transforms of {args.transforms} (model {report.model})", file=sys.stderr)
    else:
        progress = ProgressLine("align")
        try:
            report = estimate_alignment(
                stack,
                model=args.model,
                reference=reference,
                max_size=args.max_size,
                progress=progress,
            )
        finally:
            progress.clear()
    # Lazy: checks that the transforms fit this stack before anything is printed or written.
    aligned = apply_alignment(
        stack,
        report,
        interpolation=args.interpolation,
        crop=not args.no_crop,
        exclude_failed=not args.keep_failed,
    )
    print(report.table())
    for msg in report.messages():
        action = "kept unaligned" if args.keep_failed else "excluded"
        print(f"warning: {action}: {msg}", file=sys.stderr)
    if args.save_transforms:
        from mffgui.io.transforms import save_transforms

        save_transforms(report, args.save_transforms)
        print(f"transforms saved to {args.save_transforms}", file=sys.stderr)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(
            f"cannot create the output folder ({err.strerror or err})", out_dir
        ) from None
    fmt = args.format or _default_format(stack.metas[0])
    ext = "." + fmt
    for k, meta in enumerate(aligned.metas):
        target = out_dir / output_name(meta, aligned.indices[k], ext)
        depth = 8 if fmt == "jpg" else meta.bit_depth
        write_image(target, aligned.frame(k), bit_depth=depth, meta=meta, sources=sources)
    if args.no_crop:
        mask = aligned.valid_mask.astype(np.float32)
        write_image(out_dir / "valid_mask.png", mask, bit_depth=8, sources=sources)
    x0, y0, x1, y1 = aligned.box
    if args.no_crop:
        area = f"valid in {100 * aligned.valid_mask.mean():.1f} % of the frame (valid_mask.png)"
    else:
        area = f"cropped to {x1 - x0}x{y1 - y0} at ({x0}, {y0})"
    print(
        f"aligned {len(aligned)} of {len(stack)} frames in {time.perf_counter() - t0:.1f} s; "
        f"{area} -> {out_dir}",
        file=sys.stderr,
    )
    return 0


def _default_format(meta: ImageMeta) -> str:
    return "tif" if meta.format.upper() in ("TIFF", "TIF") else "png"


def add_parser(subparsers: Any) -> None:
    """Register ``align`` on the top-level sub-parsers."""
    p = subparsers.add_parser(
        "align",
        help="align the frames of a focus stack (shift, rotation, scale, perspective)",
        description="Register every frame to a reference frame and write the aligned frames, "
        "cropped to the area all of them cover, at the source bit depth. Frames whose "
        "alignment fails are left out (with a warning) unless --keep-failed.",
        epilog="examples:\n"
        "  mffgui align shots/ -o aligned/\n"
        "  mffgui align shots/ -o aligned/ --model homography --interpolation lanczos\n"
        "  mffgui align shots/ -o aligned/ --save-transforms rig.json\n"
        "  mffgui align other_shots/ -o aligned2/ --transforms rig.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs", nargs="+", metavar="STACK", help="image files and/or folders of one stack"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="folder for the aligned frames (created if missing)",
    )
    p.add_argument(
        "--model",
        choices=MODELS,
        default="similarity",
        help="motion model (default similarity: shift, rotation and the scale "
        "change of focus breathing)",
    )
    p.add_argument(
        "--reference",
        default="middle",
        metavar="REF",
        help="frame to align to: middle (default), sharpest, or a frame number from 1",
    )
    p.add_argument(
        "--interpolation",
        choices=list(INTERPOLATIONS),
        default="linear",
        help="resampling kernel (default linear)",
    )
    p.add_argument(
        "--no-crop",
        action="store_true",
        help="keep the full frame size; the border not covered by every frame is "
        "filled by edge replication and marked in DIR/valid_mask.png",
    )
    p.add_argument(
        "--keep-failed",
        action="store_true",
        help="keep frames whose alignment failed (unaligned) instead of leaving them out",
    )
    p.add_argument(
        "--save-transforms", metavar="FILE", help="write the per-frame transforms as JSON"
    )
    p.add_argument(
        "--transforms",
        metavar="FILE",
        help="apply transforms saved earlier instead of estimating them (same "
        "frame count and size)",
    )
    p.add_argument(
        "--format",
        choices=["png", "tif", "jpg"],
        default=None,
        help="output format (default: tif for TIFF sources, else png)",
    )
    p.add_argument(
        "--max-size",
        type=int,
        default=1024,
        metavar="PX",
        help="longest side registration works at (default 1024)",
    )
    p.set_defaults(func=run)
