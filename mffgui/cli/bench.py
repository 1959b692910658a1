"""``mffgui bench``: score fusion methods and existing results on a dataset of scenes.

A dataset is a folder of scene folders; each scene folder holds the source images (stack order
= natural sort of the names) and optionally a ground truth (``*groundtruth*``). The command runs
registered methods on every scene (``--methods``) and/or scores fused images made by other
tools (``--results DIR``, one ``DIR/<scene>.<ext>`` per scene) and writes, under ``--out``:

* ``summary.md`` (docs-ready table), ``summary.csv`` and ``summary.json``: per entry the mean of
  every metric, the fusion time per scene and how many scenes were scored;
* ``<entry>/scenes.csv`` and ``<entry>/scenes.json``: every scene's values.

Progress goes to stderr, the Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mffgui.cli.common import (
    add_align_option,
    align_options,
    classical_methods,
    metric_names,
    parse_method_sets,
    safe_name,
)
from mffgui.compare import method_error_text
from mffgui.core.align import AlignedStack
from mffgui.errors import Cancelled, MffError
from mffgui.io import Discovery, discover, read_image
from mffgui.io.readers import is_image_file
from mffgui.io.stacks import natural_key
from mffgui.metrics import METRICS, gray255, score
from mffgui.metrics.common import to_uint8
from mffgui.metrics.report import (
    format_value,
    metrics_table_markdown,
    rows_to_csv,
    rows_to_json,
    write_text_atomic,
)
from mffgui.pipeline import AlignSettings, align_input, fuse_stack, read_input

__all__ = [
    "BenchEntry",
    "Scene",
    "SceneScore",
    "add_parser",
    "find_result",
    "find_scenes",
    "run",
    "run_bench",
    "summary_markdown",
    "write_reports",
]


@dataclass
class Scene:
    """One scene of a dataset: its source frames and optional ground truth."""

    name: str
    discovery: Discovery
    ground_truth: Path | None


@dataclass
class BenchEntry:
    """A row of the benchmark: a registered method to run, or a folder of existing results."""

    label: str
    kind: str  # "method" or "results"
    method: str | None = None
    params: Any = None
    results_dir: Path | None = None


@dataclass
class SceneScore:
    """One entry's outcome on one scene."""

    scene: str
    values: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    file: str | None = None
    error: str | None = None


def find_scenes(
    dataset: Path, patterns: Sequence[str] | None = None
) -> tuple[list[Scene], list[str]]:
    """Scenes of a dataset folder, natural-sorted, and notes about what was skipped.

    A folder without sub-folders but with images is a dataset of one scene.

    Raises
    ------
    MffError
        The folder is missing or holds no usable scene.
    """
    if not dataset.is_dir():
        raise MffError("dataset folder not found (give a folder of scene folders)", dataset)
    subdirs = sorted(
        (d for d in dataset.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: natural_key(d.name),
    )
    if not subdirs:
        subdirs = [dataset]
    notes: list[str] = []
    scenes: list[Scene] = []
    for d in subdirs:
        if patterns and not any(fnmatch.fnmatch(d.name, p) for p in patterns):
            continue
        disc = discover(d)
        if len(disc.frames) < 2:
            notes.append(f"{d.name}: skipped, fewer than two source images")
            continue
        gt = disc.ground_truth[0] if disc.ground_truth else None
        scenes.append(Scene(d.name, disc, gt))
    if not scenes:
        what = f" matching {', '.join(patterns)}" if patterns else ""
        raise MffError(f"no scene folders{what} with at least two images", dataset)
    return scenes, notes


def find_result(results_dir: Path, scene: str) -> Path | None:
    """The image ``results_dir/<scene>.<ext>`` (case-insensitive stem), or ``None``."""
    want = scene.casefold()
    hits = [
        p
        for p in results_dir.iterdir()
        if p.is_file() and p.stem.casefold() == want and is_image_file(p)
    ]
    return sorted(hits)[0] if hits else None


def _read_u8(path: Path) -> np.ndarray:
    img, _ = read_image(path)
    u8 = to_uint8(img)
    return u8[:, :, 0] if u8.shape[2] == 1 else u8


def run_bench(
    scenes: Sequence[Scene],
    entries: Sequence[BenchEntry],
    metrics: Sequence[str],
    save_fused: Path | None = None,
    log: Any = None,
    align: AlignSettings | str | None = "off",
) -> dict[str, list[SceneScore]]:
    """Run and/or score every entry on every scene.

    Methods run through :func:`mffgui.pipeline.fuse_stack`, like ``mffgui fuse``: an aligned
    stack kept at full size has each frame's invalid border left out. A method that raises
    (any exception but :class:`Cancelled`) marks only its own scene score
    (:func:`mffgui.compare.method_error_text`).

    Parameters
    ----------
    scenes : sequence of Scene
    entries : sequence of BenchEntry
    metrics : sequence of str
        Canonical metric names.
    save_fused : Path, optional
        Write each method's fused image to ``save_fused/<entry>/<scene>.png``.
    log : text stream, optional
        Progress lines (default: stderr).
    align : AlignSettings or str
        Alignment of each scene before fusing (default ``"off"``: benchmark datasets are
        registered already); the ground truth is cropped like the frames.

    Returns
    -------
    dict
        Entry label -> one :class:`SceneScore` per scene, in scene order.
    """
    from mffgui.io import write_image
    from mffgui.methods import get_method

    log = sys.stderr if log is None else log
    align = AlignSettings.of(align)
    out: dict[str, list[SceneScore]] = {e.label: [] for e in entries}
    instances = {e.label: get_method(e.method) for e in entries if e.kind == "method"}
    for si, scene in enumerate(scenes, 1):
        head = f"bench: [{si}/{len(scenes)}] {scene.name}"
        try:
            stack = read_input(scene.discovery, mixed_sizes=align.mode != "off")
            gt = _read_u8(scene.ground_truth) if scene.ground_truth is not None else None
            if align.mode != "off":
                stack = align_input(stack, align).stack
                if gt is not None and isinstance(stack, AlignedStack):
                    x0, y0, x1, y1 = stack.box  # the reference frame's pixels
                    gt = gt[y0:y1, x0:x1]
            srcs = [gray255(stack.frame(i)).astype(np.uint8) for i in range(len(stack))]
        except MffError as err:
            print(f"{head}: cannot read the scene: {err}", file=log, flush=True)
            for e in entries:
                out[e.label].append(SceneScore(scene.name, error=f"scene unreadable: {err}"))
            continue
        shape = stack.shape
        for e in entries:
            rec = SceneScore(scene.name)
            try:
                if e.kind == "method":
                    t0 = time.perf_counter()
                    res = fuse_stack(stack, instances[e.label], e.params)
                    rec.seconds = time.perf_counter() - t0
                    fused = to_uint8(res.fused)
                    if save_fused is not None:
                        d = save_fused / safe_name(e.label)
                        d.mkdir(parents=True, exist_ok=True)
                        target = d / f"{scene.name}.png"
                        write_image(
                            target,
                            res.fused,
                            bit_depth=8,
                            sources=[m.path for m in stack.metas if m.path],
                        )
                        rec.file = str(target)
                else:
                    assert e.results_dir is not None
                    path = find_result(e.results_dir, scene.name)
                    if path is None:
                        raise MffError(f"no result for scene {scene.name!r}", e.results_dir)
                    rec.file = str(path)
                    fused = _read_u8(path)
                    if fused.shape[:2] != shape:
                        raise MffError(
                            f"result is {fused.shape[1]}x{fused.shape[0]}, the scene's sources "
                            f"are {shape[1]}x{shape[0]}",
                            path,
                        )
                fused = fused[:, :, 0] if fused.ndim == 3 and fused.shape[2] == 1 else fused
                rec.values = score(fused, srcs, gt, metrics)
            except Cancelled:
                raise
            except Exception as err:  # one failing entry marks only its own scene score
                rec.error = method_error_text(err)
            out[e.label].append(rec)
            if rec.error:
                print(f"{head} {e.label}: {rec.error}", file=log, flush=True)
            else:
                shown = " ".join(
                    f"{k}={format_value(k, v)}" for k, v in list(rec.values.items())[:3]
                )
                took = f" ({rec.seconds:.2f} s)" if rec.seconds is not None else ""
                print(f"{head} {e.label}: {shown}{took}", file=log, flush=True)
    return out


def _means(scores: Sequence[SceneScore], metrics: Sequence[str]) -> dict[str, float | None]:
    means: dict[str, float | None] = {}
    for m in metrics:
        vals = [s.values[m] for s in scores if m in s.values and math.isfinite(s.values[m])]
        means[m] = float(np.mean(vals)) if vals else None
    return means


def _seconds(scores: Sequence[SceneScore]) -> float | None:
    t = [s.seconds for s in scores if s.seconds is not None and s.error is None]
    return float(np.mean(t)) if t else None


def _columns(results: dict[str, list[SceneScore]], metrics: Sequence[str]) -> list[str]:
    present = {k for scores in results.values() for s in scores for k in s.values}
    return [m for m in metrics if m in present]


def summary_markdown(results: dict[str, list[SceneScore]], metrics: Sequence[str]) -> str:
    """The docs-ready table: mean of every metric, seconds per scene, scenes scored."""
    cols = _columns(results, metrics)
    rows = {label: _means(scores, cols) for label, scores in results.items()}
    secs = {
        label: ("-" if _seconds(s) is None else f"{_seconds(s):.2f}")
        for label, s in results.items()
    }
    counts = {
        label: f"{sum(1 for x in s if x.error is None)}/{len(s)}" for label, s in results.items()
    }
    return metrics_table_markdown(rows, cols, extra={"s/scene": secs, "scenes": counts})


def write_reports(
    out: Path,
    results: dict[str, list[SceneScore]],
    metrics: Sequence[str],
    entries: Sequence[BenchEntry],
    dataset: Path,
) -> list[Path]:
    """Write the summary and per-entry files under ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    cols = _columns(results, metrics)
    written: list[Path] = []
    summary_rows = []
    by_label = {e.label: e for e in entries}
    for label, scores in results.items():
        e = by_label[label]
        d = out / safe_name(label)
        d.mkdir(exist_ok=True)
        rows = [
            {"scene": s.scene, **s.values, "seconds": s.seconds, "file": s.file, "error": s.error}
            for s in scores
        ]
        written.append(
            write_text_atomic(
                d / "scenes.csv", rows_to_csv(rows, ["scene", *cols, "seconds", "file", "error"])
            )
        )
        written.append(
            write_text_atomic(
                d / "scenes.json", rows_to_json({"entry": label, "metrics": cols, "scenes": rows})
            )
        )
        summary_rows.append(
            {
                "entry": label,
                "kind": e.kind,
                "source": e.method if e.kind == "method" else str(e.results_dir),
                "params": e.params.to_dict() if e.params is not None else None,
                **_means(scores, cols),
                "seconds_per_scene": _seconds(scores),
                "scenes_scored": sum(1 for s in scores if s.error is None),
                "scenes_total": len(scores),
            }
        )
    written.append(
        write_text_atomic(
            out / "summary.csv",
            rows_to_csv(
                summary_rows,
                [
                    "entry",
                    "kind",
                    "source",
                    *cols,
                    "seconds_per_scene",
                    "scenes_scored",
                    "scenes_total",
                ],
            ),
        )
    )
    written.append(
        write_text_atomic(
            out / "summary.json",
            rows_to_json(
                {
                    "dataset": str(dataset),
                    "metrics": cols,
                    "machine": f"{platform.machine()} {platform.system()}, {_cpu_count()} CPU(s)",
                    "entries": summary_rows,
                }
            ),
        )
    )
    md = (
        f"Dataset: `{dataset.name}`, {max(len(s) for s in results.values())} scenes. "
        "Means over the scenes scored; ↑ higher is better, ↓ lower is better; "
        "s/scene is the fusion time (only for methods run here).\n\n"
        + summary_markdown(results, metrics)
    )
    written.append(write_text_atomic(out / "summary.md", md))
    return written


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _entries(args: argparse.Namespace) -> list[BenchEntry]:
    from mffgui.methods import get_method

    methods = list(args.methods or [])
    if not methods and not args.results:
        methods = classical_methods()
    sets = parse_method_sets(args.set, methods, "benchmarked")
    entries: list[BenchEntry] = []
    labels: set[str] = set()
    for m in methods:
        method = get_method(m)
        params = method.info.params.from_mapping(sets.get(method.info.name, {}))
        entries.append(BenchEntry(method.info.name, "method", method.info.name, params))
        labels.add(method.info.name)
    for raw in args.results or ():
        d = Path(raw).expanduser()
        if not d.is_dir():
            raise MffError("results folder not found", d)
        label = d.name if d.name not in labels else f"{d.name} (results)"
        labels.add(label)
        entries.append(BenchEntry(label, "results", results_dir=d))
    return entries


def run(args: argparse.Namespace) -> int:
    """Entry of ``mffgui bench``."""
    dataset = Path(args.dataset).expanduser()
    metrics = metric_names(args.metrics)
    entries = _entries(args)
    scenes, notes = find_scenes(dataset, args.scenes)
    out = Path(args.out).expanduser() if args.out else Path.cwd() / f"bench_{dataset.name}"
    for n in notes:
        print(f"bench: note: {n}", file=sys.stderr)
    print(
        f"bench: {len(scenes)} scene(s), {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        f", metrics {' '.join(metrics)}",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    results = run_bench(
        scenes,
        entries,
        metrics,
        save_fused=out if args.save_fused else None,
        align=align_options(args, default="off"),
    )
    try:
        written = write_reports(out, results, metrics, entries, dataset)
    except OSError as err:
        raise MffError(f"cannot write the reports ({err.strerror or err})", out) from None
    print(summary_markdown(results, metrics), end="")
    print(
        f"bench: done in {time.perf_counter() - t0:.0f} s; wrote {len(written)} files to {out}",
        file=sys.stderr,
    )
    failed = sum(1 for scores in results.values() for s in scores if s.error)
    return 1 if failed and failed == sum(len(s) for s in results.values()) else 0


def add_parser(subparsers: Any) -> None:
    """Register ``bench`` on the top-level sub-parsers."""
    names = ", ".join(METRICS)
    p = subparsers.add_parser(
        "bench",
        help="score methods and existing results on a dataset with objective metrics",
        description="Run fusion methods on every scene of DATASET (a folder of scene folders) "
        "and/or score fused images made elsewhere (--results DIR holding DIR/<scene>.<ext>), "
        "with objective fusion metrics. Writes summary.md/.csv/.json and per-scene CSV/JSON "
        "under --out; prints the Markdown table.",
        epilog="examples:\n"
        "  mffgui bench data/lytro --methods laplacian gff depthmap\n"
        "  mffgui bench data/lytro --results results/CNN results/GFF --out bench/\n"
        "  mffgui bench data/nyud --methods gff --metrics QG QMI PSNR SSIM\n"
        f"metrics: {names} (PSNR/SSIM need a *groundtruth* image per scene)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", metavar="DATASET", help="folder of scene folders")
    p.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME",
        help="registered methods to run (default without --results: every classical method)",
    )
    p.add_argument(
        "--results",
        nargs="+",
        metavar="DIR",
        help="folders of fused images named after the scenes, to score as they are",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: ./bench_<DATASET>)")
    p.add_argument("--metrics", nargs="+", metavar="NAME", help="metrics (default: all)")
    p.add_argument(
        "--scenes",
        nargs="+",
        metavar="GLOB",
        help="only scene folders matching one of these patterns, e.g. 'lytro_0*'",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="method parameter (repeatable), e.g. --set gff.r1=7",
    )
    p.add_argument(
        "--save-fused",
        action="store_true",
        help="also write each method's fused images to OUT/<method>/<scene>.png",
    )
    add_align_option(p, default="off")
    p.set_defaults(func=run)
