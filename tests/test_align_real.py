"""Alignment of the two real, unregistered stacks in ../shared (skipped when absent).

The checks are independent of the estimator: tile-wise phase correlation and gradient
correlation between aligned frames (mffgui.core.align_check), and the magnification change that
data/README.md states for each stack.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from mffgui.core.align import apply_alignment, estimate_alignment
from mffgui.core.align_check import gradient_ncc, local_shifts
from mffgui.core.align_geometry import decompose
from mffgui.errors import CorruptImage
from mffgui.types import ImageMeta, Stack

pytestmark = pytest.mark.shared


def read(folder: Path) -> Stack:
    """The stack via mffgui.io; plain OpenCV decoding if the reader rejects the files."""
    from mffgui.io import read_stack

    try:
        stack = read_stack(folder, cache_bytes=0)
        stack.frame(len(stack) // 2)
        return stack
    except CorruptImage:
        files = sorted(folder.glob("*.jpg"))
        h, w = cv2.imread(str(files[0])).shape[:2]

        def loader(f: Path):
            return lambda: (
                cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
            )

        return Stack(
            [loader(f) for f in files],
            [ImageMeta(path=f, width=w, height=h, channels=3) for f in files],
        )


def residuals(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shift magnitudes, in pixels, of the tiles with a clear phase-correlation peak."""
    s = local_shifts(a, b, grid=4, tile=256, max_size=1024)
    keep = s[:, 2] >= 0.3
    return np.hypot(s[keep, 0], s[keep, 1])


@pytest.mark.slow
def test_pcb_scale_and_agreement():
    stack = read(shared_path("data", "stacks", "focusstack-pcb"))
    report = estimate_alignment(stack, model="similarity")
    assert all(f.usable for f in report.frames)
    w, h = report.width, report.height
    # data/README.md: the scale changes by about 4 % across the stack.
    total = (
        decompose(report.frames[-1].matrix, w, h).scale
        / decompose(report.frames[0].matrix, w, h).scale
    )
    assert 1.03 <= total <= 1.05
    aligned = apply_alignment(stack, report)
    x0, y0, x1, y1 = aligned.box
    before, after = [], []
    for i in range(len(stack) - 1):
        a, b = aligned.frame(i), aligned.frame(i + 1)
        ua, ub = (stack.frame(j)[y0:y1, x0:x1] for j in (i, i + 1))
        assert gradient_ncc(a, b) > gradient_ncc(ua, ub)
        before.append(np.median(residuals(ua, ub)))
        after.append(np.median(residuals(a, b)))
    assert np.median(after) < 0.5 * np.median(before)


@pytest.mark.slow
def test_gacn_adjacent_frames_register_within_half_a_pixel():
    stack = read(shared_path("data", "stacks", "gacn-v4-chip-microscope")).subset(
        list(range(28, 35))
    )
    report = estimate_alignment(stack, model="similarity")
    aligned = apply_alignment(stack, report)
    x0, y0, x1, y1 = aligned.box
    for i in range(len(stack) - 1):
        r_after = residuals(aligned.frame(i), aligned.frame(i + 1))
        r_before = residuals(*(stack.frame(j)[y0:y1, x0:x1] for j in (i, i + 1)))
        assert len(r_after) >= 12
        assert np.median(r_after) <= 0.3
        assert r_after.max() <= 0.75
        assert np.median(r_before) >= 0.6


def test_gacn_first_last_magnification():
    stack = read(shared_path("data", "stacks", "gacn-v4-chip-microscope")).subset([0, 32, 64])
    report = estimate_alignment(stack, model="similarity")
    assert all(f.usable for f in report.frames)
    w, h = report.width, report.height
    # data/README.md: magnification changes by about 8 % from the first to the last frame.
    total = (
        decompose(report.frames[0].matrix, w, h).scale
        / decompose(report.frames[2].matrix, w, h).scale
    )
    assert 1.06 <= total <= 1.10
    aligned = apply_alignment(stack, report, crop=False)
    mask = aligned.valid_mask
    full = [stack.frame(i) for i in (0, 2)]
    assert gradient_ncc(aligned.frame(0), aligned.frame(2), mask) > gradient_ncc(*full, mask)
