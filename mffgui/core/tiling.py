"""Overlapping tiles for images too large for a memory budget (CPU RAM or GPU memory).

A local operator whose output at a pixel depends only on inputs within ``halo`` pixels can be
run tile by tile: each tile reads its *core* plus a ``halo`` margin (clipped to the image, so the
operator's own border handling still applies at the true image border), and only the core of the
tile's output is kept. When ``halo`` covers the operator's receptive-field radius the stitched
result equals the whole-image result up to floating-point rounding.

Operators with *global* statistics (e.g. a global average pool) cannot be tiled this way alone;
their statistics must be gathered over all tiles first and passed in (see
:mod:`mffgui.methods.gacn`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """One tile: the core it produces and the (larger) region it reads.

    Attributes
    ----------
    y0, y1, x0, x1 : int
        Core rows ``y0:y1`` and columns ``x0:x1`` in image coordinates.
    ry0, ry1, rx0, rx1 : int
        Read region in image coordinates (core plus halo, clipped to the image).
    """

    y0: int
    y1: int
    x0: int
    x1: int
    ry0: int
    ry1: int
    rx0: int
    rx1: int

    @property
    def read(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of the read region in the image."""
        return slice(self.ry0, self.ry1), slice(self.rx0, self.rx1)

    @property
    def core(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of the core in the image."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def core_in_read(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of the core inside an array of the read region."""
        return (
            slice(self.y0 - self.ry0, self.y1 - self.ry0),
            slice(self.x0 - self.rx0, self.x1 - self.rx0),
        )

    @property
    def read_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the read region."""
        return self.ry1 - self.ry0, self.rx1 - self.rx0


def plan_tiles(shape: tuple[int, int], tile: int, halo: int) -> list[Tile]:
    """Split an image into cores of at most ``tile``×``tile`` pixels with a ``halo`` margin.

    Parameters
    ----------
    shape : (int, int)
        Image ``(H, W)``.
    tile : int
        Largest core side; ``<= 0`` or ``>= max(H, W)`` gives one tile (the whole image).
    halo : int
        Margin read around each core (the operator's receptive-field radius).

    Returns
    -------
    list of Tile
        Row-major; cores partition the image exactly.
    """
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"empty image shape {shape}")
    if tile <= 0:
        tile = max(h, w)
    ny, nx = math.ceil(h / tile), math.ceil(w / tile)
    # Even cores (sizes differ by at most one pixel) avoid a sliver tile at the end.
    ys = np.linspace(0, h, ny + 1).round().astype(int)
    xs = np.linspace(0, w, nx + 1).round().astype(int)
    tiles = []
    for i in range(ny):
        for j in range(nx):
            y0, y1, x0, x1 = int(ys[i]), int(ys[i + 1]), int(xs[j]), int(xs[j + 1])
            tiles.append(
                Tile(
                    y0,
                    y1,
                    x0,
                    x1,
                    max(0, y0 - halo),
                    min(h, y1 + halo),
                    max(0, x0 - halo),
                    min(w, x1 + halo),
                )
            )
    return tiles


def tile_for_budget(
    shape: tuple[int, int],
    bytes_per_pixel: float,
    budget_bytes: float,
    halo: int,
    minimum: int = 64,
) -> int:
    """Largest core side whose read region (core + 2·halo)² fits a memory budget.

    Parameters
    ----------
    shape : (int, int)
        Image ``(H, W)``.
    bytes_per_pixel : float
        Peak working memory of the operator per pixel of its input.
    budget_bytes : float
        Memory allowed for one tile.
    halo : int
        Margin per side.
    minimum : int
        Smallest core side returned (so that halos do not dominate).

    Returns
    -------
    int
        Core side; ``0`` when the whole image fits in one tile.
    """
    h, w = shape
    if h * w * bytes_per_pixel <= budget_bytes:
        return 0
    side = int(math.sqrt(budget_bytes / bytes_per_pixel)) - 2 * halo
    return max(minimum, side)


def iter_tiles(shape: tuple[int, int], tile: int, halo: int) -> Iterator[Tile]:
    """Iterate :func:`plan_tiles`."""
    yield from plan_tiles(shape, tile, halo)


def apply_tiled(
    fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile: int, halo: int
) -> np.ndarray:
    """Run a local operator tile by tile and stitch the cores.

    Parameters
    ----------
    fn : callable
        ``(h, w, ...) array -> (h, w, ...) array`` with the same leading spatial shape.
    image : ndarray, (H, W, ...)
    tile, halo : int
        See :func:`plan_tiles`.

    Returns
    -------
    ndarray, (H, W, ...)
        Same dtype as ``fn``'s output.
    """
    out: np.ndarray | None = None
    for t in plan_tiles(image.shape[:2], tile, halo):
        res = np.asarray(fn(image[t.read]))
        if out is None:
            out = np.empty(image.shape[:2] + res.shape[2:], dtype=res.dtype)
        out[t.core] = res[t.core_in_read]
    assert out is not None
    return out
