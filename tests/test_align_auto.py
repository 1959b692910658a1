"""Align "Auto" (issue 18): the motion check, still stacks left alone, moved and resized frames
aligned, and what the CLI says about it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mffgui.cli import main
from mffgui.core.align_auto import align_for_fusion
from mffgui.core.align_geometry import corner_error, decompose, scale_matrix
from mffgui.core.align_motion import check_motion
from mffgui.errors import AlignmentError, StackMismatch
from mffgui.io import read_stack
from mffgui.types import Stack
from tests.test_align import BASE, PAD, H, W, texture

SCALE, SHIFT = 1.03, 20.0


def view(
    scale: float = 1.0, dx: float = 0.0, dy: float = 0.0, blur: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A frame of ``BASE`` magnified by ``scale`` about the frame centre and moved by
    ``(dx, dy)``; returns it with its frame -> base map."""
    a = np.diag([scale, scale, 1.0])
    centre = np.array([[1, 0, -W / 2], [0, 1, -H / 2], [0, 0, 1.0]])
    back = np.array([[1, 0, W / 2 + PAD + dx], [0, 1, H / 2 + PAD + dy], [0, 0, 1.0]])
    g = back @ a @ centre
    f = cv2.warpPerspective(BASE, g, (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    if blur > 0:
        f = cv2.GaussianBlur(f, (0, 0), blur)
    return np.clip(f, 0, 1).astype(np.float32), g


def focus_stack(
    moves: list[tuple[float, float, float]],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames in focus in one third each (a real multi-focus stack), one motion per frame."""
    frames, maps = [], []
    for i, (s, dx, dy) in enumerate(moves):
        sharp, g = view(s, dx, dy)
        soft = cv2.GaussianBlur(sharp, (0, 0), 3)
        band = np.zeros((H, W), np.float32)
        band[:, i * W // 3 : (i + 1) * W // 3] = 1
        band = cv2.GaussianBlur(band, (0, 0), 8)
        frames.append(band * sharp + (1 - band) * soft)
        maps.append(g)
    return frames, maps


def write(folder, frames) -> None:
    folder.mkdir()
    for i, f in enumerate(frames):
        assert cv2.imwrite(str(folder / f"img{i + 1}.png"), np.round(f * 255).astype(np.uint8))


STILL = [(1.0, 0.0, 0.0)] * 3
MOVED = [(1.0, 0.0, 0.0), (1.0, 0.0, 0.0), (SCALE, SHIFT, 0.0)]


def test_still_stack_is_not_moved_and_moved_one_is():
    still, _ = focus_stack(STILL)
    check = check_motion(Stack.from_arrays(still))
    assert not check.moved
    assert check.displacement <= 1.0
    moved, maps = focus_stack(MOVED)
    check = check_motion(Stack.from_arrays(moved))
    assert check.moved
    assert check.frame == 2
    # The check's estimate agrees with the generating motion (frame 3 -> frame 2).
    truth = decompose(np.linalg.inv(maps[1]) @ maps[2], W, H)
    assert check.scale == pytest.approx(truth.scale, abs=0.005)
    assert (check.dx, check.dy) == (
        pytest.approx(truth.dx, abs=1.0),
        pytest.approx(truth.dy, abs=1.0),
    )
    assert "moved by up to" in check.reason


def test_unrelated_frames_do_not_count_as_moved():
    # Chance peaks between unrelated images must not trigger alignment.
    frames = [texture(H, W, seed) for seed in (31, 32, 33)]
    assert not check_motion(Stack.from_arrays(frames)).moved


@pytest.mark.slow
def test_auto_leaves_a_still_stack_bit_identical(tmp_path, capsys):
    frames, _ = focus_stack(STILL)
    write(tmp_path / "still", frames)
    assert main(["fuse", str(tmp_path / "still"), "-o", str(tmp_path / "auto.png")]) == 0
    err = capsys.readouterr().err
    assert "auto: no motion" in err
    assert "not aligned" in err
    assert (
        main(["fuse", str(tmp_path / "still"), "-o", str(tmp_path / "off.png"), "--align", "off"])
        == 0
    )
    assert "auto:" not in capsys.readouterr().err
    auto = cv2.imread(str(tmp_path / "auto.png"), cv2.IMREAD_UNCHANGED)
    off = cv2.imread(str(tmp_path / "off.png"), cv2.IMREAD_UNCHANGED)
    assert auto.shape == off.shape == (H, W)
    assert np.array_equal(auto, off)
    stack = Stack.from_arrays(frames)
    outcome = align_for_fusion(stack, "auto")
    assert outcome.stack is stack
    assert outcome.report is None


def test_auto_aligns_scale_and_shift(tmp_path, capsys):
    frames, maps = focus_stack(MOVED)
    outcome = align_for_fusion(Stack.from_arrays(frames), "auto")
    assert outcome.aligned
    assert outcome.model == "similarity"
    ref = outcome.report.reference
    for i, f in enumerate(outcome.report.frames):
        truth = np.linalg.inv(maps[ref]) @ maps[i]
        err = corner_error(f.matrix, truth, W, H)
        assert float(np.sqrt(np.mean(err**2))) <= 0.3
    write(tmp_path / "moved", frames)
    assert main(["fuse", str(tmp_path / "moved"), "-o", str(tmp_path / "auto.png")]) == 0
    err = capsys.readouterr().err
    assert "auto: frame 3 (img3.png) moved by up to" in err
    assert "aligned 3 of 3 frames (similarity" in err
    fused = cv2.imread(str(tmp_path / "auto.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    box = outcome.stack.box
    assert fused.shape == (box[3] - box[1], box[2] - box[0])
    # The reference frame's view of the scene, all sharp: the aligned fusion matches it.
    truth = view()[0][box[1] : box[3], box[0] : box[2]]
    assert np.corrcoef(fused.ravel(), truth.ravel())[0, 1] > 0.95


def test_compare_aligns_automatically_too(tmp_path, capsys):
    frames, _ = focus_stack(MOVED)
    write(tmp_path / "moved", frames)
    assert (
        main(
            [
                "compare",
                str(tmp_path / "moved"),
                "--methods",
                "depthmap",
                "-o",
                str(tmp_path / "grid.png"),
                "--metrics",
                "QG",
            ]
        )
        == 0
    )
    assert "compare: auto: frame 3" in capsys.readouterr().err


def half_resolution_stack(tmp_path, unrelated: bool = False):
    """Three frames; the third at half resolution (or, ``unrelated``, another scene)."""
    frames, _ = focus_stack([(1.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 4.0, -3.0)])
    if unrelated:
        frames[2] = texture(H, W, seed=99)
    frames[2] = cv2.resize(frames[2], (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    write(tmp_path / "mixed", frames)
    return tmp_path / "mixed"


def test_a_frame_at_half_resolution_fuses_with_auto(tmp_path, capsys):
    folder = half_resolution_stack(tmp_path)
    assert main(["fuse", str(folder), "-o", str(tmp_path / "auto.png")]) == 0
    err = capsys.readouterr().err
    assert "img3.png) is 240x180, the reference frame 2 (img2.png) is 480x360" in err
    assert "aligned 3 of 3 frames (similarity" in err
    fused = cv2.imread(str(tmp_path / "auto.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    assert fused.shape[0] > 0.9 * H
    assert fused.shape[1] > 0.9 * W
    stack = read_stack(folder, mixed_sizes=True)
    outcome = align_for_fusion(stack, "auto")
    f = outcome.report.frames[2]
    assert f.size == (W // 2, H // 2)
    # Half-resolution pixel -> full-resolution pixel, then the frame's (4, -3) px view offset.
    move = np.array([[1, 0, 4.0], [0, 1, -3.0], [0, 0, 1]])
    truth = move @ np.linalg.inv(scale_matrix(0.5))
    err = corner_error(f.matrix, truth, W // 2, H // 2)
    assert float(np.sqrt(np.mean(err**2))) <= 0.3
    # Off keeps today's rule: one size, the error names the odd file.
    with pytest.raises(StackMismatch, match=r"img3\.png"):
        read_stack(folder)
    assert main(["fuse", str(folder), "-o", str(tmp_path / "off.png"), "--align", "off"]) != 0
    assert "img3.png" in capsys.readouterr().err


def test_a_frame_of_another_size_that_cannot_be_aligned_is_named(tmp_path):
    stack = read_stack(half_resolution_stack(tmp_path, unrelated=True), mixed_sizes=True)
    with pytest.raises(AlignmentError, match=r"img3\.png.*240x180.*could not be aligned"):
        align_for_fusion(stack, "auto")


def test_auto_fuses_unaligned_when_aligning_fails_as_a_whole(monkeypatch):
    # Frames the check believes moved but registration rejects: Auto falls back to "off"
    # (an explicit model keeps the error).
    import mffgui.core.align_auto as auto
    from mffgui.errors import TooFewImages

    frames, _ = focus_stack(MOVED)
    stack = Stack.from_arrays(frames)

    def failing(*_args, **_kwargs):
        raise TooFewImages("only 1 frame(s) aligned; frame 3 failed: test")

    monkeypatch.setattr(auto, "align_stack", failing)
    outcome = align_for_fusion(stack, "auto")
    assert outcome.stack is stack
    assert not outcome.aligned
    assert "aligning failed (only 1 frame(s) aligned" in outcome.summary()
    assert outcome.summary().endswith("not aligned")
    with pytest.raises(TooFewImages):
        align_for_fusion(stack, "similarity")


def test_align_command_and_json_keep_frames_of_another_size(tmp_path, capsys):
    from mffgui.core.align import AlignmentReport

    folder = half_resolution_stack(tmp_path)
    out = tmp_path / "aligned"
    rig = tmp_path / "rig.json"
    assert main(["align", str(folder), "-o", str(out), "--save-transforms", str(rig)]) == 0
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == ["img1.png", "img2.png", "img3.png"]
    shapes = {cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[:2] for p in written}
    assert len(shapes) == 1  # all on the reference frame's grid, cropped alike
    report = AlignmentReport.from_json(rig)
    assert report.frames[2].size == (W // 2, H // 2)
    assert report.frames[0].size is None
    direct = align_for_fusion(read_stack(folder, mixed_sizes=True), "similarity").report
    np.testing.assert_allclose(report.frames[2].matrix, direct.frames[2].matrix, atol=1e-6)
    # Re-using the transforms on the same stack works; the size is checked per frame.
    assert (
        main(["align", str(folder), "-o", str(tmp_path / "again"), "--transforms", str(rig)]) == 0
    )
