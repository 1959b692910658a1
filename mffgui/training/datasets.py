"""Training data: synthetic multi-focus pairs made from sharp images, and real validation pairs.

Synthetic supervision follows the GACN paper (Ma et al., Neurocomputing 2022): from one sharp,
all-in-focus image ``I`` and a random focus mask ``M`` two sources are made,

* ``A`` sharp inside ``M`` and blurred outside, ``B`` the reverse, with independent random
  blur strengths; the blurred *foreground* of the one image bleeds over the sharp background
  through a softened mask, as a defocused occluder does;
* the label (weight of ``A``) is ``M``.

Masks are natural-looking region shapes: blobs from thresholded smoothed noise, random star
polygons (unions of a few), wavy half-planes and ellipses. Augmentations of the paper: random
blur strengths, random erasing, small offsets of one source, noise, and swapping ``A``/``B``
(with the label inverted); plus flips and 90° rotations of the base crop.

Every random draw comes from a :class:`numpy.random.Generator` seeded by ``(seed, epoch,
step)``, so a batch depends only on where it is in the run: resuming continues exactly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mffgui.errors import MffError
from mffgui.io.readers import SUPPORTED_FORMATS, read_image, sniff_format
from mffgui.io.stacks import is_ground_truth

LUMA_709 = np.array([0.2125, 0.7154, 0.0721], dtype=np.float64)
"""Rec. 709 luma weights: the gray input convention of GACN (skimage ``rgb2gray``)."""

VALIDATION_SEED = 20240531
"""Fixed seed of the held-out synthetic validation pairs (independent of ``--seed``)."""


# -- image files -------------------------------------------------------------------------------


def _is_image(p: Path) -> bool:
    """A training image: a file :mod:`mffgui.io` reads (by content, as the app decides), not
    hidden, not a ground truth.

    Raises
    ------
    UnsupportedImage, CorruptImage
        A known image format the app refuses (WebP, GIF, ...) or an empty file: the message
        names the file, so a data folder is never half-used silently.
    """
    if not p.is_file() or p.name.startswith(".") or is_ground_truth(p):
        return False
    return sniff_format(p) is not None


def list_images(dirs: Iterable[str | Path]) -> list[Path]:
    """All image files under the given folders (recursively), sorted, ground truths excluded.

    The files are those the app reads (:func:`mffgui.io.sniff_format`, by content: PNG, JPEG,
    TIFF, BMP, ...); other files are skipped.

    Raises
    ------
    MffError
        A folder that does not exist, or no image at all.
    UnsupportedImage, CorruptImage
        A file in a format the app refuses (e.g. WebP), or an empty image file.
    """
    out: list[Path] = []
    for d in dirs:
        p = Path(d)
        if p.is_file() and _is_image(p):
            out.append(p)
            continue
        if not p.is_dir():
            raise MffError("training data folder not found", p)
        out.extend(sorted(q for q in p.rglob("*") if _is_image(q)))
    if not out:
        raise MffError(
            "no images ("
            + ", ".join(SUPPORTED_FORMATS)
            + ") found in "
            + ", ".join(str(d) for d in dirs)
        )
    return out


def read_rgb_float(path: str | Path) -> np.ndarray:
    """Read an image as float32 ``[0, 1]``, shape ``(H, W)`` (gray) or ``(H, W, 3)`` (RGB).

    Decoded by :func:`mffgui.io.read_image`, so training reads exactly the files the app reads.

    Raises
    ------
    UnsupportedImage, CorruptImage
    """
    img, _meta = read_image(path)
    if img.shape[2] == 1:
        img = img[:, :, 0]
    else:
        img = img[:, :, :3]
    return np.ascontiguousarray(img, dtype=np.float32)


def read_rgb_u8(path: str | Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 (gray replicated): the compact in-memory copy of a training image.

    Raises
    ------
    UnsupportedImage, CorruptImage
    """
    img = read_rgb_float(path)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.round(img * 255.0).astype(np.uint8)


def to_luma(img: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` float -> ``(H, W)`` float32 Rec. 709 luma."""
    if img.ndim == 2:
        return img.astype(np.float32)
    return (img[..., :3].astype(np.float64) @ LUMA_709).astype(np.float32)


def load_gray_u8(path: str | Path) -> np.ndarray:
    """An image as ``(H, W)`` uint8 luma (compact in-memory training copy)."""
    g = to_luma(read_rgb_float(path))
    return np.round(g * 255.0).astype(np.uint8)


def split_holdout(paths: Sequence[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """Deterministic train/held-out split by a hash of each file name.

    The split does not depend on ``--seed`` or on which other files are present, so the
    held-out set stays the same across runs. With fewer than two images both sets are the
    whole list.

    Returns
    -------
    train, held_out : list of Path
    """
    paths = list(paths)
    if len(paths) < 2 or fraction <= 0:
        return paths, paths if fraction > 0 else []

    def key(p: Path) -> float:
        h = hashlib.sha1(f"{p.parent.name}/{p.name}".encode()).hexdigest()
        return int(h[:12], 16) / float(16**12)

    held = [p for p in paths if key(p) < fraction]
    if not held:
        held = [min(paths, key=key)]
    train = [p for p in paths if p not in held]
    if not train:
        train = held[1:] or held
        held = held[:1]
    return train, held


# -- focus masks -------------------------------------------------------------------------------


def _blob_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = int(rng.integers(2, 7))
    noise = rng.standard_normal((cells, cells)).astype(np.float32)
    field = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    sigma = float(rng.uniform(0.02, 0.08)) * size
    field = cv2.GaussianBlur(field, (0, 0), sigma)
    # A little fine noise makes the boundary less perfectly smooth.
    fine = cv2.GaussianBlur(
        rng.standard_normal((size, size)).astype(np.float32), (0, 0), max(1.0, size / 48)
    )
    field = field / (field.std() + 1e-6) + 0.15 * fine / (fine.std() + 1e-6)
    q = float(rng.uniform(0.3, 0.7))
    return (field > np.quantile(field, q)).astype(np.float32)


def _polygon_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        radius = float(rng.uniform(0.15, 0.5)) * size
        n = int(rng.integers(3, 13))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = radius * rng.uniform(0.45, 1.15, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(np.float32)


def _halfplane_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    x0, y0 = rng.uniform(0.2, 0.8, 2) * size
    theta = float(rng.uniform(0, 2 * np.pi))
    along = -(xx - x0) * np.sin(theta) + (yy - y0) * np.cos(theta)
    amp = float(rng.uniform(0, 0.12)) * size
    freq = float(rng.uniform(0.5, 3.0)) * 2 * np.pi / size
    d = (xx - x0) * np.cos(theta) + (yy - y0) * np.sin(theta)
    d = d + amp * np.sin(freq * along + float(rng.uniform(0, 2 * np.pi)))
    return (d > 0).astype(np.float32)


def _ellipse_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        center = tuple(int(v) for v in rng.uniform(0.15, 0.85, 2) * size)
        axes = tuple(int(v) for v in rng.uniform(0.1, 0.45, 2) * size)
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(np.float32)


_MASK_KINDS = (
    ("blobs", _blob_mask, 0.4),
    ("polygon", _polygon_mask, 0.3),
    ("halfplane", _halfplane_mask, 0.15),
    ("ellipse", _ellipse_mask, 0.15),
)


def random_focus_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random binary focus region.

    Parameters
    ----------
    rng : numpy.random.Generator
    size : int
        Side of the square mask.

    Returns
    -------
    ndarray, (size, size) float32
        Values 0/1; the region covers between 10 % and 90 % of the area.
    """
    probs = np.array([k[2] for k in _MASK_KINDS])
    mask = None
    for _ in range(8):
        kind = int(rng.choice(len(_MASK_KINDS), p=probs / probs.sum()))
        mask = _MASK_KINDS[kind][1](rng, size)
        if rng.random() < 0.5:
            mask = 1.0 - mask
        if 0.1 <= float(mask.mean()) <= 0.9:
            return mask
    assert mask is not None
    return _halfplane_mask(rng, size)


# -- pairs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairConfig:
    """Ranges of the synthetic pair generator (all probabilities in ``[0, 1]``).

    Attributes
    ----------
    blur_sigma : (float, float)
        Range of the Gaussian blur σ (pixels) of the out-of-focus parts, drawn per source.
    bleed : float
        Probability that the blurred foreground bleeds over the background (soft mask).
    noise_p, noise_std : float, (float, float)
        Probability and σ range of additive Gaussian noise (independent per source).
    offset_p, offset_max : float, int
        Probability and largest shift (pixels) of one source relative to the other.
    erase_p : float
        Probability of erasing a random rectangle in one source (constant fill).
    swap_p : float
        Probability of swapping the sources (label inverted).
    """

    blur_sigma: tuple[float, float] = (0.7, 4.0)
    bleed: float = 0.7
    noise_p: float = 0.5
    noise_std: tuple[float, float] = (0.002, 0.02)
    offset_p: float = 0.25
    offset_max: int = 2
    erase_p: float = 0.15
    swap_p: float = 0.5

    @classmethod
    def plain(cls) -> PairConfig:
        """No offsets, erasing or noise (clean validation pairs)."""
        return cls(noise_p=0.0, offset_p=0.0, erase_p=0.0)


def random_crop(rng: np.random.Generator, img: np.ndarray, size: int) -> np.ndarray:
    """A random ``size × size`` crop (upscaled first if the image is smaller), flipped/rotated.

    Returns
    -------
    ndarray, (size, size) float32 in [0, 1]
    """
    h, w = img.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        img = cv2.resize(
            img, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_CUBIC
        )
        h, w = img.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    crop = img[y : y + size, x : x + size]
    crop = np.rot90(crop, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    out = np.ascontiguousarray(crop).astype(np.float32)
    if img.dtype == np.uint8:
        out /= 255.0
    return np.clip(out, 0.0, 1.0)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
    )


def make_pair(
    rng: np.random.Generator, sharp: np.ndarray, cfg: PairConfig = PairConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic multi-focus pair from a sharp gray patch.

    Parameters
    ----------
    rng : numpy.random.Generator
    sharp : ndarray, (S, S) float32 in [0, 1]
        All-in-focus patch.
    cfg : PairConfig

    Returns
    -------
    a, b : ndarray, (S, S) float32 in [0, 1]
        Sources; ``a`` is sharp where ``label`` is 1.
    label : ndarray, (S, S) float32
        Binary ground-truth decision map (weight of ``a``).
    """
    size = sharp.shape[0]
    mask = random_focus_mask(rng, size)
    sig_a, sig_b = rng.uniform(*cfg.blur_sigma, 2)
    blur_a = _blur(sharp, float(sig_a))  # what A looks like outside its focus region
    blur_b = _blur(sharp, float(sig_b))  # what B looks like inside A's focus region
    # The mask marks one depth layer; which one is nearer (the occluder) is random. The image
    # focused on the far layer sees the near layer's blur spread over the boundary.
    soft = _blur(mask, float(max(sig_a, sig_b))) if rng.random() < cfg.bleed else mask
    if rng.random() < 0.5:  # mask region is the near layer: B's blurred near region bleeds
        a = mask * sharp + (1 - mask) * blur_a
        b = (1 - soft) * sharp + soft * blur_b
    else:  # mask region is the far layer: A's blurred near (outside) region bleeds
        a = soft * sharp + (1 - soft) * blur_a
        b = (1 - mask) * sharp + mask * blur_b
    label = mask
    if rng.random() < cfg.offset_p and cfg.offset_max > 0:
        dx, dy = (int(v) for v in rng.integers(-cfg.offset_max, cfg.offset_max + 1, 2))
        if rng.random() < 0.5:
            a = _shift(a, dx, dy)
        else:
            b = _shift(b, dx, dy)
    if rng.random() < cfg.erase_p:
        eh, ew = (int(v) for v in rng.integers(size // 10, size // 3 + 1, 2))
        y, x = int(rng.integers(0, size - eh + 1)), int(rng.integers(0, size - ew + 1))
        target = a if rng.random() < 0.5 else b
        target[y : y + eh, x : x + ew] = float(rng.uniform(0, 1))
    if rng.random() < cfg.noise_p:
        std = float(rng.uniform(*cfg.noise_std))
        a = a + rng.normal(0.0, std, a.shape).astype(np.float32)
        b = b + rng.normal(0.0, std, b.shape).astype(np.float32)
    if rng.random() < cfg.swap_p:
        a, b, label = b, a, 1.0 - label
    return (
        np.clip(a, 0, 1).astype(np.float32),
        np.clip(b, 0, 1).astype(np.float32),
        label.astype(np.float32),
    )


class SyntheticPairs:
    """Batches of synthetic pairs from an in-memory set of sharp gray images.

    Parameters
    ----------
    paths : sequence of Path
        Sharp images (colour is reduced to Rec. 709 luma).
    patch_size : int
        Side of the square training patches.
    cfg : PairConfig
    """

    def __init__(
        self, paths: Sequence[Path], patch_size: int, cfg: PairConfig = PairConfig()
    ) -> None:
        if not paths:
            raise MffError("no training images")
        self.paths = list(paths)
        self.images = [load_gray_u8(p) for p in self.paths]
        self.patch_size = int(patch_size)
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.images)

    def batch(
        self, seed: int, epoch: int, step: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch at ``(epoch, step)`` of a run seeded with ``seed`` (pure function).

        Returns
        -------
        a, b, label : ndarray, (N, 1, S, S) float32
        """
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(step)])
        return self._make(rng, batch_size, self.cfg)

    def fixed_set(
        self, count: int, size: int | None = None, seed: int = VALIDATION_SEED
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A deterministic set of clean pairs (validation), cycling over the images.

        Returns
        -------
        a, b, label : ndarray, (count, 1, S, S) float32
        """
        rng = np.random.default_rng(seed)
        return self._make(rng, count, PairConfig.plain(), size, cycle=True)

    def _make(
        self,
        rng: np.random.Generator,
        n: int,
        cfg: PairConfig,
        size: int | None = None,
        cycle: bool = False,
    ):
        size = int(size or self.patch_size)
        out = np.empty((3, n, 1, size, size), np.float32)
        for i in range(n):
            k = i % len(self.images) if cycle else int(rng.integers(0, len(self.images)))
            crop = random_crop(rng, self.images[k], size)
            out[0, i, 0], out[1, i, 0], out[2, i, 0] = make_pair(rng, crop, cfg)
        return out[0], out[1], out[2]


# -- real pairs (validation) -------------------------------------------------------------------

_SUFFIX_RE = re.compile(r"^(.*?)[_\-. ]?([A-Za-z]|\d{1,3})$")


def find_real_pairs(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """Pairs of real sources in a folder, for validation without labels.

    Either one sub-folder per scene (its first two images in name order), or files named
    ``<scene>_A.ext``, ``<scene>_B.ext`` (any one-letter or short number suffix) side by side.

    Returns
    -------
    list of (scene, path_a, path_b)

    Raises
    ------
    MffError
        Missing folder, or no scene with at least two images.
    """
    root = Path(folder)
    if not root.is_dir():
        raise MffError("validation folder not found", root)
    scenes: dict[str, list[Path]] = {}
    for sub in sorted(q for q in root.iterdir() if q.is_dir()):
        imgs = sorted(q for q in sub.iterdir() if _is_image(q))
        if len(imgs) >= 2:
            scenes[sub.name] = imgs
    for f in sorted(q for q in root.iterdir() if _is_image(q)):
        m = _SUFFIX_RE.match(f.stem)
        scene = m.group(1) if m and m.group(1) else f.stem
        scenes.setdefault(scene, []).append(f)
    pairs = [(s, v[0], v[1]) for s, v in sorted(scenes.items()) if len(v) >= 2]
    if not pairs:
        raise MffError(
            "no scene with two or more images (use one sub-folder per scene or "
            "<scene>_A / <scene>_B file names)",
            root,
        )
    return pairs
