"""Retouching strokes (mffgui.core.retouch): exact copies, soft edges, undo/redo, re-basing."""

from __future__ import annotations

import numpy as np
import pytest

from mffgui.core.retouch import (
    ERASE,
    RetouchCanvas,
    Retoucher,
    Stroke,
    remap_strokes,
    stroke_alpha,
)

H, W = 40, 50


def _frames(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((H, W, 3)).astype(np.float32) for _ in range(n)]


def _disc(cx: float, cy: float, r: float) -> np.ndarray:
    """Pixels whose centre lies within ``r`` of ``(cx, cy)`` (independent of the module)."""
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def _capsule(p, q, r) -> np.ndarray:
    """Pixels within ``r`` of segment ``p``-``q``, by dense sampling of the segment."""
    out = np.zeros((H, W), bool)
    for t in np.linspace(0, 1, 400):
        out |= _disc(p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]), r)
    return out


def _retoucher(frames, auto=None):
    auto = auto if auto is not None else np.full((H, W, 3), 0.5, np.float32)
    r = Retoucher()
    r.set_base(auto, lambda i: frames[i], [f"f{i}" for i in range(len(frames))])
    return r, auto


def test_hard_stroke_copies_source_exactly_inside_and_nothing_outside():
    frames = _frames()
    r, auto = _retoucher(frames)
    r.begin(1, (20.3, 15.7), radius=6.0)
    r.finish()
    out = r.canvas.compose()
    inside = _disc(20.3, 15.7, 6.0)
    assert inside.sum() > 80
    np.testing.assert_array_equal(out[inside], frames[1][inside])
    np.testing.assert_array_equal(out[~inside], auto[~inside])
    idx = r.canvas.index_map(np.zeros((H, W), np.uint16))
    assert (idx[inside] == 1).all()
    assert (idx[~inside] == 0).all()


def test_dragged_hard_stroke_covers_the_capsule():
    frames = _frames()
    r, auto = _retoucher(frames)
    r.begin(2, (5.0, 5.0), radius=3.0)
    r.extend((30.0, 20.0))
    r.extend((45.0, 35.0))
    s = r.finish()
    assert s is not None
    assert len(s.points) == 3
    out = r.canvas.compose()
    cover = _capsule((5, 5), (30, 20), 3.0) | _capsule((30, 20), (45, 35), 3.0)
    # dense sampling can miss pixels right at the edge: compare away from it
    core = _capsule((5, 5), (30, 20), 2.9) | _capsule((30, 20), (45, 35), 2.9)
    outside = ~(_capsule((5, 5), (30, 20), 3.1) | _capsule((30, 20), (45, 35), 3.1))
    np.testing.assert_array_equal(out[core], frames[2][core])
    np.testing.assert_array_equal(out[outside], auto[outside])
    assert cover.sum() > core.sum() * 0.9


def test_soft_edge_blends_and_opacity_scales():
    frames = [np.zeros((H, W, 1), np.float32), np.ones((H, W, 1), np.float32)]
    r, _ = _retoucher(frames, np.zeros((H, W, 1), np.float32))
    r.begin(1, (25.0, 20.0), radius=10.0, hardness=0.5, opacity=0.8)
    r.finish()
    out = r.canvas.compose()[:, :, 0]
    yy, xx = np.mgrid[0:H, 0:W]
    d = np.hypot(xx + 0.5 - 25, yy + 0.5 - 20)
    t = np.clip((10 - d) / 5, 0, 1)
    expected = 0.8 * t * t * (3 - 2 * t)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert 0 < out[20, 32] < 0.8  # the soft ring is partial


def test_eraser_restores_the_automatic_result_exactly():
    frames = _frames()
    r, auto = _retoucher(frames)
    r.begin(0, (25.0, 20.0), radius=12.0, hardness=0.3)
    r.finish()
    r.begin(ERASE, (25.0, 20.0), radius=20.0)
    r.finish()
    np.testing.assert_array_equal(r.canvas.compose(), auto)


def test_undo_redo_is_bit_exact():
    frames = _frames()
    r, auto = _retoucher(frames)
    states = [r.canvas.compose()]
    for k, (src, pt) in enumerate([(0, (10, 10)), (1, (20, 15)), (2, (15, 12))]):
        r.begin(src, pt, radius=7.0, hardness=0.4 + 0.2 * k, opacity=0.9)
        r.extend((pt[0] + 9, pt[1] + 4))
        r.finish()
        states.append(r.canvas.compose())
    assert not np.array_equal(states[-1], states[0])
    for k in range(3, 0, -1):
        assert r.undo()
        np.testing.assert_array_equal(r.canvas.compose(), states[k - 1])
    assert not r.undo()
    np.testing.assert_array_equal(r.canvas.compose(), auto)
    for k in range(1, 4):
        assert r.redo()
        np.testing.assert_array_equal(r.canvas.compose(), states[k])
    assert not r.redo()


def test_live_preview_equals_committed_stroke():
    frames = _frames()
    r, _ = _retoucher(frames)
    r.begin(1, (10.0, 10.0), radius=5.0, hardness=0.5)
    r.extend((30.0, 25.0))
    preview = r.preview((0, H, 0, W))
    r.finish()
    np.testing.assert_array_equal(preview, r.canvas.compose())


def test_strokes_are_reapplied_on_a_new_result_and_remapped_by_frame():
    frames = _frames()
    r, _ = _retoucher(frames)
    r.begin(2, (20.0, 20.0), radius=5.0)
    r.finish()
    new_auto = np.full((H, W, 3), 0.25, np.float32)
    # the new stack has frame "f2" first
    new_frames = [frames[2], frames[0]]
    dropped = r.set_base(new_auto, lambda i: new_frames[i], ["f2", "f0"])
    assert dropped == 0
    assert r.strokes[0].source == 0
    inside = _disc(20, 20, 5)
    out = r.canvas.compose()
    np.testing.assert_array_equal(out[inside], frames[2][inside])
    np.testing.assert_array_equal(out[~inside], new_auto[~inside])
    # a size change drops the strokes
    assert r.set_base(np.zeros((H + 1, W, 3), np.float32), lambda i: frames[i], ["f2", "f0"]) == 1
    assert r.strokes == []


def test_remap_drops_strokes_of_missing_frames():
    s = [Stroke(0, ((1, 1),)), Stroke(1, ((2, 2),)), Stroke(ERASE, ((3, 3),))]
    out, dropped = remap_strokes(s, ["a", "b"], ["b"])
    assert dropped == 1
    assert [x.source for x in out] == [0, ERASE]


def test_stroke_json_round_trip_and_validation():
    s = Stroke(3, ((1.5, 2.25), (7.0, 8.0)), 4.0, 0.25, 0.5)
    assert Stroke.from_json(s.to_json()) == s
    with pytest.raises(ValueError):
        Stroke.from_json({"source": 0, "points": [], "radius": 3})
    with pytest.raises(ValueError):
        Stroke.from_json({"source": 0, "points": [[1, 1]], "radius": 0})


def test_weights_follow_the_strokes():
    frames = _frames(2)
    auto_w = np.stack([np.full((H, W), 0.7, np.float32), np.full((H, W), 0.3, np.float32)])
    c = RetouchCanvas(np.zeros((H, W, 3), np.float32), lambda i: frames[i], 2)
    c.apply(Stroke(1, ((25.0, 20.0),), 6.0))
    fn = c.weights_fn(auto_w)
    inside = _disc(25, 20, 6)
    w0, w1 = fn(0), fn(1)
    assert (w0[inside] == 0).all()
    assert (w1[inside] == 1).all()
    assert (w0[~inside] == np.float32(0.7)).all()
    np.testing.assert_allclose(w0 + w1, 1.0, atol=1e-6)


def test_stroke_outside_the_image_does_nothing():
    a, box = stroke_alpha(Stroke(0, ((-50.0, -50.0),), 5.0), (H, W))
    assert box is None
    assert not a.any()
