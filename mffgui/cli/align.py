"""``mffgui align``: align a focus stack and write the aligned frames (no fusion)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mffgui.core.align import (
    INTERPOLATIONS,
    MODELS,
    AlignedStack,
    AlignmentReport,
    apply_alignment,
    estimate_alignment,
)
from mffgui.core.align_auto import ALIGN_MODES, normalise_mode
from mffgui.errors import AlignmentError, ExportError
from mffgui.types import ImageMeta, Stack

__all__ = [
    "add_align_option",
    "add_parser",
    "align_for_fusion",
    "align_options",
    "parse_reference",
    "run",
]


def add_align_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--align``, ``--align-interpolation`` and ``--align-no-crop`` to a fusing command."""
    parser.add_argument(
        "--align",
        choices=[*ALIGN_MODES, "none"],
        default="auto",
        type=str.lower,
        help="align the frames before fusing: auto (default) checks a few frames for motion "
        "and aligns with the similarity model (shift, rotation, focus breathing) only when "
        "they moved or differ in size; off (or none) never aligns; a model always aligns "
        "with it. Frames that fail to align are left out with a warning; the result is "
        "cropped to the area every frame covers (see --align-no-crop)",
    )
    parser.add_argument(
        "--align-interpolation",
        choices=list(INTERPOLATIONS),
        default="linear",
        help="resampling kernel of --align (default linear)",
    )
    parser.add_argument(
        "--align-no-crop",
        action="store_true",
        help="with --align, keep the full frame size: where a frame has no data (its "
        "alignment border) fusion uses only the frames that do",
    )


def align_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`align_for_fusion` from :func:`add_align_option`'s flags."""
    return {
        "model": normalise_mode(getattr(args, "align", "auto")),
        "interpolation": getattr(args, "align_interpolation", "linear"),
        "crop": not getattr(args, "align_no_crop", False),
    }


def align_for_fusion(
    stack: Stack,
    model: str,
    label: str = "align",
    *,
    interpolation: str = "linear",
    crop: bool = True,
) -> Stack:
    """Align ``stack`` as ``model`` asks for fusion, reporting to stderr.

    Parameters
    ----------
    stack : Stack
        The frames as read (sizes may differ unless ``model`` is ``off``).
    model : str
        ``"off"`` (or ``"none"``), ``"auto"`` or one of :data:`~mffgui.core.align.MODELS`.
    label : str
        Prefix of the messages.
    interpolation : str
        Resampling kernel, one of :data:`~mffgui.core.align.INTERPOLATIONS`.
    crop : bool
        Crop to the area every frame covers; otherwise keep the full size (fuse it with
        :func:`mffgui.core.align_fuse.fuse_stack` so the invalid border is ignored).

    Returns
    -------
    Stack
        ``stack`` itself when not aligned (off, or auto found no motion), else the lazily
        aligned stack (failed frames left out, with a warning).
    """
    from mffgui.cli.fuse import ProgressLine
    from mffgui.core.align_auto import align_for_fusion as align_core

    progress = ProgressLine(f"{label}: align")
    t0 = time.perf_counter()
    try:
        outcome = align_core(
            stack, model, interpolation=interpolation, crop=crop, progress=progress
        )
    finally:
        progress.clear()
    seconds = time.perf_counter() - t0
    if outcome.report is None:
        if outcome.mode == "auto":
            print(f"{label}: {outcome.summary()} ({seconds:.2f} s)", file=sys.stderr)
        return outcome.stack
    aligned = outcome.stack
    assert isinstance(aligned, AlignedStack)
    report = outcome.report
    for msg in report.messages():
        print(f"{label}: warning: excluded: {msg}", file=sys.stderr)
    x0, y0, x1, y1 = aligned.box
    area = (
        f"cropped to {x1 - x0}x{y1 - y0}"
        if crop
        else f"full size, every frame valid in {100 * aligned.valid_mask.mean():.1f} % of it"
    )
    auto = f"auto: {outcome.check.reason}; " if outcome.check is not None else ""
    print(
        f"{label}: {auto}aligned {len(aligned)} of {len(stack)} frames "
        f"({report.model}, {interpolation}, reference frame {report.reference + 1}); {area} "
        f"({seconds:.1f} s)",
        file=sys.stderr,
    )
    return aligned


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
    from mffgui.cli.fuse import ProgressLine
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
