"""Peak memory of every fusion method on big streamed stacks and on a huge pair.

Every (method, N) case runs in its own subprocess, so its peak resident memory is its own. The
frames are rendered once with :mod:`mffgui.core.synthetic` (``--distinct`` focus planes), written
as JPEG into a temporary folder and hard-linked under ``N`` names, so a stack of 200 frames costs
only the disk of the distinct frames; the child reads them with
``mffgui.io.read_stack(folder, cache_bytes=0)``, so every frame is decoded from disk when a method
asks for it (nothing is held by the stack).

Columns: *wall s* whole case (reading included); *CPU s* user + system of the child after its
imports; *peak RSS* ``VmHWM`` (includes file-backed pages, e.g. memory-mapped maps); *peak anon*
the largest ``RssAnon`` sampled every 20 ms (heap memory only: what cannot be paged out to a
file); *baseline* RSS after the imports.

A watchdog kills a child whose RSS exceeds ``--cap-mib`` (reported as ``killed: over cap``) and
one that runs over ``--case-timeout``; the whole run stops starting new cases after
``--max-seconds``.

Usage::

    python benchmarks/bench_memory.py                       # 20, 65, 200 frames of 2000x1500
    python benchmarks/bench_memory.py --quick               # CI smoke: 256x192, N = 4, 12
    python benchmarks/bench_memory.py --methods depthmap --counts 20,200
    python benchmarks/bench_memory.py --huge                # + a 12000x9000 pair per method
    python benchmarks/bench_memory.py --methods gacn --gacn-size 640x480 --gacn-counts 8,16,32 \
        --threads 1 [--gacn-strategy serial] [--gacn-tile 256]      # GACN stacks only

``MFFGUI_EAGER_MAPS_BYTES=0`` in the environment makes every case keep its per-source maps out of
RAM (lazy or spilled to a temporary file) as a large stack would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GACN = (
    Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared"))
    / "weights"
    / "gacn-official"
    / "GACN.pkl"
)


# ---------------------------------------------------------------------------------------------
# Child: fuse one stack and report memory


def _status_kib(field: str, pid: str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _AnonSampler(threading.Thread):
    """Samples ``RssAnon`` of this process every ``interval`` seconds; keeps the maximum."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = _status_kib("RssAnon")
        self._stop_evt = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.wait(self.interval):
            self.peak = max(self.peak, _status_kib("RssAnon"))

    def stop(self) -> int:
        self._stop_evt.set()
        self.join()
        self.peak = max(self.peak, _status_kib("RssAnon"))
        return self.peak


def child(method_name: str, folder: str, params_json: str) -> None:
    """Fuse the stack in ``folder`` with ``method_name``; print one JSON line."""
    import numpy as np

    from mffgui.io import read_stack
    from mffgui.methods import get_method

    eager = os.environ.get("MFFGUI_EAGER_MAPS_BYTES")
    if eager is not None:  # test hook: force lazily recomputed per-frame maps
        import mffgui.core.decision as decision

        decision.EAGER_MAPS_BYTES = int(eager)
    method = get_method(method_name)
    if method.info.kind != "classical":  # torch only where a network needs it
        import torch

        torch.set_num_threads(int(os.environ.get("MFFGUI_BENCH_THREADS", "2")))
    baseline = _status_kib("VmRSS")
    sampler = _AnonSampler()
    sampler.start()
    cpu0 = os.times()
    t0 = time.perf_counter()
    stack = read_stack(folder, cache_bytes=0)
    params = method.info.params.from_mapping(json.loads(params_json))
    result = method.fuse(stack, params)
    fused = np.asarray(result.fused)
    checksum = float(fused.mean())
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    anon = sampler.stop()
    print(
        json.dumps(
            {
                "frames": len(stack),
                "h": stack.shape[0],
                "w": stack.shape[1],
                "wall_s": wall,
                "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
                "peak_rss_mib": _status_kib("VmHWM") / 1024,
                "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_anon_mib": anon / 1024,
                "baseline_mib": baseline / 1024,
                "fused_mean": checksum,
                "fused_shape": list(fused.shape),
                "meta": {
                    k: result.meta.get(k)
                    for k in ("tiles", "strategy", "reference_cached", "maps_on_disk")
                    if k in result.meta
                },
            }
        )
    )


# ---------------------------------------------------------------------------------------------
# Parent: render frames, run cases under a watchdog


def render_frames(out: Path, width: int, height: int, distinct: int, seed: int = 0) -> list[Path]:
    """Render ``distinct`` focus planes of a synthetic scene as JPEG files in ``out``."""
    import cv2
    import numpy as np

    from mffgui.core.synthetic import depth_scene, render_focus_stack, sharp_scene

    out.mkdir(parents=True, exist_ok=True)
    sharp = sharp_scene(height, width, seed)
    frames = render_focus_stack(sharp, depth_scene(height, width, seed), distinct, 4.0, seed)
    paths = []
    for k, f in enumerate(frames):
        u8 = np.clip(np.rint(f * 255), 0, 255).astype(np.uint8)
        bgr = u8[:, :, ::-1] if u8.ndim == 3 and u8.shape[2] == 3 else u8
        p = out / f"plane_{k:03d}.jpg"
        if not cv2.imwrite(str(p), np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, 92]):
            raise OSError(f"could not write {p}")
        paths.append(p)
    return paths


def render_huge_pair(out: Path, width: int, height: int, seed: int = 0) -> Path:
    """A complementary pair of ``width`` x ``height`` JPEGs (left / right half blurred)."""
    import cv2
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    sharp = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    del small
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    half = width // 2
    for name, blur_left in (("a", True), ("b", False)):
        img = sharp.copy()
        if blur_left:
            img[:, :half] = blurred[:, :half]
        else:
            img[:, half:] = blurred[:, half:]
        if not cv2.imwrite(str(out / f"huge_{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"could not write huge_{name}.jpg")
        del img
    return out


def link_stack(planes: list[Path], folder: Path, n: int) -> Path:
    """``n`` frame names in ``folder`` hard-linked (or copied) to ``planes`` in focus order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = planes[i * len(planes) // n]
        dst = folder / f"frame_{i:04d}.jpg"
        if dst.exists():  # the same stack, linked for an earlier method
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return folder


def run_case(method: str, folder: Path, params: dict, timeout: float, cap_mib: float) -> dict:
    """Run one child under a watchdog; the child's JSON, or ``{"error": ...}``."""
    cmd = [sys.executable, __file__, "--child", method, str(folder), json.dumps(params)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = ""
    peak_seen = 0.0
    t0 = time.monotonic()
    while proc.poll() is None:
        rss = _status_kib("VmRSS", str(proc.pid)) / 1024
        peak_seen = max(peak_seen, rss)
        if rss > cap_mib:
            killed = f"killed: over the {cap_mib:.0f} MiB cap"
        elif time.monotonic() - t0 > timeout:
            killed = f"killed: over the {timeout:.0f} s case timeout"
        if killed:
            proc.kill()
            break
        time.sleep(0.2)
    out, err = proc.communicate()
    if killed:
        return {"error": killed, "peak_rss_mib": peak_seen, "wall_s": time.monotonic() - t0}
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def _row(method: str, n: int, size: str, r: dict) -> str:
    if "error" in r:
        return (
            f"| {method} | {n} | {size} | — | — | {r.get('peak_rss_mib', 0):.0f}+ | — | — "
            f"| {r['error']} |"
        )
    meta = r.get("meta") or {}
    note = ", ".join(f"{k}={v}" for k, v in meta.items())
    return (
        f"| {method} | {n} | {size} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
        f"{r['peak_rss_mib']:.0f} | {r['peak_anon_mib']:.0f} | {r['baseline_mib']:.0f} "
        f"| {note} |"
    )


def _available_mib() -> float:
    return _status_kib_meminfo("MemAvailable") / 1024


def _status_kib_meminfo(field: str) -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the benchmark (or, with ``--child``, one case)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        child(*argv[1:4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke size: 256x192, N = 4, 12")
    ap.add_argument("--size", default="2000x1500", help="frame size WxH (default 2000x1500)")
    ap.add_argument("--counts", default="20,65,200", help="stack sizes (default 20,65,200)")
    ap.add_argument("--distinct", type=int, default=10, help="distinct focus planes rendered")
    ap.add_argument(
        "--methods",
        default="",
        help="comma-separated (default: every classical method, plus gacn when its weights exist)",
    )
    ap.add_argument("--gacn-weights", default=str(DEFAULT_GACN))
    ap.add_argument("--gacn-size", default="1000x750", help="frame size for network methods")
    ap.add_argument("--gacn-counts", default="4,8,16")
    ap.add_argument("--gacn-strategy", default="calibration", choices=["calibration", "serial"])
    ap.add_argument("--gacn-tile", type=int, default=0, help="GACN tile_size (0 = automatic)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of network methods")
    ap.add_argument("--huge", action="store_true", help="also fuse a 12000x9000 pair")
    ap.add_argument("--huge-size", default="12000x9000")
    ap.add_argument(
        "--huge-methods",
        default="",
        help="methods for the huge pair (default: the classical ones); network "
        "methods run on the CPU within --huge-budget-mib",
    )
    ap.add_argument(
        "--huge-budget-mib",
        type=int,
        default=2048,
        help="memory_mb of network methods on the huge pair (their tiling budget)",
    )
    ap.add_argument("--huge-only", action="store_true", help="only the huge pair")
    ap.add_argument(
        "--min-free-gib",
        type=float,
        default=8.0,
        help="skip the huge pair when less memory than this is available",
    )
    ap.add_argument(
        "--cap-mib",
        type=float,
        default=12000.0,
        help="kill a case whose RSS exceeds this (default 12000)",
    )
    ap.add_argument("--case-timeout", type=float, default=900.0)
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=3000.0,
        help="start no new case after this many seconds",
    )
    ap.add_argument("--json", default="", help="also write the raw results to this file")
    args = ap.parse_args(argv)
    os.environ["MFFGUI_BENCH_THREADS"] = str(args.threads)  # read by the children
    if args.quick:
        args.size, args.counts, args.distinct = "256x192", "4,12", 4
        args.gacn_size, args.gacn_counts = "128x96", "2,4"

    from mffgui.methods import list_methods

    infos = {i.name: i for i in list_methods()}
    if args.methods:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    else:
        methods = [n for n, i in infos.items() if i.kind == "classical"]
        if "gacn" in infos and Path(args.gacn_weights).is_file():
            methods.append("gacn")
    w, h = (int(v) for v in args.size.split("x"))
    gw, gh = (int(v) for v in args.gacn_size.split("x"))
    counts = [int(c) for c in args.counts.split(",")]
    gcounts = [int(c) for c in args.gacn_counts.split(",")]

    start = time.monotonic()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, "
        f"available memory {_available_mib() / 1024:.1f} GiB",
        flush=True,
    )
    results: list[dict] = []
    header = (
        "| method | N | size | wall s | CPU s | peak RSS MiB | peak anon MiB | baseline MiB "
        "| note |\n|---|---:|---|---:|---:|---:|---:|---:|---|"
    )
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mffgui-bench-mem-") as tmp:
        root = Path(tmp)
        planes = render_frames(root / "planes", w, h, args.distinct)
        gplanes = None
        cases: list[tuple[str, int, Path, dict, str]] = []
        for n in [] if args.huge_only else counts:
            # every method at N before the next N, so a cut run is still useful
            folder = link_stack(planes, root / f"n{n}", n)
            for m in methods:
                if infos.get(m) is not None and infos[m].kind != "classical":
                    continue
                cases.append((m, n, folder, {}, f"{w}x{h}"))
        for m in [] if args.huge_only else methods:
            if m not in infos or infos[m].kind == "classical":
                continue
            if gplanes is None:
                gplanes = render_frames(root / "gplanes", gw, gh, min(args.distinct, 8))
            params = (
                {
                    "weights": args.gacn_weights,
                    "device": "cpu",
                    "strategy": args.gacn_strategy,
                    "tile_size": args.gacn_tile,
                }
                if m == "gacn"
                else {"device": "cpu"}
            )
            for n in gcounts:
                folder = link_stack(gplanes, root / f"g{n}", n)
                cases.append((m, n, folder, params, f"{gw}x{gh}"))
        for m, n, folder, params, size in cases:
            if time.monotonic() - start > args.max_seconds:
                rows.append(f"| {m} | {n} | {size} | — | — | — | — | — | not run (time cap) |")
                continue
            r = run_case(m, folder, params, args.case_timeout, args.cap_mib)
            r.update(method=m, n=n, size=size, load=os.getloadavg()[0])
            results.append(r)
            rows.append(_row(m, n, size, r))
            print(rows[-1], flush=True)
        if args.huge:
            hw, hh = (int(v) for v in args.huge_size.split("x"))
            avail = _available_mib() / 1024
            if avail < args.min_free_gib:
                rows.append(
                    f"| (all) | 2 | {hw}x{hh} | — | — | — | — | — | skipped: "
                    f"{avail:.1f} GiB available < {args.min_free_gib} |"
                )
            else:
                folder = render_huge_pair(root / "huge", hw, hh)
                huge = (
                    [m.strip() for m in args.huge_methods.split(",") if m.strip()]
                    if args.huge_methods
                    else [m for m in methods if infos.get(m) and infos[m].kind == "classical"]
                )
                for m in huge:
                    if time.monotonic() - start > args.max_seconds:
                        rows.append(
                            f"| {m} | 2 | {hw}x{hh} | — | — | — | — | — | not run (time cap) |"
                        )
                        continue
                    params: dict = {}
                    if infos[m].kind != "classical":
                        params = {"device": "cpu"}
                        fields = {f.name for f in dataclasses.fields(infos[m].params)}
                        if "memory_mb" in fields:  # GACN; Fusion2Void tiles by `tile`
                            params["memory_mb"] = args.huge_budget_mib
                    r = run_case(m, folder, params, args.case_timeout, args.cap_mib)
                    r.update(method=m, n=2, size=f"{hw}x{hh}", load=os.getloadavg()[0])
                    results.append(r)
                    rows.append(_row(m, 2, f"{hw}x{hh}", r))
                    print(rows[-1], flush=True)
    print()
    print(header)
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
