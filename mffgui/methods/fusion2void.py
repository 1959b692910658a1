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

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mffgui.core.decision import spill_maps
from mffgui.core.focus import focus_measure
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.core.tiling import Tile
from mffgui.errors import MffError, TooFewImages
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.methods.fusion2void_stack import STRATEGIES, fuse_stack, strategy_label
from mffgui.methods.registry import register_method
from mffgui.methods.shared_params import device_param, weights_param
from mffgui.types import FusionResult, Stack, to_gray

ARCH = "fusion2void"
MIN_TILE = 128
"""Smallest tile tried after out-of-memory errors before falling back to the CPU."""


@dataclass(frozen=True)
class Fusion2VoidParams(Params):
    """Parameters of the Fusion2Void method."""

    weights: str | None = weights_param(
        "Checkpoint file (.pt); empty = the project's bundled Fusion2Void weights"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = device_param()
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


def resolve_weights(weights: str | None) -> Path:
    """The checkpoint path to use: ``weights`` or the bundled file
    (:func:`mffgui.models.runtime.weights_path`).

    Raises
    ------
    WeightsError
        When ``weights`` is empty and no bundled weights are installed, or the file is missing.
    """
    from mffgui.models.runtime import weights_path

    return weights_path(ARCH, weights)


def load_model(path: Path, device: Any) -> tuple[Any, dict[str, Any]]:
    """FusionNet from a checkpoint on ``device`` (the shared model cache), and a provenance
    dict."""
    from mffgui.models.runtime import load_model as cached

    loaded = cached(ARCH, path, device)
    info = {
        "weights": str(path),
        "sha256": loaded.sha256,
        "model_args": dict(loaded.model_args),
        "features": int(loaded.model.features),
    }
    return loaded.model, info


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
    from mffgui.models.runtime import map_tiles, to_tensor

    def step(t: Tile) -> Any:
        ta, tb = to_tensor(a[t.read], device), to_tensor(b[t.read], device)
        return (net(ta, tb) + net(tb, ta)) * 0.5

    with torch.inference_mode():
        out = map_tiles(step, a.shape[:2], 3, tile, receptive_radius(), cancel)
    return np.clip(out, 0.0, 1.0)


class _Runner:
    """Runs pair fusions through :func:`mffgui.models.runtime.run_with_fallback`: smaller tiles,
    finally the CPU, on out-of-memory."""

    def __init__(self, path: Path, device: Any, tile: int, cancel: CancelToken) -> None:
        from mffgui.models.runtime import Placement

        self.path = path
        self.place = Placement(device, tile)
        """Device, tile size and notes of the out-of-memory fallback (updated by calls)."""
        self.cancel = cancel
        self.net, self.info = load_model(path, device)
        self._net_device = device

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        from mffgui.models.runtime import Placement, run_with_fallback

        def attempt(p: Placement) -> np.ndarray:
            if p.device != self._net_device:
                self.net, self.info = load_model(self.path, p.device)
                self._net_device = p.device
            return fuse_pair_tensor(self.net, a, b, p.device, p.tile, self.cancel)

        return run_with_fallback(attempt, self.place, max(a.shape[:2]), MIN_TILE)


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
            "device": str(runner.place.device),
            "tile": runner.place.tile,
            "strategy": strategy_label(params.strategy, n),
            "notes": list(runner.place.notes),
            "timings": {
                "network_s": round(t_net, 3),
                "total_s": round(time.perf_counter() - t0, 3),
            },
            **runner.info,
        }
        return FusionResult(
            np.ascontiguousarray(fused, dtype=np.float32), index, weights, focus, meta
        )
