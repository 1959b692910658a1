"""``python -m mffgui.training gacn``: train or fine-tune GACN on synthetic pairs from sharp images.

The loss is the paper's: Dice loss on the raw decision map plus ``1 − soft Q^{AB/F}`` of the
image fused with the boundary-guided map (:mod:`mffgui.training.losses`). Validation after every
epoch: Dice, IoU and pixel accuracy of the thresholded decision map on held-out synthetic
pairs (made deterministically from held-out images), and, with ``--val DIR``, the mean
Q^{AB/F} of real pairs fused by the network.

The network's two hard comparisons, ``sigmoid(1000 · x)`` on the feature spatial-frequency
difference and on the decision logits, pass almost no gradient. The forward pass here is
exactly the published network's; with ``--sf-surrogate`` / ``--map-surrogate`` > 0 the
*backward* pass uses the gradient of a softer ``sigmoid(s · x)`` instead (a straight-through
surrogate), which lets the feature extractor and the decision path learn from the first step.
``0`` gives the exact gradient of the published forward pass.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mffgui.training.common import (
    EventLog,
    TrainDefaults,
    add_common_arguments,
    check_stop,
    run_training,
)
from mffgui.training.datasets import (
    SyntheticPairs,
    find_real_pairs,
    list_images,
    read_rgb_float,
    split_holdout,
    to_luma,
)

ARCH = "gacn"


def _hard_with_surrogate(x: Any, sharpness: float, slope: float) -> Any:
    """``sigmoid(sharpness·x)`` forward; gradient of ``sigmoid(slope·x)`` when ``slope > 0``."""
    import torch

    hard = torch.sigmoid(x * sharpness)
    if slope <= 0:
        return hard
    soft = torch.sigmoid(x * slope)
    return hard.detach() + (soft - soft.detach())


def train_forward(
    model: Any, a: Any, b: Any, sf_slope: float = 0.0, map_slope: float = 0.0
) -> dict[str, Any]:
    """The published GACN forward pass with optional surrogate gradients.

    Parameters
    ----------
    model : mffgui.models.gacn.GACN
    a, b : Tensor, (B, 1, H, W) float32 in [0, 1]
        Gray sources.
    sf_slope, map_slope : float
        Surrogate slopes of the SF comparison and of the decision map (0 = exact gradient).

    Returns
    -------
    dict
        ``logits``, ``decision``, ``bgf``, ``fused`` — Tensors (B, 1, H, W).
    """
    import torch

    from mffgui.models.gacn import SHARPNESS

    n = a.shape[0]
    feats = model.features(torch.cat([a, b], dim=0))
    if hasattr(model, "gradient_energy"):  # SF_a − SF_b as the window sum of the difference
        energy = model.gradient_energy(feats)
        diff = model.window_sum(energy[:n] - energy[n:])
    else:
        sf = model.spatial_frequency(feats)
        diff = sf[:n] - sf[n:]
    x = _hard_with_surrogate(diff, SHARPNESS, sf_slope)
    x = model.se_4(x)
    x = model.se_5(model.decision_path_conv1(x))
    x = model.se_6(model.decision_path_conv2(x))
    x = model.se_7(model.decision_path_conv3(x))
    logits = model.se_8(model.decision_path_conv4(x))
    decision = _hard_with_surrogate(logits, SHARPNESS, map_slope)
    bgf = model.boundary_guided_filter(decision, a, b)
    return {"logits": logits, "decision": decision, "bgf": bgf, "fused": bgf * a + (1 - bgf) * b}


def map_scores(decision: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Dice, IoU and accuracy of a thresholded decision map, pooled over all pixels.

    Parameters
    ----------
    decision : ndarray, (N, 1, H, W)
        Predicted weight of ``a``.
    label : ndarray, (N, 1, H, W)
        Binary ground truth.

    Returns
    -------
    dict
        ``dice`` and ``iou`` of the foreground (label 1), ``accuracy`` over all pixels.
    """
    p = decision > 0.5
    t = label > 0.5
    inter = float(np.logical_and(p, t).sum())
    union = float(np.logical_or(p, t).sum())
    total = float(p.sum() + t.sum())
    return {
        "dice": 2 * inter / total if total else 1.0,
        "iou": inter / union if union else 1.0,
        "accuracy": float((p == t).mean()),
    }


class GACNTask:
    """GACN as a :class:`mffgui.training.common.TrainTask`."""

    arch = ARCH
    score_key = "iou"
    defaults: ClassVar[dict[str, Any]] = TrainDefaults(
        epochs=30, batch_size=8, patch_size=112, lr=1e-3, lr_decay=0.8, lr_step=4, val_count=48
    ).with_options(sf_surrogate=1.0, map_surrogate=20.0, qabf_weight=1.0, val_max_pairs=20)

    def __init__(self) -> None:
        self.train_set: SyntheticPairs | None = None
        self.val_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.real_pairs: list[tuple[str, Path, Path]] = []
        self.config: dict[str, Any] = {}
        self.device: Any = None

    # -- TrainTask --------------------------------------------------------------------------

    def setup(self, config: dict[str, Any], device: Any, log: EventLog) -> None:
        """Load the sharp images, split off the held-out set, build the validation pairs."""
        self.config, self.device = config, device
        paths = list_images(config["data"])
        train, held = split_holdout(paths, float(config["holdout"]))
        self.train_set = SyntheticPairs(train, int(config["patch_size"]))
        held_set = SyntheticPairs(held, int(config["patch_size"])) if held else self.train_set
        size = max(int(config["patch_size"]), 128)
        size = min(size, min(min(im.shape) for im in held_set.images) if held else size)
        self.val_arrays = held_set.fixed_set(int(config["val_count"]), size)
        if config.get("val"):
            self.real_pairs = find_real_pairs(config["val"])[: int(config["val_max_pairs"])]
        log.emit(
            "data",
            images=len(paths),
            train_images=len(train),
            held_out_images=len(held),
            val_pairs=int(config["val_count"]),
            val_size=size,
            real_val_pairs=len(self.real_pairs),
        )

    def build_model(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """A fresh GACN (PyTorch default initialisation, seeded)."""
        from mffgui.models.gacn import build_gacn

        model_args: dict[str, Any] = {}
        return build_gacn(**model_args), model_args

    def load_init(self, model: Any, path: str) -> dict[str, Any]:
        """Strictly load GACN weights (project checkpoint or the official ``GACN.pkl``)."""
        from mffgui.models.gacn import load_gacn
        from mffgui.models.weights import load_checkpoint

        ck = load_checkpoint(path, ARCH)
        loaded = load_gacn(ck)
        model.load_state_dict(loaded.state_dict(), strict=True)
        return {"path": str(path), "sha256": ck.sha256}

    def batch(self, epoch: int, step: int) -> tuple[Any, ...]:
        """Synthetic batch ``(a, b, label)`` at ``(epoch, step)``."""
        import torch

        assert self.train_set is not None
        arrays = self.train_set.batch(
            int(self.config["seed"]), epoch, step, int(self.config["batch_size"])
        )
        return tuple(torch.from_numpy(x).to(self.device) for x in arrays)

    def loss(self, model: Any, batch: tuple[Any, ...]) -> dict[str, Any]:
        """Paper loss on one batch."""
        from mffgui.training.losses import gacn_loss

        a, b, label = batch
        out = train_forward(
            model, a, b, float(self.config["sf_surrogate"]), float(self.config["map_surrogate"])
        )
        return gacn_loss(
            out["decision"], label, a, b, out["fused"], float(self.config["qabf_weight"])
        )

    def validate(self, model: Any) -> dict[str, float]:
        """Held-out synthetic map scores and, with ``--val``, real-pair Q^{AB/F}."""
        import torch

        from mffgui.training.losses import soft_qabf

        assert self.val_arrays is not None
        a_all, b_all, label_all = self.val_arrays
        decisions = []
        qs = []
        for i in range(0, len(a_all), 8):
            check_stop()
            a = torch.from_numpy(a_all[i : i + 8]).to(self.device)
            b = torch.from_numpy(b_all[i : i + 8]).to(self.device)
            out = model(a, b)
            decisions.append(out.decision.float().cpu().numpy())
            qs.append(soft_qabf(a, b, out.fused_gray).cpu().numpy())
        metrics = map_scores(np.concatenate(decisions), label_all)
        metrics["synthetic_qabf"] = float(np.concatenate(qs).mean())
        if self.real_pairs:
            scores = []
            for _, pa, pb in self.real_pairs:
                check_stop()
                scores.append(real_pair_qabf(model, pa, pb, self.device))
            metrics["real_qabf"] = float(np.mean(scores))
        return metrics


def fuse_pair_arrays(
    model: Any, rgb_a: np.ndarray, rgb_b: np.ndarray, device: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse two images with a GACN in eval mode (whole image, no tiling).

    Parameters
    ----------
    rgb_a, rgb_b : ndarray, (H, W) or (H, W, 3) float32 in [0, 1]

    Returns
    -------
    fused : ndarray, same shape as the inputs, float32 in [0, 1]
    decision : ndarray, (H, W) float32
        Raw decision map (weight of ``a``).
    bgf : ndarray, (H, W) float32
        Boundary-guided map used for the fusion.
    """
    import torch

    ga = torch.from_numpy(to_luma(rgb_a))[None, None].to(device)
    gb = torch.from_numpy(to_luma(rgb_b))[None, None].to(device)
    out = model(ga, gb)
    w = out.bgf[0, 0].float().cpu().numpy()
    if rgb_a.ndim == 3:
        w = w[:, :, None]
    fused = np.clip(w * rgb_a + (1 - w) * rgb_b, 0.0, 1.0).astype(np.float32)
    return fused, out.decision[0, 0].float().cpu().numpy(), out.bgf[0, 0].float().cpu().numpy()


def qabf_metric(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Q^{AB/F} of 8-bit-equivalent images with the project's metric (MATLAB conventions)."""
    from mffgui.metrics.common import gray255
    from mffgui.metrics.gradient import qabf

    return float(qabf([gray255(a), gray255(b)], gray255(fused)))


def real_pair_qabf(model: Any, path_a: Path, path_b: Path, device: Any) -> float:
    """Q^{AB/F} of one real pair fused by ``model``."""
    a, b = read_rgb_float(path_a), read_rgb_float(path_b)
    if a.shape != b.shape:
        from mffgui.errors import StackMismatch

        raise StackMismatch(f"size {a.shape} differs from {b.shape} of {path_a.name}", path_b)
    fused, _, _ = fuse_pair_arrays(model, a, b, device)
    return qabf_metric(a, b, fused)


# -- command line ------------------------------------------------------------------------------


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gacn`` on the ``python -m mffgui.training`` parser."""
    p = subparsers.add_parser(
        "gacn",
        help="train or fine-tune GACN",
        description="Train GACN (Ma et al. 2022) on synthetic multi-focus pairs made from "
        "sharp images, with the paper's Dice + Q^{AB/F} loss. Writes an mffgui checkpoint "
        "that the app's gacn method loads (--weights FILE).",
    )
    add_common_arguments(p)
    g = p.add_argument_group("GACN")
    g.add_argument(
        "--holdout",
        type=float,
        help="fraction of the images held out for synthetic validation (default 0.05)",
    )
    g.add_argument(
        "--sf-surrogate",
        type=float,
        dest="sf_surrogate",
        help="slope of the surrogate gradient of the SF comparison (0 = exact)",
    )
    g.add_argument(
        "--map-surrogate",
        type=float,
        dest="map_surrogate",
        help="slope of the surrogate gradient of the decision map (0 = exact)",
    )
    g.add_argument(
        "--qabf-weight",
        type=float,
        dest="qabf_weight",
        help="weight of the (1 - Q^{AB/F}) term (1 in the paper)",
    )
    g.add_argument(
        "--val-max-pairs",
        type=int,
        dest="val_max_pairs",
        help="at most this many real pairs from --val (default 20)",
    )
    p.set_defaults(func=main)
    return p


def main(args: argparse.Namespace) -> int:
    """Run the ``gacn`` sub-command."""
    return run_training(GACNTask(), args)
