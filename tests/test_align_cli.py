"""``mffgui align``: aligned frames on disk, bit depth kept, transforms saved and re-used."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mffgui.cli import main
from mffgui.core.align import apply_alignment, estimate_alignment
from mffgui.core.align_geometry import corner_error
from mffgui.types import Stack
from tests.test_align import BASE, H, W, make_stack, true_matrix


@pytest.fixture
def stack_dir(tmp_path):
    stack, motions = make_stack("similarity", n=3, seed=21, dtype=np.uint16)
    d = tmp_path / "shots"
    d.mkdir()
    for i in range(3):
        g = np.round(stack.frame(i)[:, :, 0] * 65535).astype(np.uint16)
        assert cv2.imwrite(str(d / f"img{i + 1}.png"), g)
    return d, motions


@pytest.mark.slow
def test_align_writes_frames_with_source_bit_depth(stack_dir, tmp_path, capsys):
    d, motions = stack_dir
    out = tmp_path / "aligned"
    js = tmp_path / "t.json"
    rc = main(["align", str(d), "-o", str(out), "--save-transforms", str(js)])
    assert rc == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == ["img1.png", "img2.png", "img3.png"]
    imgs = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files]
    assert all(i.dtype == np.uint16 for i in imgs)
    assert len({i.shape for i in imgs}) == 1
    assert imgs[0].shape[0] < H
    printed = capsys.readouterr().out
    assert "reference" in printed
    assert "img2.png" in printed
    data = json.loads(js.read_text())
    m = np.array(data["frames"][0]["matrix"])
    assert np.sqrt(np.mean(corner_error(m, true_matrix(motions, 0, 1), W, H) ** 2)) <= 0.3
    # Aligned frames agree with each other far better than the sources do.
    a, b = (i.astype(np.float64) for i in (imgs[0], imgs[1]))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9

    # Re-using the saved transforms writes the same pixels.
    out2 = tmp_path / "again"
    assert main(["align", str(d), "-o", str(out2), "--transforms", str(js)]) == 0
    for f in files:
        np.testing.assert_array_equal(
            cv2.imread(str(out2 / f.name), cv2.IMREAD_UNCHANGED),
            cv2.imread(str(f), cv2.IMREAD_UNCHANGED),
        )


def test_align_no_crop_writes_valid_mask(stack_dir, tmp_path):
    d, _ = stack_dir
    out = tmp_path / "full"
    assert (
        main(
            [
                "align",
                str(d),
                "-o",
                str(out),
                "--no-crop",
                "--model",
                "translation",
                "--reference",
                "2",
                "--interpolation",
                "cubic",
            ]
        )
        == 0
    )
    img = cv2.imread(str(out / "img1.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "valid_mask.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (H, W)
    assert mask.shape == (H, W)
    assert 0 < (mask > 0).mean() < 1


def test_align_errors_are_clear(stack_dir, tmp_path, capsys):
    d, _ = stack_dir
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["align", str(d), "-o", str(tmp_path / "o"), "--transforms", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["align", str(d), "-o", str(tmp_path / "o"), "--reference", "0"]) == 2
    assert "start at 1" in capsys.readouterr().err
    assert main(["align", str(d), "-o", str(tmp_path / "o"), "--reference", "9"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_fuse_with_align_option_removes_ghosting(tmp_path):
    sharp, motions = make_stack("similarity", n=3, seed=23, blur=[0.0, 0.0, 0.0])
    d = tmp_path / "shots"
    d.mkdir()
    frames = []
    for i in range(3):
        # Frame i is in focus only in the i-th third of the picture: a real multi-focus stack.
        f = sharp.frame(i)[:, :, 0]
        band = np.zeros((H, W), np.float32)
        band[:, i * W // 3 : (i + 1) * W // 3] = 1
        band = cv2.GaussianBlur(band, (0, 0), 8)
        frames.append(band * f + (1 - band) * cv2.GaussianBlur(f, (0, 0), 3))
        assert cv2.imwrite(str(d / f"img{i + 1}.png"), np.round(frames[-1] * 255).astype(np.uint8))
    stack = Stack.from_arrays(frames)
    # What the reference frame's view of the scene looks like, all sharp.
    truth = cv2.warpPerspective(
        BASE, motions[1], (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    )

    def ncc(a, b):
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    assert main(["fuse", str(d), "-o", str(tmp_path / "plain.png"), "--align", "off"]) == 0
    assert main(["fuse", str(d), "-o", str(tmp_path / "aligned.png"), "--align", "similarity"]) == 0
    plain = cv2.imread(str(tmp_path / "plain.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    fused = cv2.imread(str(tmp_path / "aligned.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    assert fused.shape[0] < H
    assert fused.shape[1] < W
    rep = estimate_alignment(stack)
    box = apply_alignment(stack, rep).box
    assert fused.shape == (box[3] - box[1], box[2] - box[0])
    crop = truth[box[1] : box[3], box[0] : box[2]]
    assert ncc(fused, crop) > 0.95
    assert ncc(fused, crop) > ncc(plain[box[1] : box[3], box[0] : box[2]], crop) + 0.05


def test_compare_takes_the_align_options_of_fuse(stack_dir, tmp_path, capsys):
    d, _ = stack_dir
    grid = tmp_path / "grid.png"
    assert (
        main(
            [
                "compare",
                str(d),
                "--methods",
                "laplacian",
                "depthmap",
                "-o",
                str(grid),
                "--metrics",
                "QG",
                "--align",
                "similarity",
                "--align-interpolation",
                "cubic",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "compare: aligned 3 of 3 frames (similarity, cubic" in err
    assert "cropped to" in err
    assert grid.is_file()
    assert grid.with_suffix(".md").is_file()
    # The same option set as fuse's, from the one add_align_option.
    from mffgui.cli import build_parser

    parser = build_parser()
    ns = parser.parse_args(
        [
            "compare",
            "x",
            "-o",
            "g.png",
            "--align",
            "affine",
            "--align-no-crop",
            "--align-interpolation",
            "lanczos",
        ]
    )
    assert (ns.align, ns.align_no_crop, ns.align_interpolation) == ("affine", True, "lanczos")


def test_fuse_align_no_crop_keeps_the_full_frame(stack_dir, tmp_path, capsys):
    d, _ = stack_dir
    out = tmp_path / "full.png"
    assert (
        main(
            [
                "fuse",
                str(d),
                "-o",
                str(out),
                "--align",
                "similarity",
                "--align-no-crop",
                "--align-interpolation",
                "cubic",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "(similarity, cubic" in err
    assert "full size" in err
    fused = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert fused.shape[:2] == (H, W)
    cropped = tmp_path / "cropped.png"
    assert main(["fuse", str(d), "-o", str(cropped), "--align", "similarity"]) == 0
    small = cv2.imread(str(cropped), cv2.IMREAD_UNCHANGED)
    assert small.shape[0] < H
    assert small.shape[1] < W
