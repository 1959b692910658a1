"""The Train dialog's per-epoch preview, without Qt: a small pair, fused by a checkpoint.

:func:`preview_pair` picks the pair (the first validation pair, else a synthetic pair cut from
the first training image), :func:`fuse_preview` fuses it with a checkpoint on the CPU and
:func:`preview_strip` lays out ``A | B | fused`` for display. The dialog runs the first two in
a worker thread (:class:`mffgui.gui.training.preview.PreviewPane`).
"""

from __future__ import annotations

import numpy as np

from mffgui.errors import MffError

__all__ = ["PREVIEW_SIZE", "fuse_preview", "preview_pair", "preview_strip"]

PREVIEW_SIZE = 160
"""Longer side of the preview pair, in pixels (keeps the per-epoch preview fast on a CPU)."""


def _small(img: np.ndarray, size: int = PREVIEW_SIZE) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = size / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(
        img, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA
    )


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def preview_pair(val_dir: str, data_dirs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A small pair to preview the network on: the first validation pair, else a synthetic one.

    Returns
    -------
    a, b : ndarray, (h, w, 3) float32 in [0, 1]
        Longer side at most :data:`PREVIEW_SIZE`.

    Raises
    ------
    MffError
        No usable image.
    """
    from mffgui.core.synthetic import complementary_pair, half_mask
    from mffgui.io import read_image
    from mffgui.training.datasets import find_real_pairs, list_images

    if val_dir:
        _scene, pa, pb = find_real_pairs(val_dir)[0]
        a, b = (_small(read_image(p)[0]) for p in (pa, pb))
        if a.shape != b.shape:
            b = _small(b, max(a.shape[:2]))[: a.shape[0], : a.shape[1]]
        if a.shape == b.shape:
            return _rgb(a), _rgb(b)
    for path in list_images(data_dirs):
        img = _small(read_image(path)[0])
        mask = half_mask(img.shape[0], img.shape[1])
        a, b = complementary_pair(_rgb(img), mask, sigma=2.5)
        return a, b
    raise MffError("no image to preview the training on")


def fuse_preview(arch: str, weights: str, pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Fuse ``pair`` with the network ``arch`` and the checkpoint ``weights`` on the CPU.

    Returns
    -------
    ndarray, (h, w, 3) float32
    """
    import mffgui.methods  # noqa: F401 - registers the methods
    from mffgui.methods.registry import get_method
    from mffgui.pipeline import fuse_stack
    from mffgui.types import Stack

    method = get_method(arch)
    params = method.info.params.from_mapping({"weights": weights, "device": "cpu"})
    result = fuse_stack(Stack.from_arrays(list(pair), names=["A", "B"]), method, params)
    return np.asarray(result.fused, np.float32)


def preview_strip(pair: tuple[np.ndarray, np.ndarray], fused: np.ndarray) -> np.ndarray:
    """``A | B | fused`` side by side, (h, 3w, 3) float32 in [0, 1]."""
    a, b = pair
    return np.concatenate([a, b, np.clip(fused, 0, 1)], axis=1)
