"""Synthetic multi-focus colour pairs made on the training device (GPU or CPU) in batches.

The CPU pair generator of :mod:`mffgui.training.datasets` builds one pair at a time in NumPy/OpenCV;
on a GPU that loop, not the network, would set the pace. This module makes a whole batch with
tensor operations on the device: random crops of sharp images held on the device as uint8,
random focus regions (thresholded smooth random fields and half-planes), per-sample Gaussian
defocus with independent strengths for the two sources (a grouped separable convolution), the
near layer's blur bleeding over the boundary, noise and input-order swaps — the ranges of
:class:`mffgui.training.datasets.PairConfig`.

Every batch is a pure function of the two generators passed in (one on the device for pixel
randomness, one on the CPU for choices that steer Python code: which image, where to crop), so
a run seeded the same way makes the same pairs. Nothing reads a value back from the device, so
batch synthesis never waits for the GPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mffgui.training.datasets import PairConfig

SIGMA_MAX = 4.0
"""Largest defocus σ the blur kernels are sized for (PairConfig's default upper bound)."""


def gaussian_kernels(sigma: Any, radius: int) -> Any:
    """Normalised 1-D Gaussian kernels, one per sample.

    Parameters
    ----------
    sigma : Tensor, (N,) float32
    radius : int

    Returns
    -------
    Tensor, (N, 2 * radius + 1) float32
    """
    import torch

    x = torch.arange(-radius, radius + 1, device=sigma.device, dtype=torch.float32)
    k = torch.exp(-(x[None, :] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    return k / k.sum(dim=1, keepdim=True)


def blur_batch(x: Any, sigma: Any, radius: int | None = None) -> Any:
    """Blur every sample of ``x`` with its own Gaussian σ (reflect borders).

    Parameters
    ----------
    x : Tensor, (N, C, H, W) float32
    sigma : Tensor, (N,) float32
        σ in pixels per sample (0 leaves the sample unchanged up to rounding).
    radius : int, optional
        Kernel radius; default ``ceil(3 · max σ)``.

    Returns
    -------
    Tensor, (N, C, H, W) float32
    """
    import torch.nn.functional as F

    n, c, h, w = x.shape
    if radius is None:
        radius = max(1, math.ceil(3 * float(sigma.max())))
    k = gaussian_kernels(sigma, radius).repeat_interleave(c, dim=0)  # (N*C, K)
    flat = x.reshape(1, n * c, h, w)
    flat = F.pad(flat, (radius, radius, 0, 0), mode="reflect")
    flat = F.conv2d(flat, k[:, None, None, :], groups=n * c)
    flat = F.pad(flat, (0, 0, radius, radius), mode="reflect")
    flat = F.conv2d(flat, k[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def random_masks(gen: Any, n: int, size: int, device: Any, cpu_gen: Any = None) -> Any:
    """Binary focus regions covering 15–85 % of each ``size × size`` patch.

    Half are thresholded smooth random fields (blobs of varied scale), half half-planes at a
    random angle bent by a smooth field (curved boundaries).

    Parameters
    ----------
    gen : torch.Generator
        On ``device``.
    n, size : int
    device : torch.device
    cpu_gen : torch.Generator, optional
        CPU generator for the region scale (default: a draw from ``gen``, which waits for the
        device).

    Returns
    -------
    Tensor, (n, 1, size, size) float32 of 0/1
    """
    import torch
    import torch.nn.functional as F

    def rand(*shape: int) -> Any:
        return torch.rand(*shape, generator=gen, device=device)

    u = torch.rand(1, generator=cpu_gen) if cpu_gen is not None else rand(1).cpu()
    coarse = int(u.item() * 6) + 2  # 2..7 cells per side: region scale
    field = torch.randn(n, 1, coarse, coarse, generator=gen, device=device)
    field = F.interpolate(field, size=(size, size), mode="bicubic", align_corners=False)
    yy, xx = torch.meshgrid(
        torch.linspace(-1, 1, size, device=device),
        torch.linspace(-1, 1, size, device=device),
        indexing="ij",
    )
    theta = rand(n) * (2 * math.pi)
    plane = (torch.cos(theta)[:, None, None] * xx + torch.sin(theta)[:, None, None] * yy)[:, None]
    plane = plane + 0.3 * field
    use_plane = (rand(n) < 0.5)[:, None, None, None]
    f = torch.where(use_plane, plane, field)
    frac = 0.15 + 0.7 * rand(n)  # covered share
    flat = f.reshape(n, -1).sort(dim=1).values
    k = ((1 - frac) * (flat.shape[1] - 1)).long()
    thr = flat.gather(1, k[:, None])[:, 0]
    return (f > thr[:, None, None, None]).float()


class DevicePairs:
    """Sharp images on the device and a batch synthesiser.

    Parameters
    ----------
    images : sequence of ndarray
        ``(H, W, 3)`` uint8 sharp images (gray ones replicated), each at least ``patch`` on its
        shorter side after an upscale that :meth:`from_files` applies.
    patch : int
        Side of the square training patches.
    device : torch.device
    cfg : PairConfig
    """

    def __init__(
        self, images: Sequence[np.ndarray], patch: int, device: Any, cfg: PairConfig | None = None
    ) -> None:
        import torch

        if not images:
            raise ValueError("no sharp images")
        self.patch = int(patch)
        self.device = device
        self.cfg = cfg or PairConfig()
        self.images = [
            torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).to(device)
            for im in images
        ]

    @classmethod
    def from_files(
        cls, paths: Sequence[Path], patch: int, device: Any, cfg: PairConfig | None = None
    ) -> DevicePairs:
        """Read sharp images (:func:`mffgui.training.datasets.read_rgb_u8`), upscaling any whose
        shorter side is below ``patch``."""
        import cv2

        from mffgui.training.datasets import read_rgb_u8

        ims = []
        for p in paths:
            img = read_rgb_u8(p)
            h, w = img.shape[:2]
            if min(h, w) < patch:
                s = patch / min(h, w)
                img = cv2.resize(
                    img,
                    (max(patch, round(w * s)), max(patch, round(h * s))),
                    interpolation=cv2.INTER_CUBIC,
                )
            ims.append(img)
        return cls(ims, patch, device, cfg)

    def crops(self, cpu_gen: Any, n: int) -> Any:
        """``n`` random crops, rotated by multiples of 90° and flipped: ``(n, 3, P, P)``."""
        import torch

        p = self.patch
        idx = torch.randint(len(self.images), (n,), generator=cpu_gen).tolist()
        u = torch.rand(n, 4, generator=cpu_gen).tolist()
        out = []
        for i, (uy, ux, ur, uf) in zip(idx, u, strict=True):
            im = self.images[i]
            h, w = im.shape[1:]
            y, x = int(uy * (h - p + 1)), int(ux * (w - p + 1))
            c = im[:, y : y + p, x : x + p]
            c = torch.rot90(c, int(ur * 4), dims=(1, 2))
            if uf < 0.5:
                c = c.flip(2)
            out.append(c)
        return torch.stack(out).float().div_(255.0)

    def batch(self, gen: Any, cpu_gen: Any, n: int, plain: bool = False) -> tuple[Any, Any, Any]:
        """A batch of pairs and their sharp originals.

        Parameters
        ----------
        gen : torch.Generator
            On ``self.device``.
        cpu_gen : torch.Generator
            On the CPU.
        n : int
        plain : bool
            No noise and no offsets (clean validation pairs).

        Returns
        -------
        a, b, sharp : Tensor, (n, 3, P, P) float32 in [0, 1]
        """
        import torch

        cfg, dev = self.cfg, self.device

        def rand(*shape: int) -> Any:
            return torch.rand(*shape, generator=gen, device=dev)

        sharp = self.crops(cpu_gen, n)
        m = random_masks(gen, n, self.patch, dev, cpu_gen)
        lo, hi = cfg.blur_sigma
        sig = lo + (min(hi, SIGMA_MAX) - lo) * rand(2, n)
        radius = math.ceil(3 * SIGMA_MAX)
        blur_a = blur_batch(sharp, sig[0], radius)
        blur_b = blur_batch(sharp, sig[1], radius)
        soft = blur_batch(m, torch.maximum(sig[0], sig[1]), radius)
        bleed = (rand(n) < cfg.bleed)[:, None, None, None]
        sm = torch.where(bleed, soft, m)
        near_a = (rand(n) < 0.5)[:, None, None, None]  # which source's blur bleeds
        ma = torch.where(near_a, m, sm)
        mb = torch.where(near_a, sm, m)
        a = ma * sharp + (1 - ma) * blur_a
        b = (1 - mb) * sharp + mb * blur_b
        if not plain:
            if cfg.offset_max > 0:
                shift = (torch.rand(n, generator=cpu_gen) < cfg.offset_p).tolist()
                d = torch.randint(
                    -cfg.offset_max, cfg.offset_max + 1, (n, 2), generator=cpu_gen
                ).tolist()
                which = (torch.rand(n, generator=cpu_gen) < 0.5).tolist()
                for k in range(n):
                    if shift[k]:
                        if which[k]:
                            a[k] = torch.roll(a[k], shifts=(d[k][0], d[k][1]), dims=(1, 2))
                        else:
                            b[k] = torch.roll(b[k], shifts=(d[k][0], d[k][1]), dims=(1, 2))
            noisy = (rand(n) < cfg.noise_p)[:, None, None, None]
            std = cfg.noise_std[0] + (cfg.noise_std[1] - cfg.noise_std[0]) * rand(n)
            std = std[:, None, None, None] * noisy
            a = a + std * torch.randn(a.shape, generator=gen, device=dev)
            b = b + std * torch.randn(b.shape, generator=gen, device=dev)
        swap = (rand(n) < cfg.swap_p)[:, None, None, None]
        a, b = torch.where(swap, b, a), torch.where(swap, a, b)
        return a.clamp_(0, 1), b.clamp_(0, 1), sharp
