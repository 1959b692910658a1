"""Does the Fusion2Void inpainting objective reward an all-in-focus fused image?

Synthetic pairs are made from sharp noise textures: A is sharp in the left half and Gaussian
blurred in the right half, B the reverse. RecNet (the inpainting network) is fitted from the same
initialisation, with the same mask and texture sequence, three times: with the fused input equal
to the all-in-focus original, to A, and to B. Every step draws new textures (``--fixed`` reuses
one texture, which RecNet can memorise instead of reading the fused input); the loss is reported
on a fixed held-out batch. The table prints the reconstruction loss (the trainer's
:func:`mffgui.training.fusion2void.reconstruction_loss`, on a fixed evaluation mask) every
``--every`` steps. If the objective rewards all-in-focus fusion, the ``all-in-focus`` row must
end lowest. Run it with different ``--mask-block``, ``--drop-ratio``, ``--rec-region``,
``--mask-mode`` and ``--ssim-weight`` to compare the objective's variants.

Usage::

    python benchmarks/bench_fusion2void_objective.py --steps 300
    python benchmarks/bench_fusion2void_objective.py --rec-region all --steps 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    """Print one row per fused input with the loss trajectory."""
    import cv2
    import torch

    from mffgui.models.fusion2void import build_recnet
    from mffgui.training.fusion2void import (
        Objective,
        block_masks,
        reconstruction_loss,
        zero_init_residual,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=24)
    ap.add_argument("--sigma", type=float, default=2.0, help="defocus blur sigma")
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--mask-block", type=int, default=4)
    ap.add_argument("--drop-ratio", type=float, default=0.5)
    ap.add_argument("--mask-mode", default="same")
    ap.add_argument("--rec-region", default="dropped")
    ap.add_argument("--ssim-weight", type=float, default=0.0)
    ap.add_argument(
        "--zero-init",
        action="store_true",
        help="start RecNet's residual blocks as the identity (the trainer's --zero-init)",
    )
    ap.add_argument(
        "--fixed",
        action="store_true",
        help="fit on one fixed texture (the first version of this check)",
    )
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    s = args.size
    m = np.zeros((1, s, s, 1), np.float32)
    m[:, :, : s // 2] = 1.0

    def make(rng: np.random.Generator, n: int) -> dict[str, torch.Tensor]:
        tex = rng.random((n, s, s, 3)).astype(np.float32)
        blur = np.stack([cv2.GaussianBlur(x, (0, 0), args.sigma) for x in tex])
        arrays = {"all-in-focus": tex, "A": m * tex + (1 - m) * blur, "B": (1 - m) * tex + m * blur}
        return {k: torch.from_numpy(v.transpose(0, 3, 1, 2).copy()) for k, v in arrays.items()}

    fixed = make(np.random.default_rng(0), 1)
    fixed = {k: v.repeat(args.batch, 1, 1, 1) for k, v in fixed.items()}
    held_out = fixed if args.fixed else make(np.random.default_rng(123), 8)
    obj = Objective(
        args.mask_block, args.drop_ratio, args.mask_mode, args.rec_region, args.ssim_weight, 0.0
    )
    rows = {}
    t0 = time.perf_counter()
    for name in ("all-in-focus", "A", "B"):
        torch.manual_seed(0)
        net = build_recnet({"features": args.features})
        if args.zero_init:
            zero_init_residual(net)
        opt = torch.optim.Adam(net.parameters(), args.lr)
        rng = np.random.default_rng(1)
        traj = []
        for step in range(1, args.steps + 1):
            d = fixed if args.fixed else make(rng, args.batch)
            ma, mb = block_masks(rng, args.batch, s, s, obj)
            loss = reconstruction_loss(
                net, d["A"], d["B"], d[name], torch.from_numpy(ma), torch.from_numpy(mb), obj
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % args.every == 0:
                n_ev = held_out["A"].shape[0]
                ma, mb = block_masks(np.random.default_rng(99), n_ev, s, s, obj)
                with torch.no_grad():
                    traj.append(
                        float(
                            reconstruction_loss(
                                net,
                                held_out["A"],
                                held_out["B"],
                                held_out[name],
                                torch.from_numpy(ma),
                                torch.from_numpy(mb),
                                obj,
                            )
                        )
                    )
        rows[name] = traj
    data = "one fixed texture" if args.fixed else "new textures every step"
    print(
        f"objective: {obj}; {args.size}px, sigma {args.sigma}, F={args.features}, "
        f"lr {args.lr}, batch {args.batch}, {data}"
        f"{', zero-init' if args.zero_init else ''}; {time.perf_counter() - t0:.0f} s"
    )
    print()
    steps = [args.every * (i + 1) for i in range(len(next(iter(rows.values()))))]
    print("| fused input | " + " | ".join(f"step {k}" for k in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for name, traj in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in traj) + " |")
    best = min(rows, key=lambda k: rows[k][-1])
    print()
    print(f"lowest final loss: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
