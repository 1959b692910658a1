"""Parameter declarations shared by several methods (one help text, one range each).

Depth-map clean-up (``depthmap``, GACN's activity strategy) and the network runtime's knobs
(:mod:`mffgui.models.runtime`: weights, device, tiles, memory, threads). Each factory returns a
:func:`~mffgui.methods.base.param` field; ``context`` prefixes the help text where a
parameter applies to one strategy only (``"Activity strategy: "``).
"""

from __future__ import annotations

from typing import Any

from mffgui.methods.base import param
from mffgui.models.device import DEVICE_CHOICES


def _help(context: str, text: str) -> str:
    return f"{context}{text}" if context else text[0].upper() + text[1:]


def smoothing_param(context: str = "") -> Any:
    """Median filter size of a depth map: default 7, 1 (off) to 101."""
    return param(
        7,
        _help(
            context,
            "median filter size applied to the depth map (odd; even sizes are rounded up; 1 = off)",
        ),
        min=1,
        max=101,
    )


def blend_sigma_param(context: str = "") -> Any:
    """Gaussian sigma (px) of the transition between frames: default 2, 0 (hard) to 50."""
    return param(
        2.0,
        _help(
            context,
            "Gaussian sigma (px) of the soft transition between frames; 0 = hard "
            "selection (exact source values everywhere)",
        ),
        min=0.0,
        max=50.0,
    )


def weights_param(help: str) -> Any:
    """A network's weights file; empty (``None``) = its bundled weights."""
    return param(None, help)


def device_param() -> Any:
    """Where a network runs (:data:`mffgui.models.device.DEVICE_CHOICES`), default auto."""
    return param(
        "auto",
        "Where the network runs: auto = CUDA, then Apple MPS, then CPU",
        choices=DEVICE_CHOICES,
    )


def tile_size_param() -> Any:
    """Largest tile side (0 = from the memory budget, :func:`mffgui.models.runtime.auto_tile`)."""
    return param(
        0, "Largest tile side in pixels (0 = automatic from the memory budget)", min=0, step=64
    )


def memory_mb_param() -> Any:
    """Working-memory budget per tile in MiB (0 = :func:`mffgui.models.runtime.memory_budget`'s
    automatic budget)."""
    return param(
        0,
        "Working-memory budget of the network per tile, in MiB (0 = automatic: 40% of the "
        "available RAM up to 8 GiB on the CPU, 70% of the free GPU memory)",
        min=0,
        step=256,
    )


def threads_param() -> Any:
    """torch CPU threads during a run (0 = torch's default)."""
    return param(0, "CPU threads for torch (0 = torch's default)", min=0, max=256)
