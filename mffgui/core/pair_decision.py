"""The decision map of a two-image fusion: focus argmax, small regions removed, edge-snapped.

With two sources every pixel is a choice between A and B. The steps follow the decision-map
methods of the literature (e.g. Y. Liu, X. Chen, H. Peng, Z. Wang, "Multi-focus image fusion
with a deep convolutional neural network", Information Fusion 36, 2017: small-region removal
of the binary map), with the transition kept narrow so that almost every pixel is an exact copy
of one source:

1. ``A`` wins where its windowed sum-modified-Laplacian is at least ``B``'s, each optionally
   damped by a sharpness factor (the halo test of :func:`mffgui.core.halo.two_scale_focus`),
   so the blurred rim of a defocused occluder does not win inside the sharp object.
2. Connected regions (of either source) smaller than ``min_area`` of the image are given to the
   other source: a focused region is an object or a surface, not a speck of noise.
3. The map is snapped onto image edges (:func:`mffgui.core.halo.snap_refine`), so a sharp edge
   does not win a band of blurred background next to it.
4. The label map is Gaussian-smoothed only near its changes (``blend_sigma`` px), elsewhere the
   weights are exactly 0 or 1.
5. Where neither source has more focus than ``noise_margin`` times what the noise alone gives,
   the two are averaged (less noise, nothing sharper to keep).

docs/BENCHMARKS.md ("`halofree` on the Lytro pairs") has the measurements behind each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mffgui.core.decision import smooth_depth
from mffgui.core.filters import gaussian
from mffgui.core.halo import noise_focus, snap_refine, soft_step


def remove_small_regions(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """Flip 8-connected regions of ``mask`` (either value) smaller than ``min_pixels``.

    Regions of ``True`` are processed first, then regions of ``False`` of the result.

    Parameters
    ----------
    mask : ndarray, (H, W) bool
    min_pixels : int
        Regions with fewer pixels take the other value (0 or less = no change).

    Returns
    -------
    ndarray, (H, W) bool
        A new array.
    """
    out = mask.copy()
    if min_pixels <= 0:
        return out
    for value in (True, False):
        _, labels, stats, _ = cv2.connectedComponentsWithStats(
            (out == value).view(np.uint8), connectivity=8
        )
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_pixels)
        small = small[small > 0]  # label 0 is the other value
        if small.size:
            out[np.isin(labels, small)] = not value
    return out


@dataclass(frozen=True)
class PairDecision:
    """A two-source decision.

    Attributes
    ----------
    index : ndarray, (H, W) uint16
        0 where A is chosen, 1 where B is.
    weight_a : ndarray, (H, W) float32
        A's weight in ``[0, 1]`` (B's is ``1 - weight_a``); exactly 0 or 1 away from the
        transitions and flat regions.
    trust : ndarray, (H, W) float32
        1 where the sharper source is trusted, down to 0 where the two are averaged.
    """

    index: np.ndarray
    weight_a: np.ndarray
    trust: np.ndarray


def pair_decision(
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    focus_a: np.ndarray,
    focus_b: np.ndarray,
    noise: float,
    *,
    radius: int,
    fine_sigma: float,
    min_area: float,
    refine_radius: int,
    refine_eps: float,
    blend_sigma: float,
    noise_margin: float,
    sharp_a: np.ndarray | None = None,
    sharp_b: np.ndarray | None = None,
) -> PairDecision:
    """Decide, per pixel, between two sources (steps in the module docstring).

    Parameters
    ----------
    gray_a, gray_b : ndarray, (H, W) float32
        Luma of the sources in ``[0, 1]``.
    focus_a, focus_b : ndarray, (H, W) float32
        Their windowed focus measures (sum-modified-Laplacian, window ``radius``, pre-smoothing
        ``fine_sigma``).
    noise : float
        The sources' noise sigma, in luma units.
    radius : int
        Window radius of the focus measure (for the noise floor).
    fine_sigma : float
        Its pre-smoothing sigma (for the noise floor).
    min_area : float
        Smallest region, as a fraction of the image, that keeps its own source.
    refine_radius : int
        Edge-snapping radius (0 = off).
    refine_eps : float
        Guided-filter regularisation of that snapping.
    blend_sigma : float
        Gaussian sigma (px) of the transition (0 = hard).
    noise_margin : float
        Focus, in multiples of the noise's, above which the sharper source is trusted (0 = off:
        never averaged).

    sharp_a, sharp_b : ndarray, (H, W) float32, optional
        Factors in ``[0, 1]`` (0 where a source's detail is a defocused spill, see
        :func:`mffgui.core.halo.two_scale_focus`) applied to the focus for the choice only.

    Returns
    -------
    PairDecision
    """
    if sharp_a is not None and sharp_b is not None:
        a_wins = focus_a * sharp_a >= focus_b * sharp_b
    else:
        a_wins = focus_a >= focus_b
    a_wins = remove_small_regions(a_wins, int(min_area * a_wins.size))
    index = (~a_wins).view(np.uint8).astype(np.uint16)
    if refine_radius > 0:
        guide = np.where(a_wins, gray_a, gray_b)
        index = snap_refine(index, guide, refine_radius, refine_eps)
    weight_a = np.float32(1.0) - smooth_depth(index, blend_sigma)
    if noise_margin > 0:
        floor = max(noise_focus(noise, radius, fine_sigma), 1e-6)
        best = np.maximum(focus_a, focus_b) / np.float32(floor)
        trust = gaussian(soft_step(best, 0.75 * noise_margin, 1.5 * noise_margin), 2.0)
        trust[trust > 0.999] = 1.0
        weight_a = trust * weight_a + (np.float32(1.0) - trust) * np.float32(0.5)
    else:
        trust = np.ones_like(weight_a)
    return PairDecision(index, weight_a.astype(np.float32, copy=False), trust)


__all__ = ["PairDecision", "pair_decision", "remove_small_regions"]
