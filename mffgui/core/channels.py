"""Multi-channel stacks (fluorescence): one depth map from a guide, applied to every channel.

A :class:`~mffgui.types.Volume` ``(Z, C, Y, X)`` is fused by running any fusion method on a
one-channel *guide* stack — one chosen channel, or the sum of all channels each scaled by its
maximum — and then blending every channel with the method's per-frame weights. Channels are
never mixed: fused channel ``c`` is ``sum_z w_z * frame_z[c]``, so where the weights are hard
(one frame per pixel) each channel's value is an exact source value from the frame the guide
chose.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from mffgui.types import FusionResult, Stack, Volume

__all__ = ["GuideChannel", "fuse_channels", "fuse_volume_result", "guide_stack", "parse_channel"]

GuideChannel = int | Literal["sum"]
"""A channel index (0-based) or ``"sum"``."""


def parse_channel(text: str | int, n_channels: int) -> GuideChannel:
    """``"sum"`` or a 1-based channel number (as the CLI takes it) -> :data:`GuideChannel`.

    Raises
    ------
    ValueError
        For anything else, or a channel number outside ``1..n_channels``.
    """
    if isinstance(text, str) and text.strip().lower() == "sum":
        return "sum"
    try:
        k = int(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"channel must be a number 1..{n_channels} or 'sum', not {text!r}"
        ) from None
    if not 1 <= k <= n_channels:
        raise ValueError(f"channel {k} does not exist (the stack has {n_channels})")
    return k - 1


def guide_stack(volume: Volume, channel: GuideChannel) -> Stack:
    """A one-channel stack that drives the fusion of ``volume``.

    Parameters
    ----------
    volume : Volume
        ``(Z, C, Y, X)`` samples.
    channel : int or "sum"
        0-based channel, or ``"sum"``: the mean of all channels, each divided by its maximum
        over the whole stack so a dim channel counts as much as a bright one.

    Returns
    -------
    Stack
        ``Z`` frames ``(Y, X, 1)`` float32 in ``[0, 1]``, made on demand; metadata of the
        volume (physical sizes, channel names) with ``channels = 1`` and ``page = z``.
    """
    z, c, h, w = volume.shape
    if channel != "sum" and not 0 <= int(channel) < c:
        raise ValueError(f"channel {int(channel) + 1} does not exist (the stack has {c})")
    scale = np.float32(255.0 if volume.data.dtype == np.uint8 else 65535.0)
    if channel == "sum":
        peaks = volume.data.reshape(z, c, -1).max(axis=(0, 2)).astype(np.float32)
        gains = np.where(peaks > 0, 1.0 / np.maximum(peaks, 1), 0.0).astype(np.float32) / c

        def load(k: int) -> np.ndarray:
            planes = volume.data[k].astype(np.float32)
            return np.tensordot(gains, planes, axes=1)[:, :, None].astype(np.float32)
    else:
        ch = int(channel)

        def load(k: int) -> np.ndarray:
            out = np.empty((h, w, 1), np.float32)
            np.divide(volume.data[k, ch][:, :, None], scale, out=out, dtype=np.float32)
            return out

    metas = [replace(volume.meta, page=k, channels=1) for k in range(z)]
    return Stack([functools.partial(load, k) for k in range(z)], metas, notes=volume.notes)


def fuse_channels(volume: Volume, weights: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Blend every channel of ``volume`` with per-frame weights.

    Parameters
    ----------
    volume : Volume
        ``(Z, C, Y, X)``.
    weights : sequence of ndarray, (Z, Y, X) float
        One weight map per frame, summing to 1 at every pixel (a fusion result's ``weights``;
        lazy sequences are read one map at a time).

    Returns
    -------
    ndarray, (Y, X, C) float32 in ``[0, 1]``
        ``out[..., c] = sum_z weights[z] * volume.frame(z)[..., c]``.
    """
    z, c, h, w = volume.shape
    if len(weights) != z:
        raise ValueError(f"{len(weights)} weight maps for {z} frames")
    out = np.zeros((h, w, c), np.float32)
    for k in range(z):
        wk = np.asarray(weights[k], dtype=np.float32)
        if not wk.any():
            continue
        out += wk[:, :, None] * volume.frame(k)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def fuse_volume_result(volume: Volume, result: FusionResult) -> FusionResult:
    """``result`` (of the guide stack) with ``fused`` replaced by every channel blended.

    Returns
    -------
    FusionResult
        ``fused`` is ``(Y, X, C)`` float32 with the volume's ``C`` channels; ``meta`` gains
        ``"channels"``.
    """
    fused = fuse_channels(volume, result.weights)
    return replace(result, fused=fused, meta={**dict(result.meta), "channels": volume.shape[1]})
