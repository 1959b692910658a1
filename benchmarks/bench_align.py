"""Wall time, CPU time, peak memory and residual misalignment of stack alignment.

Each (stack, model) runs in its own subprocess so its peak resident memory (``ru_maxrss``) is
its own; the baseline (interpreter + numpy + OpenCV + mffgui imported) is shown alongside.

Stacks (from ``../shared/data/stacks``, override with ``--data``):

* ``chip65`` -- ``gacn-v4-chip-microscope``: 65 frames 1600x1200 JPEG, ~8 % magnification change;
* ``pcb7``   -- ``focusstack-pcb``: 7 frames 2048x1536 JPEG, ~4 % scale change.

Columns:

* ``estimate s`` -- :func:`mffgui.core.align.estimate_alignment` (reads every frame once);
* ``apply s`` -- reading + warping every frame of the lazy aligned stack once;
* residual misalignment of *adjacent* frames, before and after alignment: the median over all
  adjacent pairs of the median shift of 4x4 tiles (256 px, at most 1024 px image side) found by
  phase correlation, counting tiles with a clear peak (response >= 0.3) only
  (:func:`mffgui.core.align_check.local_shifts`); this is independent of the ECC estimator;
* ``grad NCC`` -- mean correlation of gradient magnitudes of adjacent frames, before -> after.

``--crops DIR`` also writes before/after crops of the top-left corner of the common area (first
vs last used frame as a magenta/green overlay: grey where they agree, coloured fringes where
they do not; left unaligned, right aligned).

``--pipeline`` times what ``mffgui fuse STACK -o out.png`` does instead (Align Auto, then the
default method), one process per stack: ``check s`` the motion check, ``estimate s`` the
transforms, ``fuse s`` the fusion of the lazily aligned stack (reading, warping and fusing);
``decode s`` and ``warp s`` are the time spent inside it decoding source frames and warping them
(in the method's read-ahead thread, so they overlap the fusion and are not additive); ``total s``
is check + estimate + fuse wall time, ``CPU s`` the process's user + system time over the same
span, ``peak RSS`` its ``ru_maxrss``. ``--align similarity`` forces a model; with code from
before Auto existed (``PYTHONPATH`` at an older checkout) the pipeline aligns with
``align_stack`` and the check column is empty.

Usage::

    python benchmarks/bench_align.py                       # both stacks, similarity model
    python benchmarks/bench_align.py --stacks pcb7 --models similarity,homography
    python benchmarks/bench_align.py --pipeline --stacks chip65
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")) / "data"
STACKS = {"chip65": "gacn-v4-chip-microscope", "pcb7": "focusstack-pcb"}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _load_stack(folder: Path):
    """Lazy stack via mffgui.io.read_stack, or OpenCV decoding if the reader rejects it."""
    from mffgui.errors import MffError
    from mffgui.io import read_stack

    try:
        stack = read_stack(folder, cache_bytes=0)
        stack.frame(len(stack) // 2)
        return stack, "mffgui.io.read_stack (no cache)"
    except MffError as err:
        print(f"read_stack failed ({err}); falling back to cv2.imread", file=sys.stderr)
    import cv2

    from mffgui.types import ImageMeta, Stack, as_float_image

    paths = sorted(folder.glob("*.jpg"))

    def load(p: Path):
        return as_float_image(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))

    first = load(paths[0])
    metas = [
        ImageMeta(path=p, width=first.shape[1], height=first.shape[0], channels=3, format="JPEG")
        for p in paths
    ]
    return Stack([(lambda p=p: load(p)) for p in paths], metas), "cv2.imread (fallback)"


def _residual(a, b) -> float:
    import numpy as np

    from mffgui.core.align_check import local_shifts

    s = local_shifts(a, b, grid=4, tile=256, max_size=1024)
    keep = s[:, 2] >= 0.3
    return float(np.median(np.hypot(s[keep, 0], s[keep, 1]))) if keep.any() else float("nan")


def _overlay(a, b):
    import numpy as np

    from mffgui.types import to_gray

    ga, gb = to_gray(a), to_gray(b)
    return np.dstack([gb, ga, gb])


def worker(name: str, model: str, data: Path, crops: Path | None) -> dict:
    """Run one case in this process and return its measurements."""
    import numpy as np

    from mffgui.core.align import apply_alignment, estimate_alignment
    from mffgui.core.align_check import gradient_ncc
    from mffgui.core.align_geometry import decompose

    baseline = _rss_mib()
    stack, reader = _load_stack(data / "stacks" / STACKS[name])
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    report = estimate_alignment(stack, model=model)
    est = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    aligned = apply_alignment(stack, report)
    t = time.perf_counter()
    for i in range(len(aligned)):
        aligned.frame(i)
    app = time.perf_counter() - t
    peak = _rss_mib()  # before the checks below, which hold a few frames of their own
    x0, y0, x1, y1 = aligned.box
    before, after, ncc_b, ncc_a = [], [], [], []
    prev_a = prev_u = None
    for k, i in enumerate(aligned.indices):
        a = aligned.frame(k)
        u = stack.frame(i)[y0:y1, x0:x1]
        if prev_a is not None:
            after.append(_residual(prev_a, a))
            before.append(_residual(prev_u, u))
            ncc_a.append(gradient_ncc(prev_a, a))
            ncc_b.append(gradient_ncc(prev_u, u))
        prev_a, prev_u = a, u
    w, h = report.width, report.height
    scales = [decompose(f.matrix, w, h).scale for f in report.frames if f.usable]
    if crops is not None:
        import cv2

        crops.mkdir(parents=True, exist_ok=True)
        first, last = aligned.indices[0], aligned.indices[-1]
        ch, cw = min(400, y1 - y0), min(600, x1 - x0)
        # The top-left corner: scale changes move the corners most.
        sl = (slice(0, ch), slice(0, cw))
        ub = _overlay(stack.frame(first)[y0:y1, x0:x1][sl], stack.frame(last)[y0:y1, x0:x1][sl])
        ab = _overlay(aligned.frame(0)[sl], aligned.frame(len(aligned) - 1)[sl])
        img = np.hstack([ub, np.ones((ch, 8, 3), np.float32), ab])
        cv2.imwrite(
            str(crops / f"align-{name}-{model}.png"),
            (np.clip(img, 0, 1)[:, :, ::-1] * 255).astype(np.uint8),
        )
    return {
        "stack": name,
        "model": model,
        "frames": len(stack),
        "used": len(aligned),
        "size": f"{stack.shape[1]}x{stack.shape[0]}",
        "crop": f"{x1 - x0}x{y1 - y0}",
        "estimate_s": est,
        "estimate_cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        "apply_s": app,
        "scale_range": max(scales) / min(scales),
        "res_before": float(np.nanmedian(before)),
        "res_after": float(np.nanmedian(after)),
        "res_after_max": float(np.nanmax(after)),
        "ncc_before": float(np.mean(ncc_b)),
        "ncc_after": float(np.mean(ncc_a)),
        "peak_mib": peak,
        "baseline_mib": baseline,
        "reader": reader,
        "rejected": report.messages(),
    }


class _Timed:
    """Wraps frame loaders, summing the seconds spent in them (from any thread)."""

    def __init__(self) -> None:
        import threading

        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, loader):
        def load():
            t = time.perf_counter()
            out = loader()
            with self._lock:
                self.seconds += time.perf_counter() - t
                self.calls += 1
            return out

        return load


def pipeline_worker(name: str, align: str, method: str, data: Path) -> dict:
    """Read, Align (auto or a model), fuse with ``method`` in this process; the timings."""
    from mffgui.io import read_stack
    from mffgui.methods import get_method
    from mffgui.pipeline import fuse_stack

    baseline = _rss_mib()
    folder = data / "stacks" / STACKS[name]
    try:
        stack = read_stack(folder, mixed_sizes=True)
    except TypeError:  # code from before mixed sizes
        stack = read_stack(folder)
    decode = _Timed()
    stack._loaders = [decode.wrap(f) for f in stack._loaders]
    meth = get_method(method)
    params = meth.info.params()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    check_s = float("nan")
    try:
        from mffgui.core.align_auto import align_for_fusion
        from mffgui.core.align_motion import check_motion
    except ImportError:
        align_for_fusion = None
    if align_for_fusion is not None and align == "auto":
        check = check_motion(stack)
        check_s = time.perf_counter() - t0
        found = check.reason
    else:
        found = "(no check)"
    t1 = time.perf_counter()
    report = None
    if align_for_fusion is not None:
        outcome = align_for_fusion(stack, align)
        fused_stack, report = outcome.stack, outcome.report
        if align == "auto":
            check_s = min(check_s, time.perf_counter() - t1)
    else:
        from mffgui.core.align import align_stack

        align = "similarity" if align == "auto" else align
        found = "(code from before Auto: always aligned)"
        fused_stack, report = align_stack(stack, align)
    est_s = (
        time.perf_counter() - t1 - (0.0 if align != "auto" or align_for_fusion is None else check_s)
    )
    warp = _Timed()
    if fused_stack is not stack:
        fused_stack._loaders = [warp.wrap(f) for f in fused_stack._loaders]
    decode.seconds = 0.0
    t2 = time.perf_counter()
    result = fuse_stack(fused_stack, meth, params)
    fuse_s = time.perf_counter() - t2
    total = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    h, w = result.fused.shape[:2]
    return {
        "stack": name,
        "align": align,
        "method": method,
        "frames": len(stack),
        "used": len(fused_stack),
        "size": f"{w}x{h}",
        "found": found,
        "model": report.model if report is not None else "-",
        "check_s": check_s,
        "estimate_s": est_s,
        "fuse_s": fuse_s,
        "decode_s": decode.seconds,
        "warp_s": max(0.0, warp.seconds - decode.seconds),
        "reads": warp.calls or decode.calls,
        "total_s": total,
        "cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        "peak_mib": _rss_mib(),
        "baseline_mib": baseline,
    }


def _run_pipeline(name: str, align: str, method: str, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--pipeline-worker", name, align, method, "--data", str(data)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name}/{align} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pipeline_table(args: argparse.Namespace) -> None:
    print(
        "| stack | align | method | frames used | fused size | check s | estimate s | fuse s "
        "| of which decode s | of which warp s | total s (CPU s) | peak RSS MiB "
        "| baseline MiB |"
    )
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.stacks.split(","):
        for _ in range(args.repeat):
            r = _run_pipeline(name, args.align, args.method, args.data)
            check = "—" if r["check_s"] != r["check_s"] else f"{r['check_s']:.2f}"
            print(
                f"| {name} | {r['align']} ({r['model']}) | {r['method']} | {r['used']}/"
                f"{r['frames']} | {r['size']} | {check} | {r['estimate_s']:.2f} "
                f"| {r['fuse_s']:.2f} | {r['decode_s']:.2f} | {r['warp_s']:.2f} "
                f"| {r['total_s']:.2f} ({r['cpu_s']:.2f}) | {r['peak_mib']:.0f} "
                f"| {r['baseline_mib']:.0f} |",
                flush=True,
            )
            print(f"  check: {r['found']}")


def _run_case(name: str, model: str, data: Path, crops: Path | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, model, "--data", str(data)]
    if crops is not None:
        cmd += ["--crops", str(crops)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name}/{model} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", default=",".join(STACKS))
    ap.add_argument("--models", default="similarity")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--crops",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write before/after overlay crops into DIR",
    )
    ap.add_argument(
        "--pipeline",
        action="store_true",
        help="time Align + fusion as `mffgui fuse` runs them (see the docstring)",
    )
    ap.add_argument("--align", default="auto", help="--pipeline: auto (default) or a model")
    ap.add_argument("--method", default="depthmap", help="--pipeline: fusion method")
    ap.add_argument("--repeat", type=int, default=1, help="--pipeline: runs per stack")
    ap.add_argument("--worker", nargs=2, metavar=("STACK", "MODEL"), help=argparse.SUPPRESS)
    ap.add_argument("--pipeline-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.data, args.crops)))
        return 0
    if args.pipeline_worker:
        name, align, method = args.pipeline_worker
        print(json.dumps(pipeline_worker(name, align, method, args.data)))
        return 0
    if not (args.data / "stacks").is_dir():
        print(f"shared data not found under {args.data}", file=sys.stderr)
        return 1
    print(
        f"Machine: {os.cpu_count()} CPUs ({_cpu()}), {platform.machine()}, "
        f"Python {platform.python_version()}; load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    if args.pipeline:
        _pipeline_table(args)
        print(f"\nLoad average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    print(
        "| stack | model | frames used | size -> crop | estimate s (CPU s) | apply s "
        "| scale range | adjacent residual px before -> after (max) | grad NCC before -> "
        "after | peak RSS MiB | baseline MiB |"
    )
    print("|---|---|---|---|---:|---:|---:|---|---|---:|---:|")
    r: dict = {}
    for name in args.stacks.split(","):
        for model in args.models.split(","):
            r = _run_case(name, model, args.data, args.crops)
            print(
                f"| {name} | {model} | {r['used']}/{r['frames']} | {r['size']} -> {r['crop']} "
                f"| {r['estimate_s']:.1f} ({r['estimate_cpu_s']:.1f}) | {r['apply_s']:.1f} "
                f"| {r['scale_range']:.4f} | {r['res_before']:.2f} -> {r['res_after']:.2f} "
                f"({r['res_after_max']:.2f}) | {r['ncc_before']:.3f} -> {r['ncc_after']:.3f} "
                f"| {r['peak_mib']:.0f} | {r['baseline_mib']:.0f} |",
                flush=True,
            )
            for msg in r["rejected"]:
                print(f"  rejected: {msg}")
    print(
        f"\nReader: {r.get('reader', '?')}. Load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
