"""Synthetic test scenes and focus stacks with known ground truth, made entirely by code.

* :func:`sharp_scene` — a procedural all-in-focus colour scene: multi-scale value-noise
  textures, stripes, checkerboards, rings, edges and small glyph-like marks.
* :func:`depth_scene` — a matching smooth depth map in ``[0, 1]`` (tilted plane with raised
  discs and a block), so different regions come into focus in different frames.
* :func:`render_focus_stack` — frames focused at evenly spaced planes; each pixel is blurred
  by a Gaussian whose sigma grows with ``|depth - focal plane|`` (layered blur: the image is
  blurred at a ladder of sigmas and each pixel interpolates between the two nearest layers).
* :func:`complementary_pair` — two frames, each sharp where the other is blurred.
* :func:`occluding_depth` and :func:`render_layered_stack` — a ground-truth stack benchmark:
  a piecewise-smooth depth map with occlusion boundaries (smooth background surface, opaque
  planar objects in front of it) and a layered defocus model (depth slices blurred by their
  distance to the focal plane and composited back to front), plus sensor noise and JPEG;
  :func:`ground_truth_stack` puts them together for any sharp image.

The sample stack bundled in ``resources/samples`` is written from these by
``python -m mffgui.io.sample`` (file writing lives in :mod:`mffgui.io`, not here).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "GroundTruthStack",
    "complementary_pair",
    "depth_scene",
    "focal_planes",
    "gaussian_blur",
    "ground_truth_stack",
    "half_mask",
    "occluding_depth",
    "occluding_scene",
    "render_focus_stack",
    "render_layered_stack",
    "sharp_scene",
]


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on a ``cell``-spaced grid, bicubic upsampled."""
    gh, gw = h // cell + 3, w // cell + 3
    grid = rng.random((gh, gw), dtype=np.float32)
    up = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    return np.clip(up[cell : cell + h, cell : cell + w], 0.0, 1.0)


def sharp_scene(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A procedural, detailed, all-in-focus RGB scene.

    Parameters
    ----------
    height, width : int
        Size in pixels.
    seed : int
        Random seed; the same seed gives the same scene.

    Returns
    -------
    ndarray, (H, W, 3) float32
        Values in ``[0, 1]``.
    """
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Multi-octave texture (fine detail everywhere, so focus is measurable everywhere).
    tex = np.zeros((h, w), np.float32)
    for cell, amp in ((64, 0.35), (16, 0.3), (6, 0.2), (3, 0.15)):
        tex += amp * _value_noise(rng, h, w, cell)
    base = np.stack(
        [
            0.25 + 0.5 * _value_noise(rng, h, w, 96),
            0.25 + 0.5 * _value_noise(rng, h, w, 128),
            0.25 + 0.5 * _value_noise(rng, h, w, 160),
        ],
        axis=2,
    )
    img = base * (0.55 + 0.6 * (tex - tex.mean()))[:, :, None]

    # Regions of distinct structure: stripes, checkerboard, rings.
    def region(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return (xx >= x0 * w) & (xx < x1 * w) & (yy >= y0 * h) & (yy < y1 * h)

    stripes = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (xx + 0.6 * yy) / 7.0))
    r = region(0.05, 0.08, 0.35, 0.38)
    img[r] = (0.15 + 0.7 * stripes[r])[:, None] * np.array([0.95, 0.85, 0.4], np.float32)
    checker = ((xx // 6 + yy // 6) % 2).astype(np.float32)
    r = region(0.62, 0.6, 0.95, 0.92)
    img[r] = (0.1 + 0.8 * checker[r])[:, None] * np.array([0.5, 0.8, 0.95], np.float32)
    cx, cy = 0.75 * w, 0.27 * h
    rad = np.hypot(xx - cx, yy - cy)
    r = rad < 0.2 * min(h, w)
    rings = 0.5 + 0.5 * np.cos(2 * np.pi * rad / 5.0)
    img[r] = (0.1 + 0.8 * rings[r])[:, None] * np.array([0.9, 0.45, 0.5], np.float32)

    # Hard edges and glyph-like marks (random short strokes) drawn with OpenCV.
    canvas = np.ascontiguousarray(img)
    for _ in range(max(8, (h * w) // 6000)):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(float(c) for c in rng.random(3) * 0.9 + 0.05)
        kind = rng.integers(0, 3)
        if kind == 0:
            s = int(rng.integers(4, 14))
            cv2.rectangle(canvas, (x, y), (x + s, y + s), colour, 1)
        elif kind == 1:
            cv2.circle(canvas, (x, y), int(rng.integers(2, 8)), colour, 1, cv2.LINE_AA)
        else:
            dx, dy = (int(v) for v in rng.integers(-12, 13, size=2))
            cv2.line(canvas, (x, y), (x + dx, y + dy), colour, 1, cv2.LINE_AA)
    return np.clip(canvas, 0.0, 1.0).astype(np.float32)


def depth_scene(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A smooth scene depth in ``[0, 1]`` (0 = near): tilted plane, raised discs and a block.

    Returns
    -------
    ndarray, (H, W) float32
    """
    rng = np.random.default_rng(seed + 1)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = 0.15 + 0.7 * (xx / max(w - 1, 1)) * 0.7 + 0.3 * (yy / max(h - 1, 1)) * 0.7
    for _ in range(3):
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        rad = rng.uniform(0.08, 0.16) * min(h, w)
        depth = np.where(np.hypot(xx - cx, yy - cy) < rad, rng.uniform(0.0, 1.0), depth)
    block = (xx > 0.05 * w) & (xx < 0.35 * w) & (yy > 0.6 * h) & (yy < 0.92 * h)
    depth = np.where(block, 0.95, depth)
    return np.clip(depth, 0.0, 1.0).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an ``(H, W)`` or ``(H, W, C)`` float image (reflecting borders)."""
    if sigma <= 0:
        return np.asarray(img, dtype=np.float32).copy()
    return cv2.GaussianBlur(
        np.asarray(img, dtype=np.float32),
        (0, 0),
        sigmaX=float(sigma),
        borderType=cv2.BORDER_REFLECT_101,
    ).reshape(np.shape(img))


def focal_planes(n_frames: int) -> np.ndarray:
    """Focal-plane depths of :func:`render_focus_stack`: ``n_frames`` evenly in ``[0, 1]``."""
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")
    return np.linspace(0.0, 1.0, n_frames, dtype=np.float32)


def render_focus_stack(
    sharp: np.ndarray,
    depth: np.ndarray,
    n_frames: int = 5,
    max_sigma: float = 4.0,
    seed: int | None = None,
    *,
    noise: float = 0.0,
    levels: int = 12,
) -> np.ndarray:
    """Render a focus stack of ``sharp`` whose blur follows ``|depth - focal plane|``.

    Frame ``k`` focuses at ``focal_planes(n_frames)[k]``; a pixel at depth ``d`` gets a Gaussian
    blur of sigma ``max_sigma * |d - z_k|`` (so a frame at one end blurs the other end by
    ``max_sigma``). The blur is layered: the frame is blurred at ``levels`` sigmas from 0 to
    ``max_sigma`` and each pixel is linearly interpolated between the two nearest layers.

    Parameters
    ----------
    sharp : ndarray, (H, W, C) or (H, W) float32
        The all-in-focus scene in ``[0, 1]``.
    depth : ndarray, (H, W) float
        Scene depth in ``[0, 1]``.
    n_frames : int
        Number of frames (>= 2).
    max_sigma : float
        Blur sigma in pixels at a defocus distance of 1.
    seed : int, optional
        Seed of the additive sensor noise (only used when ``noise > 0``).
    noise : float
        Standard deviation of additive Gaussian noise per frame.
    levels : int
        Number of blur layers.

    Returns
    -------
    ndarray, (N, H, W, C) float32
        The frames in ``[0, 1]`` (C as in ``sharp``; 2-D input gives C = 1).
    """
    img = np.asarray(sharp, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    d = np.asarray(depth, dtype=np.float32)
    if d.shape != img.shape[:2]:
        raise ValueError(f"depth {d.shape} does not match the image {img.shape[:2]}")
    if n_frames < 2:
        raise ValueError("a focus stack needs n_frames >= 2")
    sigmas = np.linspace(0.0, max_sigma, max(levels, 2), dtype=np.float32)
    layers = np.stack([gaussian_blur(img, float(s)) for s in sigmas])  # (L, H, W, C)
    rng = np.random.default_rng(seed)
    out = np.empty((n_frames, *img.shape), np.float32)
    step = float(sigmas[1] - sigmas[0]) if max_sigma > 0 else 1.0
    for k, z in enumerate(focal_planes(n_frames)):
        s = max_sigma * np.abs(d - z)
        pos = np.clip(s / step, 0, len(sigmas) - 1) if max_sigma > 0 else np.zeros_like(s)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, len(sigmas) - 1)
        t = (pos - lo)[:, :, None]
        rows, cols = np.indices(lo.shape)
        frame = (1 - t) * layers[lo, rows, cols] + t * layers[hi, rows, cols]
        if noise > 0:
            frame = frame + rng.normal(0.0, noise, frame.shape).astype(np.float32)
        out[k] = np.clip(frame, 0.0, 1.0)
    return out


def half_mask(height: int, width: int, *, vertical: bool = True) -> np.ndarray:
    """``(H, W)`` bool mask, True on the left (or top) half."""
    m = np.zeros((height, width), dtype=bool)
    if vertical:
        m[:, : width // 2] = True
    else:
        m[: height // 2, :] = True
    return m


def complementary_pair(
    sharp: np.ndarray, mask: np.ndarray, sigma: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two frames with complementary focus: A sharp where ``mask``, B sharp elsewhere.

    Parameters
    ----------
    sharp : ndarray, (H, W, C) or (H, W) float32
    mask : ndarray, (H, W) bool
        Where frame A is in focus.
    sigma : float
        Gaussian blur of the out-of-focus parts.

    Returns
    -------
    a, b : ndarray, (H, W, C) float32
    """
    img = np.asarray(sharp, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    m = np.asarray(mask, dtype=bool)[:, :, None]
    blurred = gaussian_blur(img, sigma)
    return np.where(m, img, blurred), np.where(m, blurred, img)


# ---------------------------------------------------------------------------------------------
# Ground-truth stacks: occlusion boundaries, layered defocus, noise and JPEG


OBJECT_DEPTH = 0.425
""":func:`occluding_depth` puts objects nearer than this and the background farther."""


def occluding_depth(height: int, width: int, seed: int = 0, n_objects: int = 4) -> np.ndarray:
    """The visible depth of :func:`occluding_scene` (see there), ``(H, W)`` float32."""
    return occluding_scene(height, width, seed, n_objects)[0]


def occluding_scene(
    height: int, width: int, seed: int = 0, n_objects: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """A piecewise-smooth depth map in ``[0, 1]`` (0 = near) with occlusion boundaries.

    A smooth background surface (a random tilted plane plus low-frequency relief, depths
    0.45 to 1) is covered by ``n_objects`` opaque objects — ellipses, convex polygons and thin
    bars — each a tilted plane nearer than the background, painted far to near so nearer
    objects occlude farther ones. Depth is continuous inside every surface and jumps at the
    objects' outlines.

    Parameters
    ----------
    height, width : int
        Size in pixels.
    seed : int
        Random seed; the same seed gives the same map.
    n_objects : int
        Number of foreground objects.

    Returns
    -------
    depth : ndarray, (H, W) float32
        The visible depth.
    background : ndarray, (H, W) float32
        The background surface's depth everywhere, also behind the objects.
    """
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / max(w - 1, 1) - 0.5, yy / max(h - 1, 1) - 0.5
    gx, gy = rng.uniform(-0.25, 0.25, size=2)
    relief = _value_noise(rng, h, w, max(8, min(h, w) // 3)) - 0.5
    depth = 0.75 + gx * u + gy * v + 0.15 * relief
    depth = np.clip(depth, 0.45, 1.0)
    background = depth.astype(np.float32)
    size = float(min(h, w))
    objects = []
    for _ in range(n_objects):
        z0 = float(rng.uniform(0.0, 0.55))
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        kind = int(rng.integers(0, 3))
        mask = np.zeros((h, w), np.uint8)
        if kind == 0:
            axes = (int(rng.uniform(0.08, 0.22) * size), int(rng.uniform(0.08, 0.22) * size))
            cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif kind == 1:
            pts = rng.normal(0.0, 0.12 * size, size=(7, 2)) + np.array([cx, cy])
            hull = cv2.convexHull(pts.astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1)
        else:
            ang = rng.uniform(0, np.pi)
            half = rng.uniform(0.2, 0.4) * size
            dx, dy = half * np.cos(ang), half * np.sin(ang)
            cv2.line(
                mask,
                (int(cx - dx), int(cy - dy)),
                (int(cx + dx), int(cy + dy)),
                1,
                int(rng.integers(3, 9)),
            )
        tilt = rng.uniform(-0.15, 0.15, size=2)
        objects.append((z0, mask.astype(bool), tilt))
    for z0, mask, (tx, ty) in sorted(objects, key=lambda o: -o[0]):
        plane = z0 + tx * u + ty * v
        depth = np.where(mask, np.clip(plane, 0.0, 0.4), depth)  # below OBJECT_DEPTH
    return np.clip(depth, 0.0, 1.0).astype(np.float32), background


def render_layered_stack(
    sharp: np.ndarray,
    depth: np.ndarray,
    planes: np.ndarray,
    max_sigma: float = 5.0,
    *,
    slice_sigma: float = 0.25,
    hidden: np.ndarray | None = None,
    hidden_depth: np.ndarray | None = None,
) -> np.ndarray:
    """Render frames focused at ``planes`` with a layered, occlusion-aware defocus model.

    The depth range is cut into slices thin enough that the blur varies by at most
    ``slice_sigma`` pixels within one. For each frame the slices are blurred (colour
    premultiplied by the slice's coverage, and the coverage itself) with a Gaussian of sigma
    ``max_sigma * |slice depth - focal plane|`` (slice depth: the mean depth of its pixels;
    sigmas below 0.1 px leave the slice sharp) and composited back to front with the "over"
    operator; the result is divided by the accumulated coverage. A defocused foreground edge
    thus spreads over (and partly hides) the sharp background behind it, while a defocused
    background never spreads over a sharp foreground (S. W. Hasinoff, K. N. Kutulakos, "A
    layer-based restoration framework for variable-aperture photography", ICCV 2007, give
    this image-formation model).

    Parameters
    ----------
    sharp : ndarray, (H, W, C) or (H, W) float32
        The all-in-focus image in ``[0, 1]``.
    depth : ndarray, (H, W) float
        Scene depth in ``[0, 1]`` (0 = near).
    planes : ndarray, (N,) float
        Focal-plane depths of the frames.
    max_sigma : float
        Blur sigma in pixels at a defocus distance of 1.
    slice_sigma : float
        Largest blur difference (px) inside one depth slice.
    hidden, hidden_depth : ndarray, (H, W, C) and (H, W), optional
        What lies behind the foreground and its depth (everywhere): a full background layer,
        so a defocused foreground edge spreads over (and lets through) the background it
        hides, as a real lens does. Pixels with ``depth < hidden_depth`` are foreground.
        Without it, only the visible surface is rendered and the result is normalised by the
        accumulated coverage.

    Returns
    -------
    ndarray, (N, H, W, C) float32
        Noise-free frames in ``[0, 1]`` (C as in ``sharp``; 2-D input gives C = 1).
    """
    img = np.asarray(sharp, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    d = np.asarray(depth, dtype=np.float32)
    if d.shape != img.shape[:2]:
        raise ValueError(f"depth {d.shape} does not match the image {img.shape[:2]}")
    width = slice_sigma / max_sigma if max_sigma > 0 else 1.0
    n_slices = max(1, int(np.ceil(1.0 / width)))
    # (colour, coverage, depth) of every slice, composited far to near.
    layers: list[tuple[np.ndarray, np.ndarray, float]] = []
    front = np.ones(d.shape, bool)
    if hidden is not None:
        hid = np.asarray(hidden, dtype=np.float32).reshape(img.shape)
        hd = np.asarray(hidden_depth, dtype=np.float32)
        front = d < hd - 1e-6
        layers += _slices(hid, hd, np.ones(d.shape, bool), n_slices)
    layers += _slices(img, d, front, n_slices)
    layers.sort(key=lambda t: -t[2])
    ch = img.shape[2]
    out = np.empty((len(planes), *img.shape), np.float32)
    for k, z in enumerate(np.asarray(planes, dtype=np.float32)):
        acc = np.zeros((*img.shape[:2], ch + 1), np.float32)
        for colour, cover, zs in layers:
            layer = np.concatenate([colour * cover[:, :, None], cover[:, :, None]], axis=2)
            sigma = max_sigma * abs(zs - float(z))
            layer = gaussian_blur(layer, sigma) if sigma >= 0.1 else layer
            acc = layer + (1.0 - layer[:, :, ch:]) * acc
        out[k] = np.clip(acc[:, :, :ch] / np.maximum(acc[:, :, ch:], 1e-6), 0.0, 1.0)
    return out


def _slices(
    img: np.ndarray, depth: np.ndarray, where: np.ndarray, n_slices: int
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``(img, coverage, mean depth)`` of each non-empty depth slice of the pixels ``where``."""
    label = np.minimum((depth * n_slices).astype(np.intp), n_slices - 1)
    label = np.where(where, label, -1)
    out = []
    for s in np.unique(label):
        if s < 0:
            continue
        cover = label == s
        out.append((img, cover.astype(np.float32), float(depth[cover].mean())))
    return out


def _jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """8-bit JPEG round trip of an ``(H, W, C)`` float frame (C = 1 or 3), back to float."""
    u8 = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    bgr = u8[:, :, ::-1] if u8.shape[2] == 3 else u8[:, :, 0]
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if dec is None:
        raise RuntimeError("JPEG decoding failed")
    dec = dec[:, :, ::-1] if dec.ndim == 3 else dec[:, :, None]
    return dec.astype(np.float32) / np.float32(255.0)


@dataclass(frozen=True)
class GroundTruthStack:
    """A rendered focus stack with its ground truth.

    Attributes
    ----------
    frames : ndarray, (N, H, W, C) float32
        The frames in ``[0, 1]`` (noise and JPEG included), near focus first.
    sharp : ndarray, (H, W, C) float32
        The all-in-focus ground truth.
    depth : ndarray, (H, W) float32
        Scene depth in ``[0, 1]`` (0 = near).
    planes : ndarray, (N,) float32
        Focal-plane depth of each frame.
    """

    frames: np.ndarray
    sharp: np.ndarray
    depth: np.ndarray
    planes: np.ndarray

    def nearest_frame(self) -> np.ndarray:
        """``(H, W)`` int: the frame whose focal plane is nearest each pixel's depth."""
        return np.argmin(np.abs(self.depth[None] - self.planes[:, None, None]), axis=0)


def ground_truth_stack(
    sharp: np.ndarray,
    n_frames: int,
    seed: int = 0,
    *,
    max_sigma: float = 12.0,
    noise: float = 2.0 / 255.0,
    jpeg_quality: int | None = 92,
    n_objects: int = 4,
    occluders: np.ndarray | None = None,
) -> GroundTruthStack:
    """A focus stack of ``sharp`` with known all-in-focus image, for benchmarks and tests.

    :func:`occluding_depth` (seeded) gives the scene depth, :func:`render_layered_stack`
    renders ``n_frames`` frames focused at evenly spaced planes spanning the depth range,
    then each frame gets additive Gaussian noise (seeded, independent per frame) and, unless
    ``jpeg_quality`` is None, an 8-bit JPEG round trip.

    Parameters
    ----------
    sharp : ndarray, (H, W, C) or (H, W) float32
        All-in-focus image in ``[0, 1]`` (a photograph or :func:`sharp_scene`).
    n_frames : int
        Number of frames (>= 2).
    seed : int
        Seed of the depth map and the noise; the same arguments give the same stack.
    max_sigma : float
        Blur sigma (px) at a defocus distance of 1 (the whole depth range).
    noise : float
        Standard deviation of the additive Gaussian noise (0 = none).
    jpeg_quality : int or None
        JPEG quality of the frames' round trip; None keeps float frames.
    n_objects : int
        Foreground objects of the depth map.
    occluders : ndarray, (H, W, C) float32, optional
        Where the foreground objects take their look from (another photograph): their
        outlines are then image edges, as real occlusion boundaries are. Default: the
        objects show ``sharp`` itself, so their outlines are visible only through defocus.

    Returns
    -------
    GroundTruthStack
        ``sharp`` is the composite of ``sharp`` and ``occluders`` when occluders are given.
    """
    if n_frames < 2:
        raise ValueError("a focus stack needs n_frames >= 2")
    img = np.asarray(sharp, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    depth, back = occluding_scene(img.shape[0], img.shape[1], seed, n_objects)
    behind = img
    if occluders is not None:
        occ = np.asarray(occluders, dtype=np.float32).reshape(img.shape)
        img = np.where((depth < OBJECT_DEPTH)[:, :, None], occ, img)
    lo, hi = float(depth.min()), float(depth.max())
    planes = np.linspace(lo, hi, n_frames, dtype=np.float32)
    frames = render_layered_stack(img, depth, planes, max_sigma, hidden=behind, hidden_depth=back)
    rng = np.random.default_rng([seed, n_frames])
    for k in range(n_frames):
        if noise > 0:
            frames[k] += rng.normal(0.0, noise, frames[k].shape).astype(np.float32)
            np.clip(frames[k], 0.0, 1.0, out=frames[k])
        if jpeg_quality is not None:
            frames[k] = _jpeg(frames[k], jpeg_quality)
    return GroundTruthStack(frames=frames, sharp=img, depth=depth, planes=planes)
