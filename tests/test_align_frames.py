"""Registration inputs (issue 18): reduced-size gray decoding and the canvas of frames whose
size differs from the reference frame's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mffgui.core.align_frames import canvas_transform
from mffgui.core.align_geometry import apply_points, corners, rescale_transform, scale_matrix
from mffgui.core.align_lk import build_lk_pyramid, register_lk
from mffgui.io import read_stack
from mffgui.types import Stack
from tests.test_align import texture


def jpeg_stack(tmp_path, h=480, w=640):
    rng = np.random.default_rng(3)
    gray = texture(h, w, seed=11)
    tint = rng.uniform(0.8, 1.0, 3).astype(np.float32)
    for i in range(2):
        rgb = np.clip(gray[:, :, None] * tint[None, None, :] + 0.02 * i, 0, 1)
        assert cv2.imwrite(
            str(tmp_path / f"f{i}.jpg"),
            np.round(rgb * 255).astype(np.uint8),
            [cv2.IMWRITE_JPEG_QUALITY, 98],
        )
    return read_stack(tmp_path, cache_bytes=0)


@pytest.mark.parametrize(
    ("max_side", "scale"), [(320, 0.5), (160, 0.25), (80, 0.125), (1000, 1.0), (200, 0.25)]
)
def test_small_gray_matches_a_resized_full_decode(tmp_path, max_side, scale):
    stack = jpeg_stack(tmp_path)
    small, s = stack.small_gray(0, max_side)
    # JPEG decodes at 1/2, 1/4 or 1/8 size: the finest of those that fits.
    assert s == pytest.approx(scale)
    assert max(small.shape) <= max_side
    assert small.dtype == np.float32
    full = stack.gray(0)
    ref = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    # The reduced decode is JPEG's own (BT.601 luma, DCT scaling): close, not identical.
    assert np.corrcoef(small.ravel(), ref.ravel())[0, 1] > 0.98
    assert float(np.abs(small - ref).mean()) < 0.03
    # In-memory stacks have no reduced decoder: the area resize itself.
    mem = Stack.from_arrays([stack.frame(0), stack.frame(1)])
    small2, s2 = mem.small_gray(0, max_side)
    assert max(small2.shape) == min(max_side, 640)
    assert s2 == pytest.approx(small2.shape[1] / 640)


def test_reduced_decode_keeps_the_geometry(tmp_path):
    # A frame decoded at 1/2 size must register onto its full-size area resize with no shift:
    # the pixel-centre convention of scale_matrix holds for the reduced decode.
    stack = jpeg_stack(tmp_path)
    small, s = stack.small_gray(0, 320)
    assert s == 0.5
    full = stack.gray(0)
    ref = cv2.resize(full, (320, 240), interpolation=cv2.INTER_AREA)
    a = build_lk_pyramid(ref, 0.5, full.shape)
    b = build_lk_pyramid(small, 0.5, full.shape)
    res = register_lk(a, b, "similarity")
    assert res is not None
    assert res.warp is not None
    err = np.linalg.norm(apply_points(res.warp, corners(640, 480)) - corners(640, 480), axis=1)
    assert err.max() < 0.2


def test_canvas_of_a_frame_of_another_size():
    # Same aspect ratio: another resolution of the same view -> its corners land on the
    # reference frame's corners (pixel-area edges, half a pixel outside the centres).
    m = canvas_transform((240, 320), (480, 640))
    np.testing.assert_allclose(m, np.linalg.inv(scale_matrix(0.5)))
    edges = np.array([[-0.5, -0.5], [319.5, 239.5]])
    np.testing.assert_allclose(apply_points(m, edges), [[-0.5, -0.5], [639.5, 479.5]])
    # Another crop at the same resolution: centred, not scaled.
    m = canvas_transform((400, 500), (480, 640))
    np.testing.assert_allclose(m[:2, :2], np.eye(2))
    np.testing.assert_allclose(apply_points(m, np.array([[249.5, 199.5]])), [[319.5, 239.5]])
    np.testing.assert_allclose(canvas_transform((480, 640), (480, 640)), np.eye(3))
    # rescale_transform keeps identity for the identity.
    np.testing.assert_allclose(rescale_transform(np.eye(3), 0.25), np.eye(3))
