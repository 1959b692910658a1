"""Synthetic training pairs, losses and schedule helpers of ``training/``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mffgui.training.common import EventLog, best_path, lr_at
from mffgui.training.datasets import (
    PairConfig,
    SyntheticPairs,
    find_real_pairs,
    list_images,
    make_pair,
    random_focus_mask,
    split_holdout,
)
from mffgui.training.losses import dice_loss, soft_qabf


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    img = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 1.0)
    return (img - img.min()) / (img.max() - img.min() + 1e-6)


def test_masks_are_binary_varied_and_not_only_rectangles():
    rng = np.random.default_rng(3)
    masks = [random_focus_mask(rng, 96) for _ in range(40)]
    non_rect = 0
    for m in masks:
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert 0.1 <= m.mean() <= 0.9
        fg = m if m.mean() <= 0.5 else 1 - m
        ys, xs = np.nonzero(fg)
        bbox = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        if fg.sum() < 0.97 * bbox:  # a rectangle fills its bounding box
            non_rect += 1
    assert non_rect >= 30
    # Varied: no two masks are the same.
    flat = {m.tobytes() for m in masks}
    assert len(flat) == len(masks)


def test_mask_is_a_function_of_the_generator_state():
    a = random_focus_mask(np.random.default_rng(11), 64)
    b = random_focus_mask(np.random.default_rng(11), 64)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(12))
def test_pair_sources_are_sharp_where_the_label_says(seed):
    rng = np.random.default_rng(seed)
    sharp = _texture(rng, 96)
    cfg = PairConfig(noise_p=0.0, offset_p=0.0, erase_p=0.0, swap_p=0.5)
    a, b, label = make_pair(rng, sharp, cfg)
    # Far from the region boundary (the bleed of a blurred occluder reaches ~3 sigma), the
    # label's source is the untouched sharp image and the other source is blurred.
    k = np.ones((27, 27), np.uint8)
    inside = cv2.erode(label.astype(np.uint8), k).astype(bool)
    outside = cv2.erode((1 - label).astype(np.uint8), k).astype(bool)
    if inside.sum() > 0:
        np.testing.assert_allclose(a[inside], sharp[inside], atol=2e-3)
        assert np.abs(b[inside] - sharp[inside]).mean() > 0.01
    if outside.sum() > 0:
        np.testing.assert_allclose(b[outside], sharp[outside], atol=2e-3)
        assert np.abs(a[outside] - sharp[outside]).mean() > 0.01


def test_augmented_pairs_stay_in_range():
    rng = np.random.default_rng(0)
    cfg = PairConfig(noise_p=1.0, offset_p=1.0, erase_p=1.0)
    for _ in range(5):
        a, b, label = make_pair(rng, _texture(rng, 64), cfg)
        assert a.dtype == b.dtype == label.dtype == np.float32
        assert a.min() >= 0
        assert a.max() <= 1
        assert b.min() >= 0
        assert b.max() <= 1


def _write_images(folder: Path, n: int, size: int = 48) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    paths = []
    for i in range(n):
        p = folder / f"img_{i:02d}.png"
        cv2.imwrite(str(p), (_texture(rng, size) * 255).astype(np.uint8))
        paths.append(p)
    return paths


def test_batches_depend_only_on_seed_epoch_step(tmp_path):
    paths = _write_images(tmp_path / "sharp", 3)
    ds = SyntheticPairs(paths, 32)
    x1 = ds.batch(7, 2, 5, 4)
    x2 = SyntheticPairs(paths, 32).batch(7, 2, 5, 4)
    for u, v in zip(x1, x2, strict=True):
        assert u.shape == (4, 1, 32, 32)
        np.testing.assert_array_equal(u, v)
    other = ds.batch(7, 2, 6, 4)
    assert not np.array_equal(x1[0], other[0])
    assert not np.array_equal(x1[0], ds.batch(8, 2, 5, 4)[0])


def test_list_images_skips_ground_truth_and_reports_missing(tmp_path):
    _write_images(tmp_path / "d", 2)
    cv2.imwrite(str(tmp_path / "d" / "x_groundtruth.png"), np.zeros((8, 8), np.uint8))
    found = list_images([tmp_path / "d"])
    assert [p.name for p in found] == ["img_00.png", "img_01.png"]
    from mffgui.errors import MffError

    with pytest.raises(MffError, match="not found"):
        list_images([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MffError, match="no images"):
        list_images([tmp_path / "empty"])


def test_holdout_split_is_disjoint_and_stable(tmp_path):
    paths = [tmp_path / f"p{i}.png" for i in range(200)]
    train, held = split_holdout(paths, 0.1)
    assert set(train).isdisjoint(held)
    assert len(train) + len(held) == 200
    assert 5 <= len(held) <= 40
    _train2, held2 = split_holdout(list(reversed(paths)), 0.1)
    assert set(held2) == set(held)
    # Tiny sets still give both parts.
    t, h = split_holdout(paths[:3], 0.05)
    assert t
    assert h


def test_find_real_pairs_both_layouts(tmp_path):
    img = np.zeros((8, 8), np.uint8)
    for name in ("s1_A.png", "s1_B.png", "s2_A.jpg", "s2_B.jpg", "lonely_A.png"):
        cv2.imwrite(str(tmp_path / name), img)
    sub = tmp_path / "scene3"
    sub.mkdir()
    for name in ("f1.png", "f2.png", "f3.png"):
        cv2.imwrite(str(sub / name), img)
    pairs = find_real_pairs(tmp_path)
    assert [(s, a.name, b.name) for s, a, b in pairs] == [
        ("s1", "s1_A.png", "s1_B.png"),
        ("s2", "s2_A.jpg", "s2_B.jpg"),
        ("scene3", "f1.png", "f2.png"),
    ]


def test_dice_loss_matches_formula():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(3, 1, 16, 16, generator=g)
    target = (torch.rand(3, 1, 16, 16, generator=g) > 0.5).float()
    p, t = pred.numpy(), target.numpy()
    ref = np.mean(
        [
            1 - (2 * (p[i] * t[i]).sum() + 1) / ((p[i] ** 2).sum() + (t[i] ** 2).sum() + 1)
            for i in range(3)
        ]
    )
    assert dice_loss(pred, target).item() == pytest.approx(ref, rel=1e-5)
    assert dice_loss(target, target).item() == pytest.approx(0.0, abs=1e-7)
    assert dice_loss(1 - target, target).item() > 0.99


def test_soft_qabf_equals_the_metric_and_has_finite_gradients():
    from mffgui.metrics import gradient

    rng = np.random.default_rng(1)
    a = _texture(rng, 64).astype(np.float64) * 255
    b = cv2.GaussianBlur(a, (0, 0), 2.0)
    f = 0.5 * (a + b)
    ref = gradient.qabf([a, b], f)

    def t(x):
        return torch.from_numpy(x)[None, None]

    assert soft_qabf(t(a), t(b), t(f)).item() == pytest.approx(ref, abs=1e-6)
    # Best possible fusion of a pair where a is the sharp one keeps a's edges.
    assert soft_qabf(t(a), t(b), t(a)).item() > ref
    fused = t(f / 255).float().requires_grad_(True)
    q = soft_qabf(t(a / 255).float(), t(b / 255).float(), fused)
    q.sum().backward()
    assert torch.isfinite(fused.grad).all()
    assert fused.grad.abs().sum() > 0


def test_soft_qabf_gradient_is_finite_on_flat_images():
    flat = torch.full((1, 1, 16, 16), 0.5, dtype=torch.float32, requires_grad=True)
    q = soft_qabf(flat, flat.detach().clone(), flat)
    q.sum().backward()
    assert torch.isfinite(q).all()
    assert torch.isfinite(flat.grad).all()


def test_lr_schedule_and_best_path():
    cfg = {"lr": 1e-3, "lr_decay": 0.5, "lr_step": 2}
    assert [lr_at(cfg, e) for e in range(5)] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])
    assert best_path("/x/run.pt") == Path("/x/run.best.pt")


def test_event_log_jsonl(capsys):
    import json

    EventLog(jsonl=True).emit("step", loss=0.5, extra={"a": 1})
    rec = json.loads(capsys.readouterr().out)
    assert rec["event"] == "step"
    assert rec["loss"] == 0.5
    assert rec["extra"] == {"a": 1}


def test_training_refuses_webp_like_the_app(tmp_path):
    """Training lists and reads the files mffgui.io reads; a WebP file is named, not skipped."""
    from mffgui.errors import UnsupportedImage
    from mffgui.training.datasets import list_images, read_rgb_float

    webp = tmp_path / "shot.webp"
    webp.write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(16))
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(UnsupportedImage, match="WebP") as info:
        list_images([tmp_path])
    assert info.value.path == webp
    with pytest.raises(UnsupportedImage):
        read_rgb_float(webp)
