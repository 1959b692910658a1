"""Fusion2Void's GPU recipe: ``python -m mffgui.training fusion2void-gpu``.

A time-budgeted run sized for one datacenter GPU (default 8 minutes) at the paper's width
F = 32, in two stages:

1. **Supervised warm start** (the project's part, ``--warm-fraction`` of the budget): FusionNet
   learns what fusion is on synthetic pairs whose sharp original is known, with
   ``L1(F, S) + --grad-weight · L1(∇F, ∇S)``.
2. **Fusion2Void objective** (the paper's part): FusionNet and RecNet trained jointly through
   the inpainting task of :mod:`mffgui.training.fusion2void` (block-masked sources restored from the
   fused image; the authors' fidelity term ``mean(|F − A||F − B|)``), plus the project's
   identity term and, with ``--anchor-weight`` > 0, the supervised loss kept as an anchor.
   With ``--pairs DIR`` real unlabelled pairs (any two frames of a scene) join the batches of
   this stage; they carry no supervised term.

Speed: pairs are synthesised on the device (:mod:`mffgui.training.gpu_pairs`), convolutions run in
bfloat16 autocast (CUDA) with channels-last tensors and cuDNN autotuning; the weights and the
optimiser stay float32. The learning rate follows a cosine schedule over each stage's share of
the time budget. Checkpoints (``--out``) are written every ``--checkpoint-s`` seconds and at the
end of each stage, and ``--resume`` continues a stopped run (elapsed time, stage, optimiser and
generator states restored). The best held-out synthetic PSNR goes to ``<out>.best.pt``, an
app-loadable checkpoint with both networks (so it can be fine-tuned with ``--init``).

The same command runs on the CPU (``--device cpu``) for smoke tests; it is not meant for
training there (use ``python -m mffgui.training fusion2void``).
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mffgui.errors import MffError
from mffgui.training.common import EventLog, StopSignal, nonfinite_tensors
from mffgui.training.datasets import VALIDATION_SEED, list_images, split_holdout

ARCH = "fusion2void"
STAGES = ("warm", "f2v")


def grad_l1(x: Any, y: Any) -> Any:
    """Mean absolute difference of horizontal and vertical finite differences."""
    dxx, dxy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    dyx, dyy = y[..., :, 1:] - y[..., :, :-1], y[..., 1:, :] - y[..., :-1, :]
    return (dxx - dyx).abs().mean() + (dxy - dyy).abs().mean()


def supervised_loss(fused: Any, sharp: Any, grad_weight: float) -> Any:
    """``L1(F, S) + grad_weight · grad_l1(F, S)`` in float32."""
    fused, sharp = fused.float(), sharp.float()
    return (fused - sharp).abs().mean() + grad_weight * grad_l1(fused, sharp)


def block_keep_masks(gen: Any, n: int, size: int, block: int, drop: float, device: Any) -> Any:
    """Keep-masks ``(n, 1, size, size)`` (1 = visible) dropping ``drop`` of the square blocks
    (the same blocks in A and B, the authors' default)."""
    import torch

    g = math.ceil(size / block)
    m = (torch.rand(n, 1, g, g, generator=gen, device=device) >= drop).float()
    return m.repeat_interleave(block, 2).repeat_interleave(block, 3)[:, :, :size, :size]


def cosine_lr(base: float, progress: float, floor: float = 0.05) -> float:
    """Cosine decay from ``base`` to ``floor · base`` as ``progress`` goes 0 → 1."""
    p = min(max(progress, 0.0), 1.0)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def psnr_t(x: Any, y: Any) -> Any:
    """Per-sample PSNR in dB of ``(N, C, H, W)`` tensors in [0, 1]."""
    mse = ((x.float() - y.float()) ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return 10 * (1.0 / mse).log10()


class Recipe:
    """State of one run: networks, optimiser, data, clocks.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_parser`.
    log : EventLog
    """

    def __init__(self, args: argparse.Namespace, log: EventLog) -> None:
        import torch

        from mffgui.models.device import pick_device
        from mffgui.models.fusion2void import build_pair_model
        from mffgui.training.fusion2void import Objective, discover_scenes, zero_init_residual
        from mffgui.training.gpu_pairs import DevicePairs

        self.args, self.log = args, log
        self.device = pick_device(args.device)
        if args.threads:
            torch.set_num_threads(int(args.threads))
        torch.manual_seed(int(args.seed))
        cuda = self.device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.amp = cuda and not args.no_amp
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        paths = list_images(args.data)
        train, held = split_holdout(paths, float(args.holdout))
        self.pairs = DevicePairs.from_files(train, args.patch_size, self.device)
        self.val = DevicePairs.from_files(held, args.patch_size, self.device) if held else None
        self.scenes = discover_scenes(args.pairs) if args.pairs else []
        self.real = self._load_real(self.scenes) if self.scenes else []
        self.model_args = {"features": int(args.features)}
        self.model = build_pair_model(self.model_args)
        self.init_info: dict[str, Any] | None = None
        if args.init:
            self._load_init(args.init)
        elif args.zero_init:
            zero_init_residual(self.model)
        self.model.to(self.device, memory_format=self.memory_format)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        self.obj = Objective(identity_weight=float(args.identity_weight))
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(int(args.seed))
        self.cpu_gen = torch.Generator()
        self.cpu_gen.manual_seed(int(args.seed) + 1)
        self.state: dict[str, Any] = {
            "stage": 0,
            "elapsed_s": 0.0,
            "step": 0,
            "stage_steps": [0, 0],
            "history": [],
            "best": None,
        }
        if args.resume:
            self._resume(Path(args.out))
        self._val_cache: tuple[Any, Any, Any] | None = None
        log.emit(
            "data",
            images=len(paths),
            train_images=len(train),
            held_out_images=len(held),
            scenes=len(self.scenes),
            device=str(self.device),
            amp=self.amp,
        )

    # -- data ----------------------------------------------------------------------------------

    def _load_real(self, scenes: list[list[Path]]) -> list[Any]:
        """Each scene's frames as one ``(F, 3, H, W)`` uint8 tensor on the device (scenes
        smaller than a patch, or with frames of different sizes, are left out)."""
        import torch

        from mffgui.training.datasets import read_rgb_u8

        out = []
        for sc in scenes:
            ims = [read_rgb_u8(p).transpose(2, 0, 1) for p in sc]
            if min(ims[0].shape[1:]) >= self.args.patch_size and all(
                im.shape == ims[0].shape for im in ims
            ):
                out.append(torch.from_numpy(np.stack(ims)).to(self.device))
        return out

    def _real_batch(self, n: int) -> tuple[Any, Any]:
        import torch

        p = self.args.patch_size
        a, b = [], []
        for _ in range(n):
            g = self.cpu_gen
            sc = self.real[int(torch.randint(len(self.real), (1,), generator=g))]
            i, j = torch.randperm(sc.shape[0], generator=g)[:2].tolist()
            h, w = sc.shape[2:]
            y = int(torch.randint(h - p + 1, (1,), generator=g))
            x = int(torch.randint(w - p + 1, (1,), generator=g))
            a.append(sc[i, :, y : y + p, x : x + p])
            b.append(sc[j, :, y : y + p, x : x + p])
        return torch.stack(a).float() / 255, torch.stack(b).float() / 255

    def _cl(self, *ts: Any) -> tuple[Any, ...]:
        return tuple(t.contiguous(memory_format=self.memory_format) for t in ts)

    # -- checkpoints ---------------------------------------------------------------------------

    def _load_init(self, path: str) -> None:
        from mffgui.training.common import resolve_init
        from mffgui.training.fusion2void import load_pair_weights

        self.init_info = load_pair_weights(self.model, resolve_init(ARCH, path))

    def _resume(self, out: Path) -> None:
        import torch

        if not out.is_file():
            raise MffError("--resume: no checkpoint to resume from", out)
        obj = torch.load(out, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or obj.get("recipe") != "fusion2void-gpu":
            raise MffError("not a fusion2void-gpu run checkpoint", out)
        self.model.load_state_dict(obj["model"], strict=True)
        self.opt.load_state_dict(obj["optimizer"])
        self.state.update(obj["recipe_state"])
        if obj.get("gen_state") is not None and self.device.type == obj.get("gen_device"):
            self.gen.set_state(obj["gen_state"])
        if obj.get("cpu_gen_state") is not None:
            self.cpu_gen.set_state(obj["cpu_gen_state"])
        self.log.emit("resume", **{k: self.state[k] for k in ("stage", "elapsed_s", "step")})

    def _meta(self) -> dict[str, Any]:
        import datetime as _dt

        argv = getattr(self.args, "argv", None) or sys.argv[1:]
        return {
            "name": "fusion2void trained with the mffgui GPU recipe",
            "trained_by": "python -m mffgui.training fusion2void-gpu",
            "command": shlex.join(["python", "-m", "mffgui.training", *argv]),
            "data": [str(d) for d in self.args.data],
            "pairs": [str(d) for d in (self.args.pairs or [])],
            "init": self.init_info,
            "global_step": self.state["step"],
            "stage_steps": self.state["stage_steps"],
            "wall_time_s": round(self.state["elapsed_s"], 1),
            "device": str(self.device),
            "validation": self.state["history"][-1] if self.state["history"] else {},
            "best": self.state["best"],
            "seed": self.args.seed,
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    def _cpu_sd(self) -> dict[str, Any]:
        return {k: v.detach().to("cpu").clone() for k, v in self.model.state_dict().items()}

    def save(self, reason: str) -> None:
        """Write the resumable run checkpoint ``--out`` (atomic)."""
        from mffgui.models.weights import save_checkpoint

        bad = nonfinite_tensors(self.model.state_dict().items())
        if bad:
            raise MffError(f"non-finite weights ({', '.join(bad[:3])}); checkpoint not written")
        save_checkpoint(
            self.args.out,
            ARCH,
            self._cpu_sd(),
            self.model_args,
            self._meta(),
            recipe="fusion2void-gpu",
            optimizer=self.opt.state_dict(),
            recipe_state=self.state,
            gen_state=self.gen.get_state(),
            cpu_gen_state=self.cpu_gen.get_state(),
            gen_device=self.device.type,
        )
        self.log.emit(
            "checkpoint",
            path=str(self.args.out),
            reason=reason,
            step=self.state["step"],
            elapsed_s=round(self.state["elapsed_s"], 1),
        )

    def save_weights(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        """Write an app-loadable weights file (both networks, no optimiser)."""
        from mffgui.models.weights import save_checkpoint

        meta = self._meta()
        meta.update(extra or {})
        save_checkpoint(path, ARCH, self._cpu_sd(), self.model_args, meta)

    # -- training ------------------------------------------------------------------------------

    def validate(self) -> dict[str, float]:
        """Mean PSNR of the symmetric fusion of held-out synthetic pairs vs their originals."""
        import torch

        if self.val is None:
            return {}
        if self._val_cache is None:
            g = torch.Generator(device=self.device)
            g.manual_seed(VALIDATION_SEED)
            gc = torch.Generator()
            gc.manual_seed(VALIDATION_SEED)
            self._val_cache = self.val.batch(g, gc, int(self.args.val_count), plain=True)
        a, b, s = self._val_cache
        net = self.model.fusion
        net.eval()
        ps, base = [], []
        with torch.no_grad():
            for i in range(0, a.shape[0], 16):
                ta, tb = self._cl(a[i : i + 16], b[i : i + 16])
                f = 0.5 * (net(ta, tb).float() + net(tb, ta).float())
                ps.append(psnr_t(f, s[i : i + 16]))
                base.append(psnr_t(0.5 * (a[i : i + 16] + b[i : i + 16]), s[i : i + 16]))
        net.train()
        return {
            "psnr": float(torch.cat(ps).mean()),
            "psnr_average_baseline": float(torch.cat(base).mean()),
        }

    def step(self, stage: str, progress: float) -> dict[str, Any]:
        """One optimiser step of ``stage`` at time ``progress`` (0–1) of that stage."""
        import torch

        from mffgui.training.fusion2void import fidelity_loss, identity_loss, reconstruction_loss

        args = self.args
        for group in self.opt.param_groups:
            group["lr"] = cosine_lr(args.lr if stage == "warm" else args.lr2, progress)
        n = int(args.batch_size)
        a, b, sharp = self.pairs.batch(self.gen, self.cpu_gen, n)
        order = bool(torch.rand(1, generator=self.cpu_gen) < 0.5)
        terms: dict[str, Any] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            if stage == "warm":
                ta, tb = self._cl(a, b)
                fused = self.model.fusion(tb, ta) if order else self.model.fusion(ta, tb)
                loss = terms["sup"] = supervised_loss(fused, sharp, args.grad_weight)
            else:
                n_real = round(n * args.real_fraction) if self.real else 0
                if n_real:
                    ra, rb = self._real_batch(n_real)
                    a_all, b_all = torch.cat([a, ra]), torch.cat([b, rb])
                else:
                    a_all, b_all = a, b
                ta, tb = self._cl(a_all, b_all)
                fused = self.model.fusion(tb, ta) if order else self.model.fusion(ta, tb)
                size = a_all.shape[-1]
                ma = block_keep_masks(
                    self.gen,
                    a_all.shape[0],
                    size,
                    self.obj.mask_block,
                    self.obj.drop_ratio,
                    self.device,
                )
                swap = bool(torch.rand(1, generator=self.cpu_gen) < 0.5)
                rec = reconstruction_loss(self.model.rec, ta, tb, fused, ma, ma, self.obj, swap)
                fid = fidelity_loss(fused.float(), ta.float(), tb.float())
                loss = rec.float() + self.obj.fidelity_weight * fid
                terms.update(rec=rec, fidelity=fid)
                if self.obj.identity_weight > 0:
                    ident = identity_loss(self.model.fusion, ta[:n], tb[:n]).float()
                    loss = loss + self.obj.identity_weight * ident
                    terms["identity"] = ident
                if args.anchor_weight > 0:
                    sup = supervised_loss(fused[:n], sharp, args.grad_weight)
                    loss = loss + args.anchor_weight * sup
                    terms["sup"] = sup
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        terms["loss"] = loss
        # Tensors, not floats: reading a value would wait for the GPU every step. They are
        # read (and checked for divergence) every --log-every steps.
        return {k: v.detach() for k, v in terms.items()}

    def run(self) -> int:
        """Train until the budget is spent (or a stop is requested); returns 0."""
        import torch

        args = self.args
        budget = float(args.minutes) * 60
        bounds = (budget * float(args.warm_fraction), budget)
        stop = StopSignal()
        t0 = time.monotonic() - self.state["elapsed_s"]
        last_ck = last_val = time.monotonic()
        best_file = Path(args.out).with_name(f"{Path(args.out).stem}.best.pt")
        self.log.emit(
            "start",
            device=str(self.device),
            budget_s=budget,
            amp=self.amp,
            features=args.features,
            batch_size=args.batch_size,
            patch_size=args.patch_size,
            resumed=bool(args.resume),
        )
        window: list[dict[str, Any]] = []
        t_win = time.monotonic()

        def evaluate(reason: str) -> None:
            nonlocal last_val
            metrics = self.validate()
            rec = {
                "step": self.state["step"],
                "stage": STAGES[self.state["stage"]],
                "elapsed_s": round(self.state["elapsed_s"], 1),
                **metrics,
            }
            self.state["history"].append(rec)
            self.log.emit("validate", reason=reason, **rec)
            if metrics and (
                self.state["best"] is None or metrics["psnr"] > self.state["best"]["psnr"]
            ):
                self.state["best"] = rec
                self.save_weights(best_file)
                self.log.emit("best", path=str(best_file), **rec)
            if reason == "stage-end":
                stage_file = Path(args.out).with_name(
                    f"{Path(args.out).stem}.{STAGES[self.state['stage']]}.pt"
                )
                self.save_weights(stage_file)
            last_val = time.monotonic()

        with stop.installed(watch_stdin=False):
            while self.state["stage"] < len(STAGES):
                stage = STAGES[self.state["stage"]]
                lo = 0.0 if stage == "warm" else bounds[0]
                hi = bounds[0] if stage == "warm" else bounds[1]
                while True:
                    self.state["elapsed_s"] = time.monotonic() - t0
                    el = self.state["elapsed_s"]
                    if el >= hi or hi <= lo:
                        break
                    if stop.requested:
                        self.save(stop.reason or "stop")
                        self.log.emit("stopped", reason=stop.reason, step=self.state["step"])
                        return 0
                    terms = self.step(stage, (el - lo) / (hi - lo))
                    self.state["step"] += 1
                    self.state["stage_steps"][self.state["stage"]] += 1
                    window.append(terms)
                    if self.state["step"] % int(args.log_every) == 0:
                        means = {
                            k: round(
                                float(torch.stack([w[k] for w in window if k in w]).float().mean()),
                                5,
                            )
                            for k in window[-1]
                        }
                        now = time.monotonic()
                        if not all(math.isfinite(v) for v in means.values()):
                            raise MffError(
                                f"training diverged in stage {stage} before step "
                                f"{self.state['step']} ({means}); the last checkpoint "
                                f"{args.out} is kept (it is only written with finite weights)"
                            )
                        self.log.emit(
                            "step",
                            stage=stage,
                            step=self.state["step"],
                            elapsed_s=round(el, 1),
                            s_per_step=round((now - t_win) / len(window), 4),
                            lr=self.opt.param_groups[0]["lr"],
                            **means,
                        )
                        window, t_win = [], now
                    if time.monotonic() - last_val >= float(args.val_every_s):
                        evaluate("periodic")
                    if time.monotonic() - last_ck >= float(args.checkpoint_s):
                        self.save("periodic")
                        last_ck = time.monotonic()
                evaluate("stage-end")
                self.state["stage"] += 1
                self.save("stage-end")
        peak = (
            torch.cuda.max_memory_allocated(self.device) / 2**20
            if self.device.type == "cuda"
            else None
        )
        self.log.emit(
            "done",
            steps=self.state["step"],
            stage_steps=self.state["stage_steps"],
            wall_time_s=round(self.state["elapsed_s"], 1),
            best=self.state["best"],
            peak_gpu_mib=None if peak is None else round(peak),
        )
        return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fusion2void-gpu`` on the ``python -m mffgui.training`` parser."""
    p = subparsers.add_parser(
        "fusion2void-gpu",
        help="Fusion2Void at F=32 on a GPU in a time budget "
        "(supervised warm start, then the Fusion2Void objective)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="DIR",
        help="folder of sharp images (repeatable; searched recursively)",
    )
    p.add_argument(
        "--pairs",
        action="append",
        metavar="DIR",
        help="folder of real stacks/pairs for the Fusion2Void stage (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="resumable run checkpoint")
    p.add_argument(
        "--init", metavar="FILE", help="start from these weights ('bundled': the project's)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--minutes", type=float, default=8.0, help="time budget (8)")
    p.add_argument(
        "--warm-fraction",
        type=float,
        default=0.6,
        dest="warm_fraction",
        help="share of the budget for the supervised warm start (0.6)",
    )
    p.add_argument("--features", type=int, default=32, help="feature width F (32, the paper's)")
    p.add_argument("--batch-size", type=int, default=32, dest="batch_size")
    p.add_argument("--patch-size", type=int, default=128, dest="patch_size")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate, warm start")
    p.add_argument("--lr2", type=float, default=3e-4, help="peak learning rate, stage 2")
    p.add_argument(
        "--grad-weight",
        type=float,
        default=1.0,
        dest="grad_weight",
        help="weight of the gradient L1 in the supervised loss (1)",
    )
    p.add_argument(
        "--anchor-weight",
        type=float,
        default=1.0,
        dest="anchor_weight",
        help="supervised loss kept in stage 2 with this weight (1; 0 = paper only)",
    )
    p.add_argument("--identity-weight", type=float, default=1.0, dest="identity_weight")
    p.add_argument(
        "--real-fraction",
        type=float,
        default=0.25,
        dest="real_fraction",
        help="real pairs added per synthetic pair in stage 2 (with --pairs)",
    )
    p.add_argument(
        "--zero-init",
        action="store_true",
        dest="zero_init",
        help="start residual blocks as the identity",
    )
    p.add_argument("--holdout", type=float, default=0.05)
    p.add_argument("--val-count", type=int, default=64, dest="val_count")
    p.add_argument("--val-every-s", type=float, default=60.0, dest="val_every_s")
    p.add_argument("--checkpoint-s", type=float, default=60.0, dest="checkpoint_s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--no-amp",
        action="store_true",
        dest="no_amp",
        help="float32 everywhere (bfloat16 autocast is used on CUDA by default)",
    )
    p.add_argument("--log-every", type=int, default=50, dest="log_every")
    p.add_argument("--jsonl", action="store_true")
    p.set_defaults(func=main)
    return p


def main(args: argparse.Namespace) -> int:
    """Run the ``fusion2void-gpu`` sub-command."""
    log = EventLog(bool(args.jsonl))
    return Recipe(args, log).run()
