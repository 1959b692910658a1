"""The CUDA path on a real GPU: every test here skips without a CUDA device.

CPU results are the reference: the same weights on the same frames must give the same decision
(GACN) or the same image up to float32 rounding (Fusion2Void), through the methods, the app's
worker and the training code.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def _scene(h: int = 120, w: int = 136, n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Frame k is sharp in the k-th vertical band and blurred (σ differing per frame, so no two
    frames tie anywhere) elsewhere."""
    import cv2

    rng = np.random.default_rng(seed)
    sharp = cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), 1.0)
    sharp = np.clip((sharp - sharp.mean()) * 5 + 0.5, 0, 1).astype(np.float32)
    frames = []
    for k in range(n):
        f = cv2.GaussianBlur(sharp, (0, 0), 2.0 + 0.7 * k)
        x0, x1 = k * w // n, (k + 1) * w // n
        f[:, x0:x1] = sharp[:, x0:x1]
        frames.append(np.ascontiguousarray(f))
    return frames


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def test_fusion2void_cuda_matches_cpu() -> None:
    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.types import Stack

    frames = _scene(n=2)
    m = get_method("fusion2void")
    cpu = m.fuse(Stack.from_arrays(frames), Fusion2VoidParams(device="cpu"))
    gpu = m.fuse(Stack.from_arrays(frames), Fusion2VoidParams(device="cuda"))
    assert gpu.meta["device"].startswith("cuda")
    assert _psnr(gpu.fused, cpu.fused) >= 45.0


def test_fusion2void_cuda_tiled_equals_whole() -> None:
    """Tiles overlapping by the receptive radius give the whole-image result on CUDA too."""
    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.types import Stack

    frames = _scene(h=200, w=232, n=2)
    m = get_method("fusion2void")
    whole = m.fuse(Stack.from_arrays(frames), Fusion2VoidParams(device="cuda", tile=0))
    tiled = m.fuse(Stack.from_arrays(frames), Fusion2VoidParams(device="cuda", tile=128))
    assert _psnr(tiled.fused, whole.fused) >= 60.0


def test_gacn_stack_cuda_matches_cpu() -> None:
    from mffgui.methods import get_method
    from mffgui.methods.gacn import GacnParams
    from mffgui.types import Stack

    frames = _scene(n=4)
    m = get_method("gacn")
    cpu = m.fuse(Stack.from_arrays(frames), GacnParams(device="cpu"))
    gpu = m.fuse(Stack.from_arrays(frames), GacnParams(device="cuda"))
    assert np.mean(cpu.index_map == gpu.index_map) > 0.999
    assert _psnr(gpu.fused, cpu.fused) >= 45.0


def test_sharp_band_wins_on_cuda() -> None:
    """Frame k, the only sharp one in band k, is chosen there on CUDA (away from band edges).

    With the serial strategy: the paper's calibration (reference = frame 0) loses band 2 of
    this scene on the CPU as well (the reference-frame bias of GACN on stacks), which is not a
    property of the CUDA path.
    """
    from mffgui.methods import get_method
    from mffgui.methods.gacn import GacnParams
    from mffgui.types import Stack

    n, w = 3, 150
    frames = _scene(h=96, w=w, n=n, seed=3)
    res = get_method("gacn").fuse(
        Stack.from_arrays(frames), GacnParams(device="cuda", strategy="serial")
    )
    for k in range(n):
        x0, x1 = k * w // n + 12, (k + 1) * w // n - 12
        band = res.index_map[12:-12, x0:x1]
        assert np.mean(band == k) > 0.9


def test_app_worker_fuses_on_cuda(qtbot, tmp_path) -> None:
    """One fusion through the app's QThread worker with the CUDA device."""
    import cv2

    from mffgui.core.progress import CancelToken
    from mffgui.gui.tasks import TaskRunner, TaskWorker, take
    from mffgui.gui.worker import FusionRequest, run_fusion
    from mffgui.io import discover
    from mffgui.methods.gacn import GacnParams

    paths = []
    for k, f in enumerate(_scene(n=2)):
        p = tmp_path / f"f{k}.png"
        cv2.imwrite(str(p), np.round(f[:, :, ::-1] * 255).astype(np.uint8))
        paths.append(p)
    disc = discover(paths)
    req = FusionRequest(
        generation=1,
        frames=tuple(disc.frames),
        metas=tuple(disc.metas),
        method="gacn",
        params=GacnParams(device="cuda"),
        device="cuda",
    )
    out: dict = {}
    runner = TaskRunner()
    worker = TaskWorker(lambda p, c: run_fusion(req, p, c), 1, CancelToken(), "fusion")
    worker.resultReady.connect(lambda gen, key: out.setdefault("outcome", take(key)))
    worker.failed.connect(lambda gen, msg: out.setdefault("error", msg))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        runner.start(worker)
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    assert "error" not in out, out.get("error")
    assert out["outcome"].result.meta["device"].startswith("cuda")


def test_gpu_recipe_steps_on_cuda(tmp_path, shared) -> None:
    """A few bf16/channels-last steps of the GPU recipe: finite, checkpoint loads in the app."""
    import subprocess
    import sys

    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.types import Stack

    data = shared / "data" / "train-sharp"
    if not data.is_dir():
        pytest.skip(f"no training images at {data}")
    out = tmp_path / "run.pt"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "fusion2void-gpu",
            "--data",
            str(data),
            "--out",
            str(out),
            "--minutes",
            "0.25",
            "--features",
            "8",
            "--batch-size",
            "8",
            "--patch-size",
            "64",
            "--device",
            "cuda",
            "--val-count",
            "8",
            "--val-every-s",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    best = tmp_path / "run.best.pt"
    res = get_method("fusion2void").fuse(
        Stack.from_arrays(_scene(n=2)), Fusion2VoidParams(weights=str(best), device="cuda")
    )
    assert np.isfinite(res.fused).all()
