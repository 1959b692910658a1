"""Losses of the GACN paper: Dice loss on the decision map + (1 − soft Q^{AB/F}) on the fused image.

The soft Q^{AB/F} is a differentiable torch port of the gradient-based metric of Xydeas and
Petrović (Electronics Letters 36 (4), 2000) with the constants of the corrected
``metricXydeas.m`` (Liu et al. 2020 survey; :func:`mffgui.metrics.gradient.qabf`):

* Sobel gradients (3×3 correlation, zero padding) give strength ``g`` and orientation
  ``α = atan(g_y / g_x)`` of each image;
* the relative strength ``G = min(g_s, g_f) / max(g_s, g_f)`` and orientation agreement
  ``A = 1 − |α_s − α_f| · 2/π`` pass through the metric's smooth sigmoids;
* the edge-preservation maps are averaged with the source strengths as weights.

The only departures from the metric are tiny ``eps`` guards so that gradients stay finite
where a gradient strength is zero (the metric adds ``1e-5`` there instead).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Sigmoid constants of the corrected metricXydeas.m (same as mffgui.metrics.gradient).
TG, KG, DG = 0.9994, -15.0, 0.5
TA, KA, DA = 0.9879, -22.0, 0.8
_EPS = 1e-8


def dice_loss(pred: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss ``1 − (2 Σ p t + s) / (Σ p² + Σ t² + s)`` per sample, averaged.

    Parameters
    ----------
    pred : Tensor, (B, 1, H, W)
        Predicted decision map in ``[0, 1]``.
    target : Tensor, (B, 1, H, W)
        Binary ground truth.
    smooth : float
        Additive smoothing (the paper's code uses 1).

    Returns
    -------
    Tensor, scalar
    """
    dims = tuple(range(1, pred.dim()))
    inter = (pred * target).sum(dims)
    denom = (pred * pred).sum(dims) + (target * target).sum(dims)
    return (1.0 - (2.0 * inter + smooth) / (denom + smooth)).mean()


def _sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    import torch
    import torch.nn.functional as F

    kx = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device
    )
    k = torch.stack([kx, kx.t()])[:, None]  # (2, 1, 3, 3): x then y (the transpose)
    g = F.conv2d(x, k, padding=1)
    return g[:, :1], g[:, 1:]


def _strength_angle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    gx, gy = _sobel(x)
    strength = torch.sqrt(gx * gx + gy * gy + _EPS * _EPS)
    # atan(gy / gx) with gx == 0 nudged like the metric (+eps), keeping the sign convention.
    safe_x = torch.where(gx.abs() < _EPS, torch.full_like(gx, _EPS), gx)
    return strength, torch.atan(gy / safe_x)


def _edge_preservation(s_g, s_a, f_g, f_a):
    import torch

    ratio = (torch.minimum(s_g, f_g) + _EPS) / (torch.maximum(s_g, f_g) + _EPS)
    agree = 1.0 - (s_a - f_a).abs() * (2.0 / math.pi)
    qg = TG * torch.sigmoid(-KG * (ratio - DG))
    qa = TA * torch.sigmoid(-KA * (agree - DA))
    return qg * qa


def soft_qabf(a: torch.Tensor, b: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Differentiable Q^{AB/F} of each sample, for two gray sources.

    Parameters
    ----------
    a, b, fused : Tensor, (B, 1, H, W)
        Gray images (any common scale, e.g. ``[0, 1]``; the metric is scale invariant).

    Returns
    -------
    Tensor, (B,)
        Q^{AB/F} per sample in ``[0, 1]``.
    """
    fg, fa = _strength_angle(fused)
    ag, aa = _strength_angle(a)
    bg, ba = _strength_angle(b)
    qa = _edge_preservation(ag, aa, fg, fa)
    qb = _edge_preservation(bg, ba, fg, fa)
    dims = tuple(range(1, a.dim()))
    num = (qa * ag + qb * bg).sum(dims)
    den = (ag + bg).sum(dims)
    return num / den


def gacn_loss(
    decision: torch.Tensor,
    label: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    fused: torch.Tensor,
    qabf_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The paper's gradient-aware loss ``Dice(decision, label) + w·(1 − Q^{AB/F}(a, b, fused))``.

    Parameters
    ----------
    decision : Tensor, (B, 1, H, W)
        Raw decision map (weight of ``a``).
    label : Tensor, (B, 1, H, W)
        Ground-truth map.
    a, b, fused : Tensor, (B, 1, H, W)
        Gray sources and the fused gray image (from the boundary-guided map).
    qabf_weight : float
        Weight ``w`` of the Q^{AB/F} term (1 in the paper).

    Returns
    -------
    dict
        ``loss`` (to back-propagate), ``dice`` and ``qabf_loss`` (detached parts).
    """
    d = dice_loss(decision, label)
    q = 1.0 - soft_qabf(a, b, fused).mean()
    return {"loss": d + qabf_weight * q, "dice": d.detach(), "qabf_loss": q.detach()}
