"""Alignment on synthetic stacks whose true transforms are known."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mffgui.core.align import (
    AlignedStack,
    AlignmentReport,
    align_stack,
    apply_alignment,
    estimate_alignment,
)
from mffgui.core.align_geometry import corner_error, decompose, largest_rectangle
from mffgui.core.progress import CancelToken
from mffgui.errors import AlignmentError, Cancelled, StackMismatch, TooFewImages
from mffgui.io.transforms import save_transforms
from mffgui.types import Stack

H, W = 360, 480
PAD = 120


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Multi-scale noise with some hard edges: detail at every scale, nothing periodic."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w), np.float32)
    for s in (2, 4, 8, 16, 32, 64):
        n = rng.standard_normal((h // s + 2, w // s + 2)).astype(np.float32)
        img += cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w] * np.sqrt(s)
    for _ in range(25):
        x, y = rng.integers(0, w - 40), rng.integers(0, h - 40)
        img[y : y + rng.integers(10, 40), x : x + rng.integers(10, 40)] += rng.normal(0, 6)
    return (img - img.min()) / (img.max() - img.min())


BASE = texture(H + 2 * PAD, W + 2 * PAD, seed=1)


def motion(rng, model: str) -> np.ndarray:
    """Frame -> base coordinates: shift ±40 px, scale ±8 %, rotation ±2°, mild perspective."""
    dx, dy = rng.uniform(-40, 40, 2)
    s = 1.0 if model == "translation" else 1 + rng.uniform(-0.08, 0.08)
    th = 0.0 if model == "translation" else np.radians(rng.uniform(-2, 2))
    a = np.array(
        [[s * np.cos(th), -s * np.sin(th), 0], [s * np.sin(th), s * np.cos(th), 0], [0, 0, 1]]
    )
    if model in ("affine", "homography"):
        a[:2, :2] += rng.uniform(-0.02, 0.02, (2, 2))
    if model == "homography":
        a[2, :2] = rng.uniform(-4e-5, 4e-5, 2)
    centre = np.array([[1, 0, -W / 2], [0, 1, -H / 2], [0, 0, 1]])
    back = np.array([[1, 0, W / 2 + PAD + dx], [0, 1, H / 2 + PAD + dy], [0, 0, 1]])
    return back @ a @ centre


def make_stack(model: str, n: int = 5, seed: int = 0, blur=None, base=BASE, dtype=np.float32):
    """Frames of ``base`` under random motions, each blurred differently; returns truths."""
    rng = np.random.default_rng(seed)
    frames, motions = [], []
    for i in range(n):
        g = motion(rng, model)
        f = cv2.warpPerspective(base, g, (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        sigma = (0.3 + 0.8 * abs(i - n // 2)) if blur is None else blur[i]
        if sigma > 0:
            f = cv2.GaussianBlur(f, (0, 0), sigma)
        frames.append(np.clip(f, 0, 1))
        motions.append(g)
    if dtype == np.uint16:
        frames = [np.round(36 + f * 650).astype(np.uint16) for f in frames]
    return Stack.from_arrays(frames), motions


def true_matrix(motions: list[np.ndarray], i: int, ref: int) -> np.ndarray:
    """Frame ``i`` -> reference frame coordinates, from the generating motions."""
    return np.linalg.inv(motions[ref]) @ motions[i]


def rms_corner_error(report: AlignmentReport, motions, i: int) -> float:
    err = corner_error(report.frames[i].matrix, true_matrix(motions, i, report.reference), W, H)
    return float(np.sqrt(np.mean(err**2)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "seed"), [("translation", 3), ("similarity", 4), ("affine", 5), ("homography", 6)]
)
def test_recovers_known_transforms(model, seed):
    stack, motions = make_stack(model, n=5, seed=seed)
    report = estimate_alignment(stack, model=model)
    assert report.reference == 2
    assert [f.status for f in report.frames] == ["ok", "ok", "reference", "ok", "ok"]
    errors = [rms_corner_error(report, motions, i) for i in range(5)]
    assert max(errors) <= 0.3, errors
    # Unaligned, the corners are tens of pixels off: the check above is not trivially met.
    assert min(rms_corner_error_identity(motions, i, 2) for i in (0, 1, 3, 4)) > 5


@pytest.mark.parametrize(("scale", "degrees"), [(1.2, 12.0), (0.85, -10.0)])
def test_large_scale_and_rotation_changes_are_recovered(scale, degrees):
    # Beyond what phase correlation can start from: the feature-based start is needed.
    th = np.radians(degrees)
    a = np.array(
        [
            [scale * np.cos(th), -scale * np.sin(th), 0],
            [scale * np.sin(th), scale * np.cos(th), 0],
            [0, 0, 1],
        ]
    )
    centre = np.array([[1, 0, -W / 2], [0, 1, -H / 2], [0, 0, 1]])
    motions = [
        np.array([[1, 0, PAD], [0, 1, PAD], [0, 0, 1.0]]),
        np.array([[1, 0, W / 2 + PAD + 30], [0, 1, H / 2 + PAD - 25], [0, 0, 1]]) @ a @ centre,
    ]
    frames = [
        np.clip(
            cv2.warpPerspective(BASE, m, (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP), 0, 1
        )
        for m in motions
    ]
    report = estimate_alignment(Stack.from_arrays(frames), model="similarity", reference=0)
    assert report.frames[1].status == "ok"
    assert rms_corner_error(report, motions, 1) <= 0.3


def test_registration_below_full_resolution_stays_sub_pixel():
    # The finest level at 5/8 size: geometry must be carried between scales exactly.
    stack, motions = make_stack("similarity", n=3, seed=13)
    report = estimate_alignment(stack, model="similarity", max_size=300)
    errors = [rms_corner_error(report, motions, i) for i in range(3)]
    assert max(errors) <= 0.3, errors


def rms_corner_error_identity(motions, i, ref):
    err = corner_error(np.eye(3), true_matrix(motions, i, ref), W, H)
    return float(np.sqrt(np.mean(err**2)))


def test_deep_stack_chain_stays_accurate():
    """Nine frames with smooth focus breathing and strongly blurred ends (chained estimates)."""
    n, ref = 9, 4
    motions, frames = [], []
    for i in range(n):
        s = 1 + 0.01 * (i - ref)
        a = np.diag([s, s, 1.0])
        a[:2, 2] = (
            (W / 2 + PAD + 3 * (i - ref)) - s * W / 2,
            (H / 2 + PAD - 2 * (i - ref)) - s * H / 2,
        )
        f = cv2.warpPerspective(BASE, a, (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        frames.append(np.clip(cv2.GaussianBlur(f, (0, 0), 0.3 + 0.9 * abs(i - ref)), 0, 1))
        motions.append(a)
    report = estimate_alignment(Stack.from_arrays(frames), model="similarity")
    errors = [rms_corner_error(report, motions, i) for i in range(n)]
    assert max(errors) <= 0.3, errors
    total = (
        decompose(report.frames[-1].matrix, W, H).scale
        / decompose(report.frames[0].matrix, W, H).scale
    )
    assert total == pytest.approx(1.04 / 0.96, rel=1e-3)


def test_sixteen_bit_narrow_range_aligns():
    stack, motions = make_stack("similarity", n=3, seed=7, dtype=np.uint16)
    assert stack.bit_depth == 16
    assert float(stack.frame(0).max()) < 0.011  # 36..686 of 65535
    report = estimate_alignment(stack, model="similarity")
    assert all(f.usable for f in report.frames)
    assert max(rms_corner_error(report, motions, i) for i in range(3)) <= 0.3


@pytest.mark.slow
def test_unrelated_and_blank_frames_are_flagged_and_excluded():
    stack, motions = make_stack("similarity", n=5, seed=8)
    frames = [stack.frame(i) for i in range(5)]
    other = texture(H, W, seed=99)[:, :, None]
    frames[1] = other
    frames[4] = np.full((H, W, 1), 0.5, np.float32)
    stack = Stack.from_arrays(frames)
    report = estimate_alignment(stack, model="similarity")
    status = [f.status for f in report.frames]
    assert status[1] in ("failed", "implausible")
    assert status[4] in ("failed", "implausible")
    assert status[0] == "ok"
    assert status[3] == "ok"
    assert report.frames[1].reason
    assert report.frames[4].reason
    # Frame 0 was registered past the failed frame 1, against the reference.
    assert report.frames[0].anchor == 2
    assert rms_corner_error(report, motions, 0) <= 0.3
    aligned = apply_alignment(stack, report)
    assert aligned.indices == (0, 2, 3)
    assert sum("excluded" in note for note in aligned.notes) == 2
    kept = apply_alignment(stack, report, exclude_failed=False)
    assert len(kept) == 5


def test_aligned_frames_match_reference_and_crop_is_the_common_area():
    shifts = [(-6.5, 4.25), (0.0, 0.0), (9.75, -3.5)]
    frames = []
    for dx, dy in shifts:
        # Frame content at x is base content at x + d: the frame maps to reference by +d.
        m = np.array([[1, 0, PAD + dx], [0, 1, PAD + dy]], dtype=np.float64)
        frames.append(cv2.warpAffine(BASE, m, (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP))
    stack = Stack.from_arrays([np.clip(f, 0, 1) for f in frames])
    aligned, report = align_stack(stack, model="translation", interpolation="linear")
    for i, (dx, dy) in enumerate(shifts):
        np.testing.assert_allclose(report.frames[i].matrix[:2, 2], [dx, dy], atol=0.05)
    # Frame i covers reference x in [dx, W - 1 + dx]; the common area is the overlap.
    lo_x = max(0.0, *(dx for dx, _ in shifts))
    hi_x = min(W - 1.0, *(W - 1 + dx for dx, _ in shifts))
    lo_y = max(0.0, *(dy for _, dy in shifts))
    hi_y = min(H - 1.0, *(H - 1 + dy for _, dy in shifts))
    expect = (
        int(np.ceil(lo_x)),
        int(np.ceil(lo_y)),
        int(np.floor(hi_x)) + 1,
        int(np.floor(hi_y)) + 1,
    )
    assert aligned.box == expect
    assert aligned.shape == (expect[3] - expect[1], expect[2] - expect[0])
    assert aligned.valid_mask.all()
    x0, y0, x1, y1 = expect
    ref_crop = stack.frame(1)[y0:y1, x0:x1]
    for i in range(3):
        f = aligned.frame(i)
        assert f.shape == ref_crop.shape
        assert np.abs(f - ref_crop).mean() < 0.01
    # Without the crop: full size, replicated border, a mask of the same common area.
    full = apply_alignment(stack, report, crop=False)
    assert full.shape == (H, W)
    assert full.valid_mask.sum() == (x1 - x0) * (y1 - y0)
    assert full.valid_mask[y0:y1, x0:x1].all()
    f2 = full.frame(2)  # covers reference x >= 9.75: the left border replicates column 0
    src0 = stack.frame(2)[:, 0, 0]
    np.testing.assert_allclose(f2[:, :9, 0], np.repeat(f2[:, :1, 0], 9, axis=1), atol=1e-6)
    rows = np.arange(H - 5)
    # dy = -3.5: output row y shows source row y + 3.5.
    np.testing.assert_allclose(f2[rows, 0, 0], np.interp(rows + 3.5, np.arange(H), src0), atol=0.02)
    assert not full.frame_valid_mask(2)[:, :9].any()
    assert full.frame_valid_mask(2)[: H - 4, 10:].all()
    assert not full.frame_valid_mask(2)[H - 3 :].any()
    assert full.frame_valid_mask(1).all()


def test_largest_rectangle_in_rotated_square():
    # A square rotated by 45°: the largest inscribed axis-aligned rectangle is half its area.
    c, r = 100.0, 70.0
    poly = np.array([[c, c - r], [c + r, c], [c, c + r], [c - r, c]])
    x0, y0, x1, y1 = largest_rectangle(poly, 201, 201)
    assert (x1 - x0) * (y1 - y0) == pytest.approx(2 * r * r / 2, rel=0.03)


@pytest.mark.slow
def test_json_round_trip_reproduces_frames(tmp_path):
    stack, _ = make_stack("homography", n=3, seed=9)
    aligned, report = align_stack(stack, model="homography", interpolation="cubic")
    path = tmp_path / "t.json"
    save_transforms(report, path)
    data = json.loads(path.read_text())
    assert data["model"] == "homography"
    assert len(data["frames"]) == 3
    again = apply_alignment(stack, AlignmentReport.from_json(path), interpolation="cubic")
    assert again.box == aligned.box
    for i in range(3):
        np.testing.assert_array_equal(again.frame(i), aligned.frame(i))
    # Another stack of the same set-up: the transforms apply; a different size does not.
    other, _ = make_stack("homography", n=3, seed=9, blur=[0, 0, 0])
    assert len(apply_alignment(other, AlignmentReport.from_json(path))) == 3
    small = Stack.from_arrays([f[:100, :100] for f in other])
    with pytest.raises(StackMismatch, match="480x360"):
        apply_alignment(small, report)
    with pytest.raises(StackMismatch, match="3 frames"):
        apply_alignment(other.subset([0, 1]), report)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": "other"}',
        '{"format": "mffgui-alignment", "version": 1, '
        '"model": "similarity", "reference": 0, "width": 4, '
        '"height": 4, "frames": [{"matrix": [[1, 0]], '
        '"status": "ok"}]}',
    ],
)
def test_bad_json_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(AlignmentError, match=r"bad\.json"):
        AlignmentReport.from_json(path)
    with pytest.raises(AlignmentError, match="not found"):
        AlignmentReport.from_json(tmp_path / "missing.json")


def test_reference_choice_and_bad_arguments():
    stack, motions = make_stack("translation", n=4, seed=10, blur=[3.0, 2.0, 0.0, 1.5])
    assert estimate_alignment(stack, model="translation", reference="sharpest").reference == 2
    rep = estimate_alignment(stack, model="translation", reference=-1)
    assert rep.reference == 3
    assert rms_corner_error(rep, motions, 0) <= 0.3
    with pytest.raises(AlignmentError, match="out of range"):
        estimate_alignment(stack, reference=4)
    with pytest.raises(AlignmentError, match="unknown alignment model"):
        estimate_alignment(stack, model="rigid")
    with pytest.raises(AlignmentError, match="interpolation"):
        apply_alignment(stack, rep, interpolation="bicubic")
    with pytest.raises(TooFewImages):
        estimate_alignment(stack.subset([0]))
    blank = Stack.from_arrays([stack.frame(0), np.zeros((H, W), np.float32), stack.frame(2)])
    with pytest.raises(AlignmentError, match=r"frame 2 .* no contrast"):
        estimate_alignment(blank)


def test_frames_are_warped_lazily_once_per_read():
    stack, _ = make_stack("translation", n=3, seed=11)
    calls = [0, 0, 0]
    loaders = []
    for i in range(3):

        def load(i=i, f=stack.frame(i)):
            calls[i] += 1
            return f

        loaders.append(load)
    counted = Stack(loaders, stack.metas)
    report = estimate_alignment(counted, model="translation")
    calls[:] = [0, 0, 0]
    aligned = apply_alignment(counted, report)
    assert isinstance(aligned, AlignedStack)
    assert calls == [0, 0, 0]
    aligned.frame(1)
    assert calls == [0, 1, 0]


def test_progress_and_cancel():
    stack, _ = make_stack("translation", n=4, seed=12)
    seen = []
    estimate_alignment(stack, model="translation", progress=lambda d, t, s="": seen.append(d / t))
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        estimate_alignment(stack, cancel=token)
