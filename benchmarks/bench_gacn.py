"""GACN inference speed, memory and fidelity on the CPU (or any device).

Prints two tables:

1. Per Lytro pair (520×520): wall and CPU time of ``mffgui``'s GACN (``method.fuse``), and the
   fidelity against the official code's outputs (raw decision map mean |Δ|, share of pixels on
   the same side of 0.5, fused PSNR). With ``--baseline N`` the first N pairs are also run
   through a straightforward port of the official inference (per-branch features, grouped-conv
   shifts and 11×11 window, NCHW, cumsum box filter) on the same machine for comparison.
2. A focus stack (default: the 65-frame ``gacn-v4-chip-microscope``) with the chosen strategy:
   wall time, CPU time and peak resident memory (sampled from ``/proc/self/status``).

CPU time (``time.process_time``) is reported next to wall time because the benchmark machine is
shared; the machine load average is printed with the results.

Usage::

    python benchmarks/bench_gacn.py --weights ../shared/weights/gacn-official/GACN.pkl \
        [--pairs 20] [--threads 2] [--baseline 3] [--stack DIR] [--frames 65] [--no-stack]
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mffgui.methods import get_method
from mffgui.methods.gacn import GacnParams, pair_maps
from mffgui.types import ImageMeta, Stack, to_gray

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared"))


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / np.float32(255)


def _lazy_stack(files: list[Path]) -> Stack:
    """A stack that decodes each JPEG when asked (memory independent of N)."""
    with Image.open(files[0]) as im:
        w, h = im.size
    metas = [ImageMeta(path=f, width=w, height=h, channels=3, format="JPEG") for f in files]
    return Stack([(lambda f=f: _rgb(f)) for f in files], metas)


class PeakRSS:
    """Samples the process's resident memory every 20 ms; ``peak`` in bytes."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())


def baseline_pair(model, ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """The official inference's operations, unoptimised, with the same weights (BGF map)."""
    import torch
    import torch.nn.functional as F

    def feats(x: torch.Tensor) -> torch.Tensor:
        outs = []
        for block, se in model._blocks():
            outs.append(se.forward(block(x)))
            x = torch.cat(outs, 1)
        return x

    def sf(f: torch.Tensor) -> torch.Tensor:
        c = f.shape[1]
        right = torch.zeros(c, 1, 3, 3)
        right[:, 0, 1, 0] = 1
        down = torch.zeros(c, 1, 3, 3)
        down[:, 0, 0, 1] = 1
        g = (F.conv2d(f, right, padding=1, groups=c) - f) ** 2 + (
            F.conv2d(f, down, padding=1, groups=c) - f
        ) ** 2
        return F.conv2d(g, torch.ones(c, 1, 11, 11), padding=5, groups=c)

    def box(x: torch.Tensor, r: int) -> torch.Tensor:
        c = x.cumsum(2)
        c = torch.cat(
            [
                c[:, :, r : 2 * r + 1],
                c[:, :, 2 * r + 1 :] - c[:, :, : -2 * r - 1],
                c[:, :, -1:] - c[:, :, -2 * r - 1 : -r - 1],
            ],
            2,
        ).cumsum(3)
        return torch.cat(
            [
                c[:, :, :, r : 2 * r + 1],
                c[:, :, :, 2 * r + 1 :] - c[:, :, :, : -2 * r - 1],
                c[:, :, :, -1:] - c[:, :, :, -2 * r - 1 : -r - 1],
            ],
            3,
        )

    model.train(False)
    a = torch.from_numpy(ga)[None, None]
    b = torch.from_numpy(gb)[None, None]
    with torch.no_grad():
        s1, s2 = sf(feats(a)), sf(feats(b))
        x = torch.sigmoid(1000 * (s1 - s2))
        x = model.se_4(x)
        for conv, se in (
            (model.decision_path_conv1, model.se_5),
            (model.decision_path_conv2, model.se_6),
            (model.decision_path_conv3, model.se_7),
            (model.decision_path_conv4, model.se_8),
        ):
            x = se(conv(x))
        d = torch.sigmoid(1000 * x)
        blur = F.conv2d(d, model.blur_kernel, padding=4)
        m = (blur > 0.8).float() * blur + (blur < 0.1).float() * (1 - blur)
        band = 1 - torch.abs(2 * (blur * m + (1 - m) * 0.5) - 1)
        guide = a * d + (1 - d) * b
        n = box(torch.ones_like(guide), 3)
        mi, mp = box(guide, 3) / n, box(d, 3) / n
        aa = (box(guide * d, 3) / n - mi * mp) / (box(guide * guide, 3) / n - mi * mi + 0.1)
        bb = mp - aa * mi
        gf = box(aa, 3) / n * guide + box(bb, 3) / n
        return (gf * band + d * (1 - band))[0, 0].numpy()


def bench_pairs(weights: Path, n_pairs: int, n_baseline: int, device: str, fidelity: bool) -> None:
    import torch

    from mffgui.models.gacn import load_gacn
    from mffgui.models.weights import load_checkpoint

    ref_dir = weights.parent / "reference"
    lytro = SHARED / "data" / "lytro"
    method = get_method("gacn")
    params = GacnParams(weights=str(weights), device=device)
    base_model = load_gacn(load_checkpoint(weights, "gacn")) if n_baseline else None
    # warm-up (model load, allocator)
    w0 = _rgb(next((lytro / "lytro_01").glob("*_A.jpg")))
    method.fuse(Stack.from_arrays([w0, w0]), params)
    print(
        f"{'pair':10s} {'wall s':>7s} {'cpu s':>7s} {'base cpu':>9s} {'mean|Δ|':>9s} "
        f"{'same side':>10s} {'PSNR dB':>8s}"
    )
    walls, cpus, bases = [], [], []
    for i in range(1, n_pairs + 1):
        scene = f"lytro_{i:02d}"
        a, b = (_rgb(p) for p in sorted((lytro / scene).glob(f"{scene}_[AB].jpg")))
        stack = Stack.from_arrays([a, b])
        t, c = time.perf_counter(), time.process_time()
        res = method.fuse(stack, params)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        walls.append(wall)
        cpus.append(cpu)
        ref = np.asarray(Image.open(ref_dir / f"{scene}_decision.png")) / 65535.0
        if fidelity:  # the raw decision map (not part of FusionResult), same engine
            raw = pair_maps(to_gray(a), to_gray(b), weights, device=device)["decision"]
        fused_ref = np.asarray(Image.open(ref_dir / f"{scene}_fused.png")).astype(np.float64)
        mse = np.mean((np.round(res.fused * 255.0) - fused_ref) ** 2)
        psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
        base = ""
        if base_model is not None and i <= n_baseline:
            c = time.process_time()
            baseline_pair(base_model, to_gray(a), to_gray(b))
            bases.append(time.process_time() - c)
            base = f"{bases[-1]:.2f}"
        if fidelity:
            mad = f"{np.abs(raw - ref).mean():9.2e}"
            side = f"{np.mean((raw > 0.5) == (ref > 0.5)) * 100:9.4f}%"
        else:
            mad, side = "—", "—"
        print(
            f"{scene:10s} {wall:7.2f} {cpu:7.2f} {base:>9s} {mad:>9s} {side:>10s} {psnr:8.2f}",
            flush=True,
        )
    print(
        f"{'median':10s} {np.median(walls):7.2f} {np.median(cpus):7.2f} "
        f"{(f'{np.median(bases):.2f}' if bases else ''):>9s}"
    )
    print(
        f"torch threads: {torch.get_num_threads()}; speed-up vs the official ~14 s CPU: "
        f"{14.0 / np.median(cpus):.1f}x"
        + (
            f"; vs the baseline port here: {np.median(bases) / np.median(cpus):.1f}x"
            if bases
            else ""
        )
    )


def bench_stack(
    weights: Path, folder: Path, frames: int, strategy: str, device: str, memory_mb: int
) -> None:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png", ".tif"))
    files = files[:frames]
    stack = _lazy_stack(files)
    params = GacnParams(weights=str(weights), device=device, strategy=strategy, memory_mb=memory_mb)
    h, w = stack.shape
    rss0 = PeakRSS.rss()
    with PeakRSS() as mon:
        t, c = time.perf_counter(), time.process_time()

        def progress(done: float, total: float, stage: str = "") -> None:
            print(
                f"  {stage:40s} wall {time.perf_counter() - t:8.1f} s  cpu "
                f"{time.process_time() - c:8.1f} s  RSS {PeakRSS.rss() / 2**20:6.0f} MiB  "
                f"peak {mon.peak / 2**20:6.0f} MiB",
                flush=True,
            )

        res = get_method("gacn").fuse(stack, params, progress=progress)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(
        f"\n{'stack':28s} {'N':>3s} {'size':>10s} {'strategy':>11s} {'tiles':>5s} "
        f"{'wall s':>8s} {'cpu s':>8s} {'peak RSS MiB':>13s} {'before MiB':>11s}"
    )
    print(
        f"{folder.name:28s} {len(stack):3d} {f'{w}x{h}':>10s} {strategy:>11s} "
        f"{res.meta['tiles']:5d} {wall:8.1f} {cpu:8.1f} {mon.peak / 2**20:13.0f} "
        f"{rss0 / 2**20:11.0f}"
    )
    used = np.bincount(res.index_map.ravel(), minlength=len(stack))
    print(f"frames chosen for at least 1% of pixels: {int(np.sum(used > 0.01 * h * w))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--weights", type=Path, default=SHARED / "weights" / "gacn-official" / "GACN.pkl"
    )
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument(
        "--baseline",
        type=int,
        default=0,
        help="also time the unoptimised port on the first N pairs",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--stack", type=Path, default=SHARED / "data" / "stacks" / "gacn-v4-chip-microscope"
    )
    ap.add_argument("--frames", type=int, default=65)
    ap.add_argument("--strategy", default="calibration", choices=("calibration", "serial"))
    ap.add_argument("--memory-mb", type=int, default=0)
    ap.add_argument("--no-stack", action="store_true")
    ap.add_argument(
        "--no-fidelity", action="store_true", help="skip the extra raw-decision-map pass per pair"
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"device {args.device}; load average before: {os.getloadavg()[0]:.1f}"
    )
    if args.pairs:
        bench_pairs(args.weights, args.pairs, args.baseline, args.device, not args.no_fidelity)
    if not args.no_stack:
        bench_stack(
            args.weights, args.stack, args.frames, args.strategy, args.device, args.memory_mb
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
