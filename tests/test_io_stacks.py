"""Discovering and reading stacks: ordering, skipping, validation errors, laziness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import mffgui.io.stacks as stacks_mod
from mffgui.errors import CorruptImage, StackMismatch, TooFewImages, UnsupportedImage
from mffgui.io.stacks import discover, natural_key, read_stack
from tests.conftest import shared_path

RNG = np.random.default_rng(7)


def _png(path: Path, h: int = 12, w: int = 16, gray: bool = False) -> np.ndarray:
    raw = RNG.integers(0, 256, size=(h, w) if gray else (h, w, 3), dtype=np.uint8)
    Image.fromarray(raw).save(path)
    return raw


def test_natural_key_orders_numbers_by_value():
    names = ["img10.png", "img2.png", "IMG1.png", "img1b.png", "img02x.png"]
    assert sorted(names, key=natural_key) == [
        "IMG1.png",
        "img1b.png",
        "img2.png",
        "img02x.png",
        "img10.png",
    ]


def test_folder_natural_sort_skips_and_ground_truth(tmp_path):
    for name in ["img10.png", "img2.png", "img1.png"]:
        _png(tmp_path / name)
    (tmp_path / "notes.txt").write_text("exposure notes")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "scene_groundtruth.png")
    d = discover(tmp_path)
    assert [p.name for p, _ in d.frames] == ["img1.png", "img2.png", "img10.png"]
    assert sorted(p.name for p, _ in d.skipped) == ["data.csv", "notes.txt", "sub"]
    assert all(reason for _, reason in d.skipped)
    assert [p.name for p in d.ground_truth] == ["scene_groundtruth.png"]
    stack = read_stack(tmp_path)
    assert len(stack) == 3
    assert any("notes.txt" in n for n in stack.notes)
    assert any("groundtruth" in n for n in stack.notes)


def test_files_and_folders_mixed_and_deduplicated(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    for i in (1, 2):
        _png(a / f"f{i}.png")
    extra = tmp_path / "z_extra.png"
    _png(extra)
    d = discover([a, a / "f2.png", extra, str(a / "f1.png")])
    assert [p.name for p, _ in d.frames] == ["f1.png", "f2.png", "z_extra.png"]


def test_sort_false_keeps_given_order(tmp_path):
    paths = [tmp_path / "b.png", tmp_path / "a.png"]
    for p in paths:
        _png(p)
    assert [p.name for p, _ in discover(paths, sort=False).frames] == ["b.png", "a.png"]
    assert [p.name for p, _ in discover(paths).frames] == ["a.png", "b.png"]


def test_multipage_tiff_expands_to_pages(tmp_path):
    pages = RNG.integers(0, 65536, size=(4, 10, 12), dtype=np.uint16)
    path = tmp_path / "zstack.tif"
    with tifffile.TiffWriter(path) as tw:
        for p in pages:
            tw.write(p, photometric="minisblack")
    stack = read_stack(path)
    assert len(stack) == 4
    assert stack.bit_depth == 16
    assert stack.channels == 1
    for i in range(4):
        np.testing.assert_array_equal(
            np.rint(stack.frame(i)[:, :, 0] * 65535).astype(np.uint16), pages[i]
        )
    assert stack.names == [f"zstack.tif [{i}]" for i in range(1, 5)]


def test_single_image_is_too_few(tmp_path):
    p = tmp_path / "only.png"
    _png(p)
    with pytest.raises(TooFewImages, match="at least two") as exc:
        read_stack(p)
    assert exc.value.path == p
    assert "only.png" in str(exc.value)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(TooFewImages, match="no images found") as exc:
        read_stack(tmp_path)
    assert exc.value.path == tmp_path
    assert "skipped 1 non-image" in str(exc.value)


def test_size_mismatch_lists_sizes_and_suggests_alignment(tmp_path):
    _png(tmp_path / "a.png", 12, 16)
    _png(tmp_path / "b.png", 12, 16)
    _png(tmp_path / "c.png", 20, 30)
    with pytest.raises(StackMismatch) as exc:
        read_stack(tmp_path)
    msg = str(exc.value)
    assert "16x12: a.png, b.png" in msg
    assert "30x20: c.png" in msg
    assert "lign" in msg
    assert "crop" in msg.lower()
    assert exc.value.path == tmp_path / "c.png"


def test_mixed_gray_and_colour_promoted_with_note(tmp_path):
    gray = _png(tmp_path / "a.png", gray=True)
    _png(tmp_path / "b.png")
    stack = read_stack(tmp_path)
    assert stack.channels == 3
    f0 = stack.frame(0)
    assert f0.shape == (12, 16, 3)
    for c in range(3):
        np.testing.assert_array_equal(f0[:, :, c], gray / np.float32(255))
    assert any("promoted to colour" in n and "a.png" in n for n in stack.notes)


def test_explicit_non_image_file_is_an_error(tmp_path):
    _png(tmp_path / "a.png")
    bad = tmp_path / "b.png"
    bad.write_text("not really a png")
    with pytest.raises(UnsupportedImage) as exc:
        read_stack([tmp_path / "a.png", bad])
    assert exc.value.path == bad


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(UnsupportedImage, match="not found"):
        discover(tmp_path / "missing")


def test_empty_file_in_folder_is_skipped_with_reason(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"")
    d = discover(tmp_path)
    assert [p.name for p, _ in d.frames] == ["a.png", "b.png"]
    assert d.skipped == [(tmp_path / "c.png", "the file is empty (0 bytes)")]


def test_truncated_frame_raises_on_read(tmp_path):
    _png(tmp_path / "a.png", 64, 64)
    b = tmp_path / "b.png"
    _png(b, 64, 64)
    b.write_bytes(b.read_bytes()[:-40])
    stack = read_stack(tmp_path, cache_bytes=0)
    with pytest.raises(CorruptImage) as exc:
        stack.frame(1)
    assert exc.value.path == b


def test_frames_are_reread_lazily(tmp_path, monkeypatch):
    for i in range(3):
        _png(tmp_path / f"f{i}.png")
    calls: list[Path] = []
    real = stacks_mod.read_image

    def counting(path, page=None):
        calls.append(Path(path))
        return real(path, page)

    monkeypatch.setattr(stacks_mod, "read_image", counting)
    stack = read_stack(tmp_path, cache_bytes=0)
    assert calls == []  # only headers were probed
    stack.frame(1)
    stack.frame(1)
    assert [p.name for p in calls] == ["f1.png", "f1.png"]
    calls.clear()
    cached = read_stack(tmp_path, cache_bytes=10 * 2**20)
    cached.frame(2)
    cached.frame(2)
    assert [p.name for p in calls] == ["f2.png"]


def test_file_changed_on_disk_is_reported(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    stack = read_stack(tmp_path, cache_bytes=0)
    _png(tmp_path / "b.png", 30, 40)
    with pytest.raises(StackMismatch, match="changed on disk"):
        stack.frame(1)


# --- shared stacks ----------------------------------------------------------------------------


@pytest.mark.shared
def test_dfnn_stack_reads_sorted_and_16bit():
    folder = shared_path("data", "stacks", "dfnn-microtubules-16bit")
    stack = read_stack(folder, cache_bytes=0)
    assert len(stack) == 31
    assert stack.shape == (800, 512)
    assert stack.channels == 1
    assert stack.bit_depth == 16
    names = [m.path.name for m in stack.metas]
    assert names == sorted(names)
    raw = tifffile.imread(stack.metas[7].path)
    np.testing.assert_array_equal(np.rint(stack.frame(7)[:, :, 0] * 65535).astype(np.uint16), raw)


@pytest.mark.shared
def test_edf_multipage_is_one_stack():
    stack = read_stack(shared_path("data", "stacks", "edf-skeleton-zeiss"))
    assert len(stack) == 3
    assert stack.shape == (116, 170)
    assert stack.channels == 3


@pytest.mark.shared
def test_lytro_pair_and_triple():
    pair = read_stack(shared_path("data", "lytro", "lytro_01"))
    assert [m.path.name for m in pair.metas] == ["lytro_01_A.jpg", "lytro_01_B.jpg"]
    triple = read_stack(shared_path("data", "lytro", "lytro_triple_01"))
    assert [m.path.name[-5] for m in triple.metas] == ["A", "B", "C"]


@pytest.mark.shared
def test_nyud_ground_truth_excluded():
    stack = read_stack(shared_path("data", "nyud-synthetic", "nyud_001"))
    assert len(stack) == 2
    assert all("groundtruth" not in m.path.name for m in stack.metas)
