"""Fast sweep of fusion variants on the Lytro pairs (issue 17, fourth round).

Scores each variant exactly as ``mffgui bench`` does (frames read with
:func:`mffgui.pipeline.read_input`, fused with :func:`mffgui.pipeline.fuse_stack`, the result
quantised with ``to_uint8`` and scored with :func:`mffgui.metrics.score` against the 8-bit gray
sources), but decodes the scenes once and caches them (``--cache``, an ``.npz``), and can score
a folder of published results too.

A variant is ``METHOD`` or ``METHOD:key=value:key=value`` (values parsed like the CLI's
``--set``), optionally labelled ``LABEL=METHOD:...``.

Usage::

    PYTHONPATH=. python benchmarks/pair_sweep.py depthmap halofree \\
        "nm0=halofree:noise_margin=0" --results ../shared/data/results/BRW

Prints one Markdown row per variant (mean over the scenes) and how many of the issue's seven
targets it meets; ``--per-scene`` adds every scene's values, ``--json FILE`` writes them all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mffgui.cli.bench import find_result, find_scenes
from mffgui.methods import get_method
from mffgui.metrics import gray255, score
from mffgui.metrics.common import to_uint8
from mffgui.pipeline import fuse_stack, read_input
from mffgui.types import Stack

METRICS = ("QG", "QMI", "QNCIE", "QY", "QCB", "QP", "QE")
# Best published method or peer tool per metric (issue 17).
TARGETS = {
    "QG": 0.7621,
    "QMI": 1.1879,
    "QNCIE": 0.8455,
    "QY": 0.9884,
    "QCB": 0.8108,
    "QP": 0.8502,
    "QE": 0.8837,
}


def load_scenes(
    dataset: Path, pattern: str, cache: Path | None
) -> list[tuple[str, list[np.ndarray]]]:
    """``[(scene, frames)]`` with frames ``(H, W, C)`` float32 as ``mffgui bench`` reads them."""
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            names = [str(s) for s in z["names"]]
            counts = [int(c) for c in z["counts"]]
            return [
                (name, [z[f"{name}_{k}"] for k in range(c)])
                for name, c in zip(names, counts, strict=True)
            ]
    scenes, _ = find_scenes(dataset, [pattern])
    out = []
    for sc in scenes:
        stack = read_input(sc.discovery)
        out.append((sc.name, [np.asarray(stack.frame(i), np.float32) for i in range(len(stack))]))
    if cache is not None:
        arrays = {f"{name}_{k}": f for name, frames in out for k, f in enumerate(frames)}
        np.savez(
            cache,
            names=np.array([n for n, _ in out]),
            counts=np.array([len(f) for _, f in out]),
            **arrays,
        )
    return out


def parse_variant(text: str) -> tuple[str, str, dict[str, str]]:
    """``LABEL=METHOD:k=v:...`` -> ``(label, method, {k: v})``."""
    label, sep, rest = text.partition("=")
    if not sep or ":" in label:
        label, rest = text, text
    method, *items = rest.split(":")
    params = {}
    for item in items:
        k, _, v = item.partition("=")
        params[k.strip()] = v.strip()
    return label, method, params


def score_variant(
    scenes: list[tuple[str, list[np.ndarray]]], method: str, params: dict[str, str]
) -> list[dict[str, float]]:
    """One metrics dict per scene for ``method`` with ``params``."""
    m = get_method(method)
    p = m.info.params.from_mapping(params)
    rows = []
    for _, frames in scenes:
        srcs = [gray255(f).astype(np.uint8) for f in frames]
        res = fuse_stack(Stack.from_arrays(frames), m, p)
        rows.append(score(to_uint8(res.fused), srcs, None, METRICS))
    return rows


def score_results(
    scenes: list[tuple[str, list[np.ndarray]]], folder: Path
) -> list[dict[str, float]]:
    """One metrics dict per scene for the published results in ``folder``."""
    from mffgui.cli.bench import _read_u8

    rows = []
    for name, frames in scenes:
        path = find_result(folder, name)
        if path is None:
            raise SystemExit(f"{folder}: no result for {name}")
        srcs = [gray255(f).astype(np.uint8) for f in frames]
        rows.append(score(_read_u8(path), srcs, None, METRICS))
    return rows


def mean_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}


def markdown_row(label: str, mean: dict[str, float], seconds: float | None = None) -> str:
    met = sum(round(mean[k], 4) >= TARGETS[k] for k in METRICS)
    cells = [
        f"**{mean[k]:.4f}**" if round(mean[k], 4) >= TARGETS[k] else f"{mean[k]:.4f}"
        for k in METRICS
    ]
    tail = f" {seconds:.1f} |" if seconds is not None else ""
    return f"| {label} | " + " | ".join(cells) + f" | {met}/7 |" + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="*", help="METHOD or LABEL=METHOD:key=value:...")
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/lytro"))
    ap.add_argument("--scenes", default="lytro_[0-9]*")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mffgui-lytro-pairs.npz"))
    ap.add_argument("--results", type=Path, nargs="*", default=[], help="published result folders")
    ap.add_argument("--per-scene", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    scenes = load_scenes(args.dataset, args.scenes, args.cache)
    print("| variant | " + " | ".join(METRICS) + " | targets met | CPU s |")
    print("|---|" + "---:|" * (len(METRICS) + 2))
    print(markdown_row("target", TARGETS))
    dump = {}
    for folder in args.results:
        rows = score_results(scenes, folder)
        print(markdown_row(folder.name, mean_row(rows)), flush=True)
        dump[folder.name] = rows
    for text in args.variants:
        label, method, params = parse_variant(text)
        t0 = time.process_time()
        rows = score_variant(scenes, method, params)
        print(markdown_row(label, mean_row(rows), time.process_time() - t0), flush=True)
        if args.per_scene:
            for (name, _), r in zip(scenes, rows, strict=True):
                print(f"|  {name} | " + " | ".join(f"{r[k]:.4f}" for k in METRICS) + " | | |")
        dump[label] = rows
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
