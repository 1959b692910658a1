"""Synthetic microscopy stacks shared by the I/O and the GUI microscopy tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile


def write_ome(
    path: Path,
    data: np.ndarray,
    axes: str,
    pixel_um: float,
    z_um: float,
    names: list[str] | None = None,
) -> Path:
    """Write ``data`` (axes as given, e.g. ``"ZCYX"``) as an OME-TIFF with physical sizes."""
    metadata: dict[str, object] = {
        "axes": axes,
        "PhysicalSizeX": pixel_um,
        "PhysicalSizeY": pixel_um,
        "PhysicalSizeZ": z_um,
    }
    if names is not None:
        metadata["Channel"] = {"Name": names}
    tifffile.imwrite(path, data, ome=True, photometric="minisblack", metadata=metadata)
    return path


def two_channel_volume(
    path: Path,
    rng: np.random.Generator,
    *,
    ch1_range: tuple[float, float],
    ch2_range: tuple[float, float],
    ch2_step: float,
    pixel_um: float,
    z_um: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A (Z=4, C=2, 40, 80) uint16 OME-TIFF at ``path`` whose channels disagree on focus.

    Channel 1 is sharp on the left in plane 0 and on the right in plane 3; channel 2 the
    other way round, plus ``ch2_step * k`` in plane k, so a fused channel-2 value tells which
    plane it came from. Channel names are ``DAPI`` and ``GFP``.

    Returns
    -------
    data : ndarray, shape (4, 2, 40, 80), uint16
        What was written.
    left : ndarray, shape (80,), bool
        The columns of the left half.
    """
    z, h, w = 4, 40, 80

    def defocus(img: np.ndarray) -> list[np.ndarray]:
        return [img] + [cv2.GaussianBlur(img, (0, 0), s) for s in (1.5, 3.0, 4.5)]

    b1 = defocus(rng.uniform(*ch1_range, (h, w)).astype(np.float32))
    b2 = defocus(rng.uniform(*ch2_range, (h, w)).astype(np.float32))
    left = np.arange(w) < w // 2
    ch1 = np.empty((z, h, w), np.float32)
    ch2 = np.empty((z, h, w), np.float32)
    for k in range(z):
        ch1[k][:, left] = b1[k][:, left]
        ch1[k][:, ~left] = b1[3 - k][:, ~left]
        ch2[k][:, left] = b2[3 - k][:, left]
        ch2[k][:, ~left] = b2[k][:, ~left]
        ch2[k] += ch2_step * k
    data = np.rint(np.stack([ch1, ch2], axis=1) * 65535).astype(np.uint16)
    write_ome(path, data, "ZCYX", pixel_um, z_um, ["DAPI", "GFP"])
    return data, left
