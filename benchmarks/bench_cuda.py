"""The network methods on a CUDA GPU: speed, peak GPU memory, CPU agreement, the app's worker.

Rows (each after one warm-up fusion, so model loading and cuDNN autotuning stay out):

* ``gacn`` on the Lytro pairs (520×520): median and mean seconds per pair;
* ``gacn`` on a focus stack (default: the 65-frame 1600×1200 ``gacn-v4-chip-microscope``,
  decoded lazily from JPEG as the app does): wall seconds;
* ``fusion2void`` on the Lytro pairs, and on one pair of V-4 frames (1600×1200);
* one GACN fusion of a Lytro pair through the app's worker (``TaskRunner`` + ``TaskWorker`` on a
  ``QThread``, ``run_fusion``, offscreen Qt), wall seconds from start to the result signal;
* agreement of CUDA with the CPU on ``lytro_01``: PSNR of the fused images (dB).

Peak GPU memory is ``torch.cuda.max_memory_allocated`` during the row. Data come from
``$MFFGUI_SHARED`` (default ``../shared``).

Usage::

    python benchmarks/bench_cuda.py [--pairs 20] [--frames 65] [--no-stack] [--no-worker]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))


def _rgb(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / np.float32(255)


def _pair(k: int) -> tuple[Path, Path]:
    d = SHARED / "data" / "lytro" / f"lytro_{k:02d}"
    return d / f"lytro_{k:02d}_A.jpg", d / f"lytro_{k:02d}_B.jpg"


class GpuPeak:
    """Peak ``torch.cuda.max_memory_allocated`` (MiB) over a ``with`` block."""

    def __init__(self) -> None:
        self.mib = 0.0

    def __enter__(self) -> GpuPeak:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
            self.mib = torch.cuda.max_memory_allocated() / 2**20


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def bench_pairs(name: str, params: Any, n: int) -> tuple[list[float], float]:
    from mffgui.methods import get_method
    from mffgui.types import Stack

    method = get_method(name)
    a0, b0 = (_rgb(p) for p in _pair(1))
    method.fuse(Stack.from_arrays([a0, b0]), params)  # warm-up
    times = []
    with GpuPeak() as peak:
        for k in range(1, n + 1):
            a, b = (_rgb(p) for p in _pair(k))
            t = time.perf_counter()
            method.fuse(Stack.from_arrays([a, b]), params)
            times.append(time.perf_counter() - t)
    return times, peak.mib


def bench_gacn_stack(frames: int, device: str) -> tuple[float, float, int, str]:
    from PIL import Image

    from mffgui.methods import get_method
    from mffgui.methods.gacn import GacnParams
    from mffgui.types import ImageMeta, Stack

    folder = SHARED / "data" / "stacks" / "gacn-v4-chip-microscope"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg")[:frames]
    with Image.open(files[0]) as im:
        w, h = im.size
    metas = [ImageMeta(path=f, width=w, height=h, channels=3, format="JPEG") for f in files]
    stack = Stack([(lambda f=f: _rgb(f)) for f in files], metas)
    params = GacnParams(device=device)
    with GpuPeak() as peak:
        t = time.perf_counter()
        res = get_method("gacn").fuse(stack, params)
        wall = time.perf_counter() - t
    return wall, peak.mib, len(files), str(res.meta.get("strategy", "?"))


def bench_f2v_v4_pair(params: Any) -> tuple[float, float]:
    from mffgui.methods import get_method
    from mffgui.types import Stack

    folder = SHARED / "data" / "stacks" / "gacn-v4-chip-microscope"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg")
    a, b = _rgb(files[10]), _rgb(files[40])
    method = get_method("fusion2void")
    method.fuse(Stack.from_arrays([a, b]), params)  # warm-up at this size
    with GpuPeak() as peak:
        t = time.perf_counter()
        method.fuse(Stack.from_arrays([a, b]), params)
        wall = time.perf_counter() - t
    return wall, peak.mib


def bench_worker(device: str) -> tuple[float, str, str]:
    """One GACN fusion of lytro_01 through the app's QThread worker; (seconds, device, error)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from mffgui.core.progress import CancelToken
    from mffgui.gui.tasks import TaskRunner, TaskWorker, take
    from mffgui.gui.worker import FusionRequest, run_fusion
    from mffgui.io import discover
    from mffgui.methods.gacn import GacnParams

    app = QCoreApplication.instance() or QCoreApplication([])
    disc = discover(list(_pair(1)))
    req = FusionRequest(
        generation=1,
        frames=tuple(disc.frames),
        metas=tuple(disc.metas),
        method="gacn",
        params=GacnParams(device=device),
        device=device,
    )
    out: dict[str, Any] = {}
    loop = QEventLoop()
    runner = TaskRunner()
    cancel = CancelToken()
    worker = TaskWorker(lambda p, c: run_fusion(req, p, c), 1, cancel, "fusion")
    worker.resultReady.connect(lambda gen, key: out.setdefault("outcome", take(key)))
    worker.failed.connect(lambda gen, msg: out.setdefault("error", msg))
    worker.finished.connect(loop.quit)
    QTimer.singleShot(120_000, loop.quit)
    t = time.perf_counter()
    runner.start(worker)
    loop.exec()
    wall = time.perf_counter() - t
    runner.shutdown()
    del app
    oc = out.get("outcome")
    device = str(oc.result.meta.get("device")) if oc is not None else "-"
    return wall, device, str(out.get("error", ""))


def main(argv: list[str] | None = None) -> int:
    import torch

    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.methods.gacn import GacnParams

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--frames", type=int, default=65)
    ap.add_argument("--no-stack", action="store_true")
    ap.add_argument("--no-worker", action="store_true")
    ap.add_argument("--f2v-weights", help="Fusion2Void weights (default: bundled)")
    ap.add_argument("--device", default="cuda", help="cuda (cpu only to smoke-test this script)")
    args = ap.parse_args(argv)
    dev = args.device
    if dev == "cpu":
        print("device cpu: smoke test of the script, not a benchmark", flush=True)
    elif not torch.cuda.is_available():
        print("no CUDA device: nothing to benchmark", file=sys.stderr)
        return 2
    props = torch.cuda.get_device_properties(0) if dev == "cuda" else None
    if props is not None:
        print(
            f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
            f"{props.multi_processor_count} SMs; torch {torch.__version__} (CUDA "
            f"{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}); "
            f"{platform.machine()} host with {os.cpu_count()} CPUs",
            flush=True,
        )
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, size: str, secs: str, mib: float | str) -> None:
        mib_s = mib if isinstance(mib, str) else f"{mib:.0f}"
        rows.append((what, size, secs, mib_s))
        print(f"  {what}: {secs} (peak GPU {mib_s} MiB)", flush=True)

    g = GacnParams(device=dev)
    times, mib = bench_pairs("gacn", g, args.pairs)
    row(
        f"gacn, {args.pairs} Lytro pairs",
        "520×520",
        f"median {np.median(times):.3f} s/pair, mean {np.mean(times):.3f}",
        mib,
    )
    f = Fusion2VoidParams(device=dev, weights=args.f2v_weights)
    times, mib = bench_pairs("fusion2void", f, args.pairs)
    row(
        f"fusion2void, {args.pairs} Lytro pairs",
        "520×520",
        f"median {np.median(times):.3f} s/pair, mean {np.mean(times):.3f}",
        mib,
    )
    wall, mib = bench_f2v_v4_pair(f)
    row("fusion2void, one pair of V-4 frames", "1600×1200", f"{wall:.3f} s", mib)
    if not args.no_stack:
        wall, mib, n, strategy = bench_gacn_stack(args.frames, dev)
        row(f"gacn, V-4 stack ({strategy})", f"{n} × 1600×1200", f"{wall:.1f} s wall", mib)
    if not args.no_worker:
        wall, device, err = bench_worker(dev)
        row(
            "gacn via the app's QThread worker (lytro_01, incl. reading)",
            "520×520",
            f"{wall:.2f} s, device {device}" + (f", ERROR {err}" if err else ""),
            "-",
        )
    # CUDA vs CPU agreement on one pair
    from mffgui.methods import get_method
    from mffgui.types import Stack

    a, b = (_rgb(p) for p in _pair(1))
    for name, pc, pg in (
        ("gacn", GacnParams(device="cpu"), g),
        ("fusion2void", Fusion2VoidParams(device="cpu", weights=args.f2v_weights), f),
    ):
        m = get_method(name)
        cpu = m.fuse(Stack.from_arrays([a, b]), pc).fused
        gpu = m.fuse(Stack.from_arrays([a, b]), pg).fused
        row(
            f"{name}: CUDA vs CPU fused image, lytro_01",
            "520×520",
            f"PSNR {_psnr(gpu, cpu):.1f} dB",
            "-",
        )
    print()
    print("| what | size | time | peak GPU MiB |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
