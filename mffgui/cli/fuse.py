"""``mffgui fuse``: fuse one stack (files/folders) or every sub-folder of a root (``--batch``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mffgui.cli.common import (
    ProgressLine,
    add_align_option,
    align_options,
    build_params,
    default_method,
    make_folder,
    parse_sets,
    report_alignment,
    stem,
)
from mffgui.errors import ExportError, MffError, ParamsError
from mffgui.io.microscopy import read_volume, volume_channels
from mffgui.io.writers import (
    EXPORT_FORMATS,
    check_export_target,
    export_format,
    write_height_map,
    write_image,
    write_maps,
    write_ome_tiff,
)
from mffgui.methods.registry import DEFAULT_METHOD
from mffgui.pipeline import fuse_files, fuse_volume
from mffgui.types import FusionResult, PhysicalSize, Stack, Volume

__all__ = [
    "ProgressLine",
    "add_parser",
    "batch_job",
    "build_params",
    "default_method",
    "parse_sets",
    "run",
]


def _write_outputs(
    args: argparse.Namespace,
    stack: Stack,
    result: FusionResult,
    out: Path,
    maps_dir: Path | None,
    volume: Volume | None = None,
) -> list[Path]:
    sources = [m.path for m in stack.metas if m.path is not None]
    depth = args.bit_depth if args.bit_depth is not None else stack.bit_depth
    if export_format(out) == "JPEG":
        if args.bit_depth == 16:
            raise ExportError("JPEG stores 8 bits only; use .png or .tif for 16 bits", out)
        depth = 8
    meta = volume.meta if volume is not None else stack.metas[0]
    if getattr(args, "z_step", None) is not None:  # --z-step also goes into OME-TIFF exports
        meta = dataclasses.replace(
            meta,
            physical=dataclasses.replace(meta.physical or PhysicalSize(), z=float(args.z_step)),
        )
    if volume is not None and (export_format(out) == "OME-TIFF" or not volume.rgb):
        written = [
            write_ome_tiff(
                out, result.fused, bit_depth=depth, meta=meta, rgb=volume.rgb, sources=sources
            )
        ]
    else:
        written = [
            write_image(
                out, result.fused, bit_depth=depth, quality=args.quality, meta=meta, sources=sources
            )
        ]
    if maps_dir is not None:
        written += write_maps(result, maps_dir, stem(out), sources=sources)
    if getattr(args, "height_map", None):
        written += _write_height(args, stack, result, sources)
    return written


def _z_step(args: argparse.Namespace, stack: Stack) -> float | None:
    if getattr(args, "z_step", None) is not None:
        return float(args.z_step)
    phys = stack.metas[0].physical
    return phys.z if phys is not None else None


def _write_height(
    args: argparse.Namespace, stack: Stack, result: FusionResult, sources: Sequence[Path]
) -> list[Path]:
    """The height map (32-bit float TIFF, µm) and its colour preview ``<stem>_preview.png``."""
    from mffgui.core.height import height_map, height_preview

    path = Path(args.height_map).expanduser()
    z = _z_step(args, stack)
    if z is None:
        print(
            f"{path.name}: note: no z-step recorded in the stack and no --z-step given; "
            "height is in frames",
            file=sys.stderr,
        )
    hmap = height_map(result.index_map, result.focus_maps, z if z is not None else 1.0)
    phys = stack.metas[0].physical
    if z is not None:
        phys = dataclasses.replace(phys or PhysicalSize(), z=z)
    written = [write_height_map(path, hmap, physical=phys, sources=sources)]
    preview = path.with_name(stem(path) + "_preview.png")
    written.append(write_image(preview, height_preview(hmap), bit_depth=8, sources=sources))
    return written


def _volume_input(args: argparse.Namespace, inputs: Sequence[str | Path]) -> Volume | None:
    """The input as a multi-channel volume when it is one (or ``--channel`` asks for it)."""
    if len(inputs) != 1 or not Path(inputs[0]).expanduser().is_file():
        if getattr(args, "channel", None) is not None:
            raise ParamsError(
                "--channel needs a single multi-channel file (OME-TIFF, ImageJ TIFF, CZI, ND2, LIF)"
            )
        return None
    path = Path(inputs[0]).expanduser()
    channels = volume_channels(path)
    if channels == 0 or (getattr(args, "channel", None) is None and channels == 1):
        if getattr(args, "channel", None) is not None and channels == 0:
            raise ParamsError(
                "--channel needs a multi-channel file (OME-TIFF, ImageJ TIFF, CZI, ND2, LIF)", path
            )
        return None
    volume = read_volume(path)
    if getattr(args, "channel", None) is None and volume.rgb:
        return None  # an RGB z-stack: the ordinary path fuses it as colour frames
    return volume


def _fuse_one(
    args: argparse.Namespace,
    inputs: Sequence[str | Path],
    out: Path,
    maps_dir: Path | None,
    label: str,
) -> list[Path]:
    # Fail on a bad extension or bit depth before the (long) fusion.
    if export_format(out) == "JPEG" and args.bit_depth == 16:
        raise ExportError("JPEG stores 8 bits only; use .png or .tif for 16 bits", out)
    method, params = build_params(
        args.method or default_method(), parse_sets(args.set), args.device, args.weights
    )
    if getattr(args, "height_map", None):
        hm = Path(args.height_map).expanduser()
        if export_format(hm) not in ("TIFF", "OME-TIFF"):
            raise ExportError("--height-map writes a 32-bit float TIFF; name it .tif", hm)
    align = align_options(args)
    volume = _volume_input(args, inputs)
    guide: Any = None
    if volume is not None:
        # --- multi-channel volume (issue 22): one depth map from a guide channel ---
        from mffgui.core.channels import parse_channel

        n_c = volume.shape[1]
        try:
            guide = parse_channel(args.channel if args.channel is not None else "sum", n_c)
        except ValueError as err:
            raise ParamsError(f"--channel: {err}", volume.meta.path) from None
        if n_c not in (1, 3) and export_format(out) != "OME-TIFF":
            raise ExportError(
                f"a {n_c}-channel result needs an OME-TIFF output (name it .ome.tif)", out
            )
        what = "the sum of the channels" if guide == "sum" else f"channel {int(guide) + 1}"
        print(
            f"{label}: note: {volume.shape[0]} planes x {n_c} channel(s); depth map from "
            f"{what}, applied to every channel (alignment is not applied)",
            file=sys.stderr,
        )

    def on_read(stack: Stack) -> None:
        check_export_target(out, [m.path for m in stack.metas])
        if maps_dir is not None:
            make_folder(maps_dir, "maps")
        for note in stack.notes:
            print(f"{label}: note: {note}", file=sys.stderr)

    t_fuse = [time.perf_counter()]

    def on_aligned(outcome: Any, seconds: float) -> None:
        align_progress.clear()
        report_alignment(outcome, seconds, label, align)
        t_fuse[0] = time.perf_counter()

    # Frames of different sizes are aligned onto the reference frame unless alignment is off
    # (mffgui.pipeline: read -> align -> fuse, the invalid border of an uncropped aligned
    # stack left out).
    align_progress = ProgressLine(f"{label}: align")
    progress = ProgressLine(label)
    try:
        if volume is not None:  # the one multi-channel path of the app and the CLI
            fused = fuse_volume(
                volume, method, params, channel=guide, progress=progress, on_read=on_read
            )
        else:
            fused = fuse_files(
                inputs,
                method,
                params,
                align=align,
                raw=getattr(args, "raw", "srgb"),
                progress=progress,
                align_progress=align_progress,
                on_read=on_read,
                on_aligned=on_aligned,
            )
        stack, result = fused.stack, fused.result
        written = _write_outputs(args, stack, result, out, maps_dir, volume)
    except BaseException:
        align_progress.clear()
        progress.clear()
        raise
    progress.done(
        f"{label}: {fused.report.summary()} in "
        f"{time.perf_counter() - t_fuse[0]:.1f} s -> {written[0]}"
    )
    return written


def batch_job(args: argparse.Namespace) -> Any:
    """The :class:`~mffgui.batch.BatchJob` of ``mffgui fuse --batch``'s flags."""
    from mffgui.batch import BatchJob

    al = align_options(args)
    return BatchJob(
        method=args.method,
        sets=tuple(parse_sets(args.set).items()),
        device=args.device,
        weights=str(Path(args.weights).expanduser().resolve()) if args.weights else None,
        align=al.mode,
        align_interpolation=al.interpolation,
        align_crop=al.crop,
        bit_depth=args.bit_depth,
        quality=args.quality,
        fmt=args.format,
        maps_dir=str(Path(args.maps).expanduser().resolve()) if args.maps else None,
        threads=0,
    )


def _batch(args: argparse.Namespace) -> int:
    from mffgui.batch import (
        NO_DASK_MESSAGE,
        BatchProgress,
        BatchRunner,
        dask_available,
        discover_stacks,
        write_report,
    )

    stacks = discover_stacks(args.batch)
    out_dir = Path(args.output).expanduser()
    if out_dir.suffix.lower() in EXPORT_FORMATS:
        raise ExportError("with --batch, -o names an output folder, not a file", out_dir)
    if args.workers is not None and args.workers < 1:
        raise ParamsError(f"--workers must be at least 1, not {args.workers}")
    if args.threads_per_worker < 1:
        raise ParamsError(f"--threads-per-worker must be at least 1, not {args.threads_per_worker}")
    make_folder(out_dir, "output")
    if args.maps:
        make_folder(Path(args.maps).expanduser(), "maps")
    # Validate method and params once, before any work.
    build_params(args.method or default_method(), parse_sets(args.set), args.device, args.weights)
    job = batch_job(args)
    use_dask = not args.no_dask
    if use_dask and not dask_available():
        if args.scheduler:
            raise MffError("--scheduler needs dask: pip install 'mffgui[batch]'")
        print(f"batch: {NO_DASK_MESSAGE}", file=sys.stderr)
        use_dask = False
    progress = BatchProgress(len(stacks))
    t0 = time.time()
    with BatchRunner(
        job,
        out_dir,
        use_dask=use_dask,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        scheduler=args.scheduler,
        retries=args.retries,
    ) as runner:
        if use_dask:
            info = runner.start()
            where = (
                "embedded LocalCluster" if info.kind == "local" else f"scheduler {info.scheduler}"
            )
            progress.message(
                f"batch: {len(stacks)} stack(s) on {where}: {info.workers} "
                f"worker(s), {info.threads} thread(s); dashboard: "
                f"{info.dashboard or 'none (pip install bokeh)'}"
            )
        results = runner.run(stacks, resume=args.resume, on_result=progress)
        info = runner.info
    progress.finish()
    failed = [r for r in results if r.status != "done" and r.status != "skipped"]
    summary = {
        "root": str(Path(args.batch).expanduser().resolve()),
        "out": str(out_dir.resolve()),
        "method": job.method_name(),
        "engine": info.kind,
        "workers": info.workers,
        "threads": info.threads,
        "scheduler": info.scheduler,
        "started": t0,
        "wall_seconds": time.time() - t0,
    }
    csv_path, _ = write_report(out_dir, results, summary)
    ok = len(results) - len(failed)
    print(
        f"batch: {ok} of {len(results)} stack(s) fused into {out_dir}"
        + (f"; {len(failed)} failed" if failed else "")
        + f"; report: {csv_path}",
        file=sys.stderr,
    )
    for r in failed:
        print(f"  failed: {r.stack}: {r.error}", file=sys.stderr)
    return 2 if failed else 0


def run(args: argparse.Namespace) -> int:
    """Entry of ``mffgui fuse``; returns the exit code (MffErrors propagate to the CLI shell)."""
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise ParamsError(f"--quality must be 1..100, not {args.quality}")
    if args.batch:
        if args.inputs:
            raise MffError("give either INPUTS or --batch ROOT, not both")
        if getattr(args, "height_map", None) or getattr(args, "channel", None) is not None:
            raise ParamsError("--height-map and --channel are for one stack, not --batch")
        return _batch(args)
    if not args.inputs:
        raise MffError("no inputs: give image files and/or folders, or --batch ROOT")
    out = Path(args.output).expanduser()
    maps_dir = Path(args.maps).expanduser() if args.maps else None
    _fuse_one(args, args.inputs, out, maps_dir, out.name)
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``fuse`` on the top-level sub-parsers."""
    p = subparsers.add_parser(
        "fuse",
        help="fuse a focus stack into one all-in-focus image",
        description="Fuse a focus stack (image files, folders, multi-page TIFFs) into one "
        "all-in-focus image. With --batch, every sub-folder of ROOT is one stack.",
        epilog="examples:\n"
        "  mffgui fuse shots/ -o fused.png\n"
        "  mffgui fuse a.jpg b.jpg -o fused.jpg --method gff --set r1=7\n"
        "  mffgui fuse stack.tif -o fused.tif --bit-depth 16 --maps maps/\n"
        "  mffgui fuse --batch scenes/ -o fused/ --format tif\n"
        "  mffgui fuse shots/ -o fused.png --align off    # never align (default: auto)\n"
        "  mffgui fuse --batch scenes/ -o fused/ --workers 4 --resume\n"
        "  mffgui fuse cells.ome.tif -o fused.ome.tif --channel 2 --height-map height.tif\n"
        "Run `mffgui methods` for the methods and their parameters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUTS",
        help="image files and/or folders (natural order: img2 before img10)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output image (.png, .tif, .jpg); with --batch, an output folder",
    )
    p.add_argument(
        "--batch",
        metavar="ROOT",
        help="fuse every sub-folder of ROOT as its own stack into OUT/<name>.<format>",
    )
    p.add_argument(
        "--format",
        choices=["png", "tif", "jpg"],
        default="png",
        help="output format for --batch (default png)",
    )
    p.add_argument(
        "-m",
        "--method",
        default=None,
        help=f"fusion method (default: {DEFAULT_METHOD}; see `mffgui methods`)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="method parameter, repeatable (e.g. --set radius=5)",
    )
    p.add_argument(
        "--maps",
        metavar="DIR",
        help="also write the index, decision and focus maps (16-bit PNG) into DIR",
    )
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=[8, 16],
        default=None,
        help="output bits per sample (default: the input's; JPEG is always 8)",
    )
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1..100 (default 95)")
    p.add_argument(
        "--device", default=None, help="compute device for network methods (auto, cpu, cuda, mps)"
    )
    p.add_argument(
        "--weights", default=None, metavar="FILE", help="checkpoint file for network methods"
    )
    b = p.add_argument_group("batch (--batch; parallel on Dask when installed)")
    b.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the embedded Dask cluster (default: the usable "
        "cores / --threads-per-worker)",
    )
    b.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        metavar="T",
        help="threads per worker process (default 1)",
    )
    b.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="submit to an existing Dask scheduler (e.g. tcp://host:8786) instead "
        "of starting a local cluster; input and output paths must be the same on "
        "the workers",
    )
    b.add_argument(
        "--no-dask",
        action="store_true",
        help="fuse the stacks one after another in this process (also the fallback "
        "when dask is not installed)",
    )
    b.add_argument(
        "--resume",
        action="store_true",
        help="skip stacks whose output is complete (written by an earlier batch "
        "with the same settings, unchanged since)",
    )
    b.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="K",
        help="resubmit a task that crashed unexpectedly up to K times (default 2)",
    )
    p.add_argument(
        "--channel",
        default=None,
        metavar="N|sum",
        help="multi-channel stacks (OME-TIFF, CZI, ND2, LIF): the depth map comes "
        "from channel N (1-based) or the sum of all channels (default sum) and is "
        "applied to every channel; output .ome.tif keeps all channels",
    )
    p.add_argument(
        "--height-map",
        default=None,
        metavar="FILE",
        help="also write the height map in µm (32-bit float TIFF; frame index x "
        "z-step, interpolated between frames) and FILE_preview.png",
    )
    p.add_argument(
        "--raw",
        choices=["srgb", "linear"],
        default="srgb",
        help="camera RAW/DNG frames: sRGB tone curve (default) or linear response "
        "(needs the 'raw' extra)",
    )
    p.add_argument(
        "--z-step",
        type=float,
        default=None,
        metavar="UM",
        help="distance between frames in µm (default: the file's PhysicalSizeZ); "
        "used for --height-map and recorded in OME-TIFF output",
    )
    add_align_option(p)
    p.set_defaults(func=run)
