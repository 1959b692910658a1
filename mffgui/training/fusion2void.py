"""Fusion2Void (FusionNet + RecNet) without ground truth: ``python -m mffgui.training fusion2void``.

The objective follows the paper's idea and the authors' released training script:

1. FusionNet fuses the pair ``(A, B)``; the input order is random at every step, because the
   two encoders are separate and the app averages both orders.
2. Square blocks of A and B are dropped (``--mask-block`` pixels, ``--drop-ratio`` of the
   blocks; by default the *same* blocks in A and B, as the authors do).
3. RecNet sees ``[masked A, masked B, fused]`` and restores A and B. Restoring a focused block
   needs its high frequencies, which only the fused image can supply, so the reconstruction
   loss rewards a fused image that keeps every focused region.
4. Loss = L1 reconstruction of A and B (``--rec-region all``: every pixel, as the authors do, or
   ``dropped``: only the dropped blocks) + ``--ssim-weight`` x (1 - SSIM) of the
   reconstructions + ``--fidelity-weight`` x mean(|F - A| |F - B|), the authors' fidelity term
   (their ``L1(F z, A z)`` with ``z = |F - B|``), which is zero when every fused pixel equals one
   of the sources: no colour shift, no invented content. FusionNet and RecNet are trained
   jointly with Adam.

Training pairs are unlabelled: colour pairs made from sharp images (``--data DIR``: the focus
masks, blur, bleeding, noise and offset augmentations of :mod:`mffgui.training.datasets`, applied to
RGB crops) and/or real pairs from stacks (``--pairs DIR``: every sub-folder with two or more
same-size images is a scene; any two frames of a scene are a pair). The sharp original of a
synthetic pair is used only by the validation PSNR, never by the loss.

The loop, checkpoints, resume, stop and events are :func:`mffgui.training.common.run_training`'s.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from mffgui.errors import MffError, StackMismatch
from mffgui.training.common import (
    EventLog,
    TrainDefaults,
    add_common_arguments,
    check_stop,
    run_training,
)
from mffgui.training.datasets import (
    VALIDATION_SEED,
    PairConfig,
    find_real_pairs,
    list_images,
    random_crop,
    random_focus_mask,
    read_rgb_float,
    read_rgb_u8,
    split_holdout,
)

ARCH = "fusion2void"
TRAIN_PAIRS = PairConfig()
"""Synthetic-pair ranges used for training (the GACN trainer's defaults)."""


# --------------------------------------------------------------------------- data


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def make_rgb_pair(
    rng: np.random.Generator, sharp: np.ndarray, cfg: PairConfig = TRAIN_PAIRS
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic colour multi-focus pair from a sharp crop.

    The recipe of :func:`mffgui.training.datasets.make_pair` (random region mask, independent blur
    strengths, the near layer's blur bleeding over the boundary, small offsets, noise, swap) on
    all three channels; random erasing is left out because it makes a region that neither
    source explains.

    Parameters
    ----------
    rng : numpy.random.Generator
    sharp : ndarray, (S, S, 3) float32 in [0, 1]
    cfg : PairConfig

    Returns
    -------
    a, b : ndarray, (S, S, 3) float32 in [0, 1]
    """
    size = sharp.shape[0]
    mask = random_focus_mask(rng, size)
    sig_a, sig_b = rng.uniform(*cfg.blur_sigma, 2)
    blur_a = _blur(sharp, float(sig_a))
    blur_b = _blur(sharp, float(sig_b))
    soft = _blur(mask, float(max(sig_a, sig_b))) if rng.random() < cfg.bleed else mask
    m, sm = mask[:, :, None], soft[:, :, None]
    if rng.random() < 0.5:
        a = m * sharp + (1 - m) * blur_a
        b = (1 - sm) * sharp + sm * blur_b
    else:
        a = sm * sharp + (1 - sm) * blur_a
        b = (1 - m) * sharp + m * blur_b
    if rng.random() < cfg.offset_p and cfg.offset_max > 0:
        dx, dy = (int(v) for v in rng.integers(-cfg.offset_max, cfg.offset_max + 1, 2))
        shift = np.float32([[1, 0, dx], [0, 1, dy]])

        def warp(im: np.ndarray) -> np.ndarray:
            return cv2.warpAffine(
                im, shift, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
            )

        if rng.random() < 0.5:
            a = warp(a)
        else:
            b = warp(b)
    if rng.random() < cfg.noise_p:
        std = float(rng.uniform(*cfg.noise_std))
        a = a + rng.normal(0.0, std, a.shape).astype(np.float32)
        b = b + rng.normal(0.0, std, b.shape).astype(np.float32)
    if rng.random() < cfg.swap_p:
        a, b = b, a
    return np.clip(a, 0, 1).astype(np.float32), np.clip(b, 0, 1).astype(np.float32)


def discover_scenes(folders: Sequence[str | Path]) -> list[list[Path]]:
    """Scenes (folders with two or more images, ground truths excluded) under ``folders``."""
    groups: dict[Path, list[Path]] = {}
    for f in list_images(folders):
        groups.setdefault(f.parent, []).append(f)
    return [sorted(v) for _, v in sorted(groups.items()) if len(v) >= 2]


class ColourPairs:
    """Training batches from sharp images (synthetic pairs) and real stacks.

    Every batch is a pure function of ``(seed, epoch, step)``, so resuming is exact.

    Parameters
    ----------
    sharp : sequence of Path
        Sharp images for synthetic pairs.
    scenes : sequence of list of Path
        Real stacks; any two frames make a pair.
    patch_size : int
    real_fraction : float
        Share of real pairs when both kinds exist.
    """

    def __init__(
        self,
        sharp: Sequence[Path],
        scenes: Sequence[list[Path]],
        patch_size: int,
        real_fraction: float = 0.5,
        cfg: PairConfig = TRAIN_PAIRS,
    ) -> None:
        if not sharp and not scenes:
            raise MffError("no training images (give --data and/or --pairs folders)")
        self.sharp = [read_rgb_u8(p) for p in sharp]
        self.scenes = [[read_rgb_u8(p) for p in sc] for sc in scenes]
        for sc, paths in zip(self.scenes, scenes, strict=True):
            for im, p in zip(sc[1:], paths[1:], strict=True):
                if im.shape != sc[0].shape:
                    raise StackMismatch(
                        f"size {im.shape[1]}x{im.shape[0]} differs from the "
                        f"scene's first frame {paths[0].name}",
                        p,
                    )
        self.patch = int(patch_size)
        self.real_fraction = (
            real_fraction if self.sharp and self.scenes else (1.0 if self.scenes else 0.0)
        )
        self.cfg = cfg

    def _real(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        scene = self.scenes[int(rng.integers(len(self.scenes)))]
        i, j = (int(v) for v in rng.choice(len(scene), size=2, replace=False))
        both = np.concatenate([scene[i], scene[j]], axis=2)  # crop both frames identically
        crop = random_crop(rng, both, self.patch)
        return crop[:, :, :3], crop[:, :, 3:]

    def make(
        self,
        rng: np.random.Generator,
        n: int,
        cfg: PairConfig | None = None,
        with_sharp: bool = False,
    ) -> tuple[np.ndarray, ...]:
        """``n`` pairs as ``(a, b)`` (and the sharp originals), each ``(n, 3, S, S)``."""
        cfg = cfg or self.cfg
        out = np.zeros((3, n, 3, self.patch, self.patch), np.float32)
        for k in range(n):
            if self.scenes and rng.random() < self.real_fraction:
                a, b = self._real(rng)
                sharp = np.full_like(a, np.nan)
            else:
                img = self.sharp[int(rng.integers(len(self.sharp)))]
                sharp = random_crop(rng, img, self.patch)
                a, b = make_rgb_pair(rng, sharp, cfg)
            out[0, k], out[1, k] = a.transpose(2, 0, 1), b.transpose(2, 0, 1)
            out[2, k] = sharp.transpose(2, 0, 1)
        return (out[0], out[1], out[2]) if with_sharp else (out[0], out[1])


# --------------------------------------------------------------------------- objective


@dataclass(frozen=True)
class Objective:
    """The choices the paper's abstract leaves open (defaults: the authors' script)."""

    mask_block: int = 8
    drop_ratio: float = 0.7
    mask_mode: str = "same"  # same | independent | complementary
    rec_region: str = "all"  # all | dropped
    ssim_weight: float = 0.0
    fidelity_weight: float = 10.0
    identity_weight: float = 0.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Objective:
        """The objective fields present in a training ``config``."""
        return cls(**{k: config[k] for k in cls.__dataclass_fields__ if k in config})


def block_masks(
    rng: np.random.Generator, n: int, h: int, w: int, obj: Objective
) -> tuple[np.ndarray, np.ndarray]:
    """Keep-masks ``(n, 1, h, w)`` float32 for A and B: 1 = kept, 0 = dropped block."""
    if obj.mask_mode not in ("same", "independent", "complementary"):
        raise ValueError(f"unknown mask mode {obj.mask_mode!r}")
    bs = max(1, int(obj.mask_block))
    gh, gw = math.ceil(h / bs), math.ceil(w / bs)
    keep = 1.0 - float(obj.drop_ratio)
    ma = (rng.random((n, 1, gh, gw)) < keep).astype(np.float32)
    if obj.mask_mode == "same":
        mb = ma
    elif obj.mask_mode == "complementary":
        mb = 1.0 - ma
    else:
        mb = (rng.random((n, 1, gh, gw)) < keep).astype(np.float32)

    def up(m: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(m.repeat(bs, axis=2).repeat(bs, axis=3)[:, :, :h, :w])

    return up(ma), up(mb)


def ssim_loss(x: Any, y: Any) -> Any:
    """``1 - SSIM`` with an 11x11 Gaussian window (sigma 1.5), averaged over everything."""
    import torch
    import torch.nn.functional as F

    c = x.shape[1]
    g = torch.exp(-((torch.arange(11, dtype=x.dtype, device=x.device) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    win = (g[:, None] * g[None, :]).expand(c, 1, 11, 11).contiguous()

    def blur(t: Any) -> Any:
        return F.conv2d(t, win, padding=5, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return 1.0 - s.mean()


def _masked_l1(pred: Any, target: Any, weight: Any) -> Any:
    w = weight.expand_as(pred)
    return ((pred - target).abs() * w).sum() / w.sum().clamp_min(1.0)


def reconstruction_loss(
    rec_net: Any, a: Any, b: Any, fused: Any, ma: Any, mb: Any, obj: Objective, swap: bool = False
) -> Any:
    """Inpainting loss of RecNet restoring ``a`` and ``b`` from masked copies and ``fused``.

    Parameters
    ----------
    rec_net : RecNet
    a, b, fused : Tensor, (N, 3, H, W)
    ma, mb : Tensor, (N, 1, H, W)
        Keep-masks (1 = visible to RecNet).
    obj : Objective
    swap : bool
        Feed ``b`` first (RecNet learns both orders).

    Returns
    -------
    Tensor, scalar
    """
    if swap:
        rec_b, rec_a = rec_net(b * mb, a * ma, fused)
    else:
        rec_a, rec_b = rec_net(a * ma, b * mb, fused)
    if obj.rec_region == "dropped":
        wa, wb = 1.0 - ma, 1.0 - mb
    elif obj.rec_region == "all":
        wa = wb = torch_ones_like_mask(ma)
    else:
        raise ValueError(f"unknown reconstruction region {obj.rec_region!r}")
    loss = _masked_l1(rec_a, a, wa) + _masked_l1(rec_b, b, wb)
    if obj.ssim_weight > 0:
        loss = loss + obj.ssim_weight * (ssim_loss(rec_a, a) + ssim_loss(rec_b, b))
    return loss


def torch_ones_like_mask(m: Any) -> Any:
    """Ones shaped like a mask tensor."""
    return m.new_ones(m.shape)


def fidelity_loss(fused: Any, a: Any, b: Any) -> Any:
    """``mean(|F - A| |F - B|)``: zero where every fused pixel equals one of the sources."""
    return ((fused - a).abs() * (fused - b).abs()).mean()


def identity_loss(fusion_net: Any, a: Any, b: Any) -> Any:
    """``L1(FusionNet(A, A), A) + L1(FusionNet(B, B), B)``: fusing an image with itself must
    return it.

    Any fusion rule has this property, and it needs no ground truth (the target is the input).
    It teaches the sigmoid-output network to pass sharp detail through, which the inpainting
    objective alone learns slowly; see docs/TRAINING.md.
    """
    import torch

    src = torch.cat((a, b), dim=0)
    return 2.0 * (fusion_net(src, src) - src).abs().mean()


def total_loss(
    model: Any,
    a: Any,
    b: Any,
    ma: Any,
    mb: Any,
    obj: Objective,
    order: bool = False,
    swap: bool = False,
    warmup: bool = False,
) -> dict[str, Any]:
    """The training objective on one batch: ``{"loss", "rec", "fidelity", "identity"}``.

    With ``warmup`` only the identity term is used (FusionNet's pass-through warm-up).
    """
    if warmup:
        ident = identity_loss(model.fusion, a, b)
        zero = ident.detach() * 0.0
        return {"loss": ident, "rec": zero, "fidelity": zero, "identity": ident}
    fused = model.fusion(b, a) if order else model.fusion(a, b)
    rec = reconstruction_loss(model.rec, a, b, fused, ma, mb, obj, swap)
    fid = fidelity_loss(fused, a, b)
    loss = rec + obj.fidelity_weight * fid
    out = {"rec": rec, "fidelity": fid}
    if obj.identity_weight > 0:
        ident = identity_loss(model.fusion, a, b)
        loss = loss + obj.identity_weight * ident
        out["identity"] = ident
    out["loss"] = loss
    return out


# --------------------------------------------------------------------------- task


def zero_init_residual(model: Any) -> int:
    """Zero the last convolution of every residual block, so each block starts as the identity.

    The residual-block form is ``relu(x + conv2(relu(conv1(x))))`` with ``x >= 0`` (it follows
    a ReLU), so with ``conv2 = 0`` a block returns its input and the untrained FusionNet is a
    shallow conv-ReLU-conv-ReLU-conv network that learns to pass detail through quickly (the
    "zero-init residual" practice of Goyal et al. 2017, torchvision's ``zero_init_residual``).
    The architecture is unchanged. Returns the number of blocks changed.
    """
    import torch

    from mffgui.models.fusion2void import torch_modules

    res_block = torch_modules()["ResBlock"]
    n = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, res_block):
                last = m.conv1[2]
                last.weight.zero_()
                if last.bias is not None:
                    last.bias.zero_()
                n += 1
    return n


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) - y) ** 2))
    return 99.0 if mse <= 1e-12 else 10 * math.log10(1.0 / mse)


def fuse_arrays(fusion_net: Any, a: np.ndarray, b: np.ndarray, device: Any) -> np.ndarray:
    """Symmetric fusion of ``(N, 3, H, W)`` float32 arrays (whole images, no tiling)."""
    import torch

    ta = torch.from_numpy(np.ascontiguousarray(a)).to(device)
    tb = torch.from_numpy(np.ascontiguousarray(b)).to(device)
    with torch.no_grad():
        f = (fusion_net(ta, tb) + fusion_net(tb, ta)) * 0.5
    return f.float().cpu().numpy()


def load_pair_weights(model: Any, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's FusionNet (and RecNet, when present) into a pair model.

    Returns
    -------
    dict
        ``{"path", "sha256", "rec_loaded"}`` for the run's provenance.

    Raises
    ------
    WeightsError
        Unreadable file, another architecture, or tensors that do not fit the network.
    """
    from mffgui.errors import WeightsError
    from mffgui.models.fusion2void import split_state_dict
    from mffgui.models.weights import load_checkpoint

    ck = load_checkpoint(path, ARCH)
    fsd, rsd = split_state_dict(ck.state_dict)
    try:
        model.fusion.load_state_dict(fsd, strict=True)
        if rsd:
            model.rec.load_state_dict(rsd, strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"--init weights do not fit this network ({exc})".splitlines()[0], path
        ) from None
    return {"path": str(path), "sha256": ck.sha256, "rec_loaded": bool(rsd)}


class Fusion2VoidTask:
    """Fusion2Void as a :class:`mffgui.training.common.TrainTask`."""

    arch = ARCH
    score_key = "psnr"
    defaults: ClassVar[dict[str, Any]] = TrainDefaults(
        epochs=60, batch_size=4, patch_size=64, lr=1e-3, lr_decay=0.5, lr_step=15, val_count=24
    ).with_options(
        features=32,
        real_fraction=0.5,
        pairs=None,
        mask_block=8,
        drop_ratio=0.7,
        mask_mode="same",
        rec_region="all",
        ssim_weight=0.0,
        fidelity_weight=10.0,
        val_max_pairs=20,
        identity_weight=0.0,
        warmup_steps=0,
        zero_init=False,
    )

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.device: Any = None
        self.train_set: ColourPairs | None = None
        self.val_arrays: tuple[np.ndarray, ...] = ()
        self.real_pairs: list[tuple[str, Path, Path]] = []
        self.obj = Objective()

    def setup(self, config: dict[str, Any], device: Any, log: EventLog) -> None:
        """Read the sharp images and stacks; build the held-out validation pairs."""
        self.config, self.device = config, device
        self.obj = Objective.from_config(config)
        block_masks(np.random.default_rng(0), 1, 8, 8, self.obj)  # validates mask_mode
        if self.obj.rec_region not in ("all", "dropped"):
            raise MffError(f"unknown --rec-region {self.obj.rec_region!r}")
        real_only = float(config["real_fraction"]) >= 1.0 and bool(config.get("pairs"))
        paths = list_images(config["data"]) if config.get("data") and not real_only else []
        train, held = split_holdout(paths, float(config["holdout"]))
        scenes = discover_scenes(config["pairs"]) if config.get("pairs") else []
        patch = int(config["patch_size"])
        self.train_set = ColourPairs(train, scenes, patch, float(config["real_fraction"]))
        if held:
            val_set = ColourPairs(held, [], patch)
            self.val_arrays = val_set.make(
                np.random.default_rng(VALIDATION_SEED),
                int(config["val_count"]),
                PairConfig.plain(),
                with_sharp=True,
            )
        if config.get("val"):
            self.real_pairs = find_real_pairs(config["val"])[: int(config["val_max_pairs"])]
        log.emit(
            "data",
            images=len(paths),
            train_images=len(train),
            held_out_images=len(held),
            scenes=len(scenes),
            val_pairs=len(self.val_arrays[0]) if held else 0,
            real_val_pairs=len(self.real_pairs),
        )

    def build_model(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """FusionNet + RecNet (PyTorch default initialisation, seeded; with ``zero_init``
        every residual block starts as the identity)."""
        from mffgui.models.fusion2void import build_pair_model

        model_args = {"features": int(config["features"])}
        model = build_pair_model(model_args)
        if config.get("zero_init"):
            zero_init_residual(model)
        return model, model_args

    def load_init(self, model: Any, path: str) -> dict[str, Any]:
        """Load FusionNet (and RecNet, when present) weights of a project checkpoint."""
        return load_pair_weights(model, path)

    def batch(self, epoch: int, step: int) -> tuple[Any, ...]:
        """``(a, b, mask_a, mask_b, order, swap, warmup)`` at ``(epoch, step)`` (pure
        function)."""
        import torch

        assert self.train_set is not None
        rng = np.random.default_rng(
            [int(self.config["seed"]) & 0xFFFFFFFF, int(epoch), int(step), 0xF2F]
        )
        a, b = self.train_set.make(rng, int(self.config["batch_size"]))
        ma, mb = block_masks(rng, a.shape[0], a.shape[2], a.shape[3], self.obj)
        flags = rng.random(2) < 0.5
        tensors = tuple(torch.from_numpy(x).to(self.device) for x in (a, b, ma, mb))
        global_step = int(epoch) * int(self.config["steps_per_epoch"]) + int(step)
        warmup = global_step < int(self.config.get("warmup_steps") or 0)
        return (*tensors, bool(flags[0]), bool(flags[1]), warmup)

    def loss(self, model: Any, batch: tuple[Any, ...]) -> dict[str, Any]:
        """:func:`total_loss` on one batch."""
        a, b, ma, mb, order, swap, warmup = batch
        return total_loss(model, a, b, ma, mb, self.obj, order, swap, warmup)

    def validate(self, model: Any) -> dict[str, float]:
        """PSNR of the fused held-out synthetic pairs against their sharp originals (and of
        the plain average as a baseline); with ``--val``, Q^{AB/F} on real pairs."""
        metrics: dict[str, float] = {}
        if self.val_arrays:
            a_all, b_all, sharp = self.val_arrays
            ps, base = [], []
            for i in range(0, len(a_all), 8):
                check_stop()
                f = fuse_arrays(model.fusion, a_all[i : i + 8], b_all[i : i + 8], self.device)
                for k in range(f.shape[0]):
                    ps.append(_psnr(f[k], sharp[i + k]))
                    base.append(_psnr((a_all[i + k] + b_all[i + k]) / 2, sharp[i + k]))
            metrics["psnr"] = float(np.mean(ps))
            metrics["psnr_average_baseline"] = float(np.mean(base))
        if self.real_pairs:
            scores = []
            for _, pa, pb in self.real_pairs:
                check_stop()
                scores.append(self._real_qabf(model.fusion, pa, pb))
            metrics["real_qabf"] = float(np.mean(scores))
        return metrics

    def _real_qabf(self, fusion_net: Any, pa: Path, pb: Path) -> float:
        from mffgui.metrics.common import gray255
        from mffgui.metrics.gradient import qabf

        a, b = read_rgb_float(pa), read_rgb_float(pb)
        if a.ndim == 2:
            a, b = np.repeat(a[:, :, None], 3, 2), np.repeat(b[:, :, None], 3, 2)
        if a.shape != b.shape:
            raise StackMismatch(f"size {a.shape} differs from {b.shape} of {pa.name}", pb)
        f = fuse_arrays(
            fusion_net, a.transpose(2, 0, 1)[None], b.transpose(2, 0, 1)[None], self.device
        )[0].transpose(1, 2, 0)
        return float(qabf([gray255(a), gray255(b)], gray255(np.clip(f, 0, 1))))


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fusion2void`` on the ``python -m mffgui.training`` parser."""
    p = subparsers.add_parser(
        "fusion2void",
        help="train Fusion2Void (unsupervised, inpainting-guided)",
        description="Train Fusion2Void (Lin et al., IEEE TCSVT) without ground truth: the "
        "fused image must let an inpainting network restore dropped blocks of both sources. "
        "Writes an mffgui checkpoint that the app's fusion2void method loads (weights=FILE).",
    )
    add_common_arguments(p)
    add_task_arguments(p)
    p.set_defaults(func=main)
    return p


def add_task_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the Fusion2Void task (defaults in :attr:`Fusion2VoidTask.defaults`)."""
    g = p.add_argument_group("Fusion2Void")
    g.add_argument("--features", type=int, help="feature width F (default 32, the paper's)")
    g.add_argument(
        "--pairs",
        action="append",
        metavar="DIR",
        help="folder of real stacks/pairs, one sub-folder per scene (repeatable); "
        "any two frames of a scene are a training pair",
    )
    g.add_argument(
        "--real-fraction",
        type=float,
        dest="real_fraction",
        help="share of real pairs when --data and --pairs are both given (0.5)",
    )
    g.add_argument(
        "--holdout", type=float, help="fraction of the sharp images held out for validation (0.05)"
    )
    g.add_argument(
        "--mask-block",
        type=int,
        dest="mask_block",
        help="side of the dropped square blocks in pixels (8)",
    )
    g.add_argument(
        "--drop-ratio", type=float, dest="drop_ratio", help="fraction of blocks dropped (0.7)"
    )
    g.add_argument(
        "--mask-mode",
        choices=("same", "independent", "complementary"),
        dest="mask_mode",
        help="drop the same blocks in A and B (default), independent ones, or complementary ones",
    )
    g.add_argument(
        "--rec-region",
        choices=("all", "dropped"),
        dest="rec_region",
        help="pixels the reconstruction loss covers (default all)",
    )
    g.add_argument(
        "--ssim-weight",
        type=float,
        dest="ssim_weight",
        help="weight of (1 - SSIM) of the reconstructions (0)",
    )
    g.add_argument(
        "--fidelity-weight",
        type=float,
        dest="fidelity_weight",
        help="weight of mean(|F-A||F-B|) (10, the authors' value)",
    )
    g.add_argument(
        "--identity-weight",
        type=float,
        dest="identity_weight",
        help="weight of L1(F(A,A),A) + L1(F(B,B),B), fusing an image with itself returns it (0)",
    )
    g.add_argument(
        "--zero-init",
        action="store_const",
        const=True,
        dest="zero_init",
        help="start every residual block as the identity (zero-init residual)",
    )
    g.add_argument(
        "--warmup-steps",
        type=int,
        dest="warmup_steps",
        help="first steps train FusionNet on the identity term only (0)",
    )
    g.add_argument(
        "--val-max-pairs",
        type=int,
        dest="val_max_pairs",
        help="at most this many real pairs from --val (20)",
    )


FINE_TUNE_DEFAULTS: dict[str, Any] = {"lr": 1e-4, "identity_weight": 1.0}
"""Defaults that change when ``--init`` starts from trained weights (and the run is new): a
tenth of the learning rate, and the identity term on, so the first steps of a RecNet that
adapts to new pairs cannot undo what FusionNet has learnt. Options given explicitly win."""


def main(args: argparse.Namespace) -> int:
    """Run the ``fusion2void`` sub-command."""
    if args.init and not args.resume:
        for key, value in FINE_TUNE_DEFAULTS.items():
            if getattr(args, key, None) is None:
                setattr(args, key, value)
    if args.pairs and not args.data:
        # Real pairs only (common.resolve_config requires --data; setup ignores it here).
        args.data = list(args.pairs)
        args.real_fraction = 1.0
    return run_training(Fusion2VoidTask(), args)
