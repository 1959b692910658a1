"""Fusion2Void adapter: pairs and N-image stacks, tiled inference, implied decision maps.

A pair is fused as ``(FusionNet(A, B) + FusionNet(B, A)) / 2`` (the authors' test-time rule),
which makes the result independent of the input order. Stacks of ``N > 2`` frames are fused by a
stack strategy (:mod:`mffgui.methods.fusion2void_stack`, parameter ``strategy``): by default
(``pyramid``) the network fuses every pair of adjacent frames and a Laplacian pyramid combines
the ``N - 1`` pair outputs; ``tree`` (the previous default) fuses frames and sub-results
pairwise in a balanced tree.

Because the network outputs the image itself, the per-source weights are an attribution: at
every network fusion the output is explained as ``w * left + (1 - w) * right`` on a small window
(:mod:`mffgui.core.attribution`) and the strategy turns these into per-frame weights that sum to
1 at every pixel.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mffgui.core.decision import spill_maps
from mffgui.core.focus import focus_measure
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.core.tiling import plan_tiles
from mffgui.errors import MffError, TooFewImages, WeightsError
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.methods.fusion2void_stack import STRATEGIES, fuse_stack, strategy_label
from mffgui.methods.registry import register_method
from mffgui.models.device import DEVICE_CHOICES
from mffgui.types import FusionResult, Stack, to_gray

ARCH = "fusion2void"
MIN_TILE = 128
"""Smallest tile tried after out-of-memory errors before falling back to the CPU."""


@dataclass(frozen=True)
class Fusion2VoidParams(Params):
    """Parameters of the Fusion2Void method."""

    weights: str | None = param(
        None, "Checkpoint file (.pt); empty = the project's bundled Fusion2Void weights"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = param(
        "auto",
        "Where the network runs: auto = CUDA, then Apple MPS, then CPU",
        choices=DEVICE_CHOICES,
    )
    tile: int = param(
        1024,
        "Tile size in pixels for big images (0 = whole image at once); results are "
        "identical for every tile size",
        min=0,
        max=16384,
        step=64,
    )
    strategy: Literal["pyramid", "tree"] = param(
        "pyramid",
        "Stacks of more than two images: pyramid = the network fuses every pair of adjacent "
        "frames and a Laplacian pyramid combines the pair outputs (default: the best on "
        "ground-truth stacks); tree = frames and sub-results fused pairwise in a balanced tree "
        "(the previous default). Pairs are fused the same way by both",
        choices=STRATEGIES,
    )
    attribution_radius: int = param(
        3, "Window radius of the attribution (decision-map) least squares", min=1, max=15
    )


_MODEL_CACHE: dict[tuple[str, str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


def resolve_weights(weights: str | None) -> Path:
    """The checkpoint path to use: ``weights`` or the bundled file.

    Raises
    ------
    WeightsError
        When ``weights`` is empty and no bundled weights are installed, or the file is missing.
    """
    from mffgui.models.weights import bundled_weights

    if weights:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise WeightsError("Fusion2Void weights file not found", p)
        return p
    bundled = bundled_weights(ARCH)
    if bundled is None:
        raise WeightsError(
            "no Fusion2Void weights: the bundled resources/weights/fusion2void.pt is not "
            "installed; pass weights=FILE or train one with `python -m mffgui.training fusion2void "
            "--data DIR --out FILE`"
        )
    return bundled


def load_model(path: Path, device: Any) -> tuple[Any, dict[str, Any]]:
    """FusionNet from a checkpoint on ``device`` (cached), and a provenance dict."""
    from mffgui.models.fusion2void import load_fusionnet
    from mffgui.models.weights import load_checkpoint, sha256_file

    key = (str(path.resolve()), sha256_file(path), str(device))
    with _CACHE_LOCK:
        hit = _MODEL_CACHE.get(key)
    if hit is not None:
        return hit
    ckpt = load_checkpoint(path, ARCH)
    net = load_fusionnet(ckpt.state_dict, ckpt.model_args, path).to(device)
    info = {
        "weights": str(path),
        "sha256": ckpt.sha256,
        "model_args": dict(ckpt.model_args),
        "features": int(net.features),
    }
    with _CACHE_LOCK:
        _MODEL_CACHE.clear()  # one model at a time: weights can be large on a GPU
        _MODEL_CACHE[key] = (net, info)
    return net, info


def fuse_pair_tensor(
    net: Any, a: np.ndarray, b: np.ndarray, device: Any, tile: int, cancel: CancelToken = NEVER
) -> np.ndarray:
    """Symmetric network fusion of two ``(H, W, 3)`` float32 images, tile by tile.

    Tiles overlap by the receptive-field radius of FusionNet, so the result equals the
    whole-image result (up to float rounding) for every tile size.

    Returns
    -------
    ndarray, (H, W, 3) float32 in [0, 1]
    """
    import torch

    from mffgui.models.fusion2void import receptive_radius

    h, w = a.shape[:2]
    out = np.empty((h, w, 3), dtype=np.float32)
    with torch.inference_mode():
        for t in plan_tiles((h, w), tile, receptive_radius()):
            cancel.raise_if_cancelled()
            ta = torch.from_numpy(np.ascontiguousarray(a[t.read].transpose(2, 0, 1)))[None]
            tb = torch.from_numpy(np.ascontiguousarray(b[t.read].transpose(2, 0, 1)))[None]
            ta, tb = ta.to(device), tb.to(device)
            f = (net(ta, tb) + net(tb, ta)) * 0.5
            ys, xs = t.core_in_read
            out[t.core] = f[0, :, ys, xs].float().cpu().numpy().transpose(1, 2, 0)
    return np.clip(out, 0.0, 1.0)


class _Runner:
    """Runs pair fusions, shrinking tiles and finally moving to the CPU on out-of-memory."""

    def __init__(self, path: Path, device: Any, tile: int, cancel: CancelToken) -> None:
        self.path = path
        self.device = device
        self.tile = tile
        self.cancel = cancel
        self.net, self.info = load_model(path, device)
        self.notes: list[str] = []

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import torch

        from mffgui.models.device import is_oom

        while True:
            try:
                return fuse_pair_tensor(self.net, a, b, self.device, self.tile, self.cancel)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
                if not is_oom(exc) or self.device.type == "cpu":
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                size = self.tile if self.tile > 0 else max(a.shape[:2])
                if size // 2 >= MIN_TILE:
                    self.tile = size // 2
                    self.notes.append(f"out of memory on {self.device}: tile size {self.tile}")
                else:
                    self.notes.append(
                        f"out of memory on {self.device} at tile {size}: fell back to the CPU"
                    )
                    self.device = torch.device("cpu")
                    self.net, self.info = load_model(self.path, self.device)


@register_method
class Fusion2VoidMethod:
    """Fusion2Void: unsupervised network fusion trained by image inpainting."""

    info: ClassVar[MethodInfo] = MethodInfo(
        name="fusion2void",
        title="Fusion2Void (network)",
        kind="network",
        params=Fusion2VoidParams,
        citation=(
            'H. Lin, Y. Lin, J. Xia, L. Fan, F. Li, Y. Wang, X. Ding, "Fusion2Void: '
            'Unsupervised multi-focus image fusion guided by image inpainting", '
            "IEEE TCSVT"
        ),
        description=(
            "Unsupervised network that outputs the fused image directly; pairs are "
            "fused in both orders and averaged; in larger stacks adjacent frames are "
            "fused pairwise and the pair outputs combined in a Laplacian pyramid. The decision "
            "map is a least-squares attribution of the result to the sources."
        ),
    )

    def fuse(
        self,
        stack: Stack,
        params: Params,
        *,
        progress: ProgressFn = noop_progress,
        cancel: CancelToken = NEVER,
    ) -> FusionResult:
        """Fuse ``stack`` (N >= 2 frames, gray or RGB).

        Raises
        ------
        TooFewImages
            For fewer than two frames.
        WeightsError
            No usable weights.
        MffError
            A forced device that is not available.
        """
        import torch

        from mffgui.models.device import pick_device

        if not isinstance(params, Fusion2VoidParams):
            params = Fusion2VoidParams.from_mapping(params.to_dict())
        n = len(stack)
        if n < 2:
            raise TooFewImages(f"Fusion2Void needs at least two frames, got {n}")
        cancel.raise_if_cancelled()
        t0 = time.perf_counter()
        path = resolve_weights(params.weights)
        device = pick_device(params.device)
        runner = _Runner(path, device, params.tile, cancel)
        h, w = stack.shape
        merges = n - 1
        try:
            fused, weights = fuse_stack(
                stack,
                params.strategy,
                runner,
                params.attribution_radius,
                progress=progress,
                cancel=cancel,
            )
        except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - handled in _Runner
            raise MffError(f"out of memory: {exc}") from None
        t_net = time.perf_counter() - t0

        progress(merges, merges + 1, "Fusion2Void: focus maps")
        index = np.zeros((h, w), dtype=np.uint16)
        best = np.full((h, w), -1.0, dtype=np.float32)
        focus = spill_maps(n, (h, w))
        top = 0.0
        for i in range(n):
            cancel.raise_if_cancelled()
            wi = weights[i]
            better = wi > best
            index[better] = i
            best = np.where(better, wi, best)
            fm = focus_measure(stack.gray(i), "sml", radius=4)
            focus[i] = fm
            top = max(top, float(fm.max()))
        if top > 0:
            for i in range(n):
                focus[i] = focus[i] / top
        if stack.channels == 1:
            fused = to_gray(fused)[:, :, None]
        progress(merges + 1, merges + 1, "Fusion2Void: done")
        meta = {
            "method": self.info.name,
            "params": params.to_dict(),
            "device": str(runner.device),
            "tile": runner.tile,
            "strategy": strategy_label(params.strategy, n),
            "notes": list(runner.notes),
            "timings": {
                "network_s": round(t_net, 3),
                "total_s": round(time.perf_counter() - t0, 3),
            },
            **runner.info,
        }
        return FusionResult(
            np.ascontiguousarray(fused, dtype=np.float32), index, weights, focus, meta
        )
