"""Fusion of aligned, uncropped stacks ignores each frame's invalid border (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest

from mffgui.core.align import AlignedStack, align_stack
from mffgui.core.align_fuse import ignore_invalid, invalid_region
from mffgui.methods import get_method
from mffgui.pipeline import fuse_stack
from mffgui.types import Stack
from tests.test_align import make_stack

SCALE = 0.6  # clean frames lie in [0, 0.6]; the garbage lies in [0.75, 1]


def shifted_stack(interpolation: str = "linear") -> tuple[AlignedStack, list[np.ndarray]]:
    """An aligned, uncropped stack of shifted, differently blurred frames, and its clean frames.

    The invalid border of every non-reference frame is overwritten with a sharp checkerboard of
    values no valid frame has, which a focus measure finds very attractive.
    """
    raw, _ = make_stack("translation", n=4, seed=5)
    stack = Stack.from_arrays([SCALE * raw.frame(i) for i in range(len(raw))])
    aligned, report = align_stack(stack, "translation", interpolation=interpolation, crop=False)
    assert len(aligned) == 4
    clean = [aligned.frame(i).copy() for i in range(len(aligned))]
    h, w = aligned.shape
    checker = np.where((np.indices((h, w)).sum(axis=0) % 2) == 0, 1.0, 0.75)
    ref = aligned.indices.index(report.reference)
    for k in range(len(aligned)):
        if k == ref:
            continue
        invalid = ~aligned.frame_valid_mask(k)
        assert invalid.any()

        def dirty(k=k, invalid=invalid):
            out = clean[k].copy()
            out[invalid] = checker[invalid, None]
            return out

        aligned._loaders[k] = dirty
    return aligned, clean


@pytest.mark.parametrize("name", ["laplacian", "gff", "depthmap"])
def test_invalid_border_is_fused_from_the_valid_frames_only(name):
    aligned, clean = shifted_stack()
    method = get_method(name)
    params = method.info.params()
    plain = method.fuse(aligned, params)
    result = fuse_stack(aligned, method, params)
    n = len(aligned)
    valid = np.stack([aligned.frame_valid_mask(i) for i in range(n)])
    region = ~valid.all(axis=0)
    assert region.any()
    np.testing.assert_array_equal(region, invalid_region(aligned))
    frames = np.stack([c[:, :, 0] for c in clean])
    fused = result.fused[:, :, 0]
    # The border holds no garbage: every recomputed pixel lies between the valid frames' values.
    lo = np.where(valid, frames, np.inf).min(axis=0)
    hi = np.where(valid, frames, -np.inf).max(axis=0)
    assert np.all(fused[region] <= hi[region] + 1e-5)
    assert np.all(fused[region] >= lo[region] - 1e-5)
    # ... which the method alone does not manage: the garbage leaks into its result.
    assert np.any(plain.fused[:, :, 0][region] > hi[region] + 0.05)
    # Weights: zero on invalid frames, sum to one, and they reproduce the fused value.
    weights = np.asarray(result.weights)
    assert weights.shape == (n, *aligned.shape)
    assert np.all(weights[~valid] == 0)
    np.testing.assert_allclose(weights.sum(axis=0)[region], 1.0, atol=1e-4)
    np.testing.assert_allclose(fused[region], (weights * frames).sum(axis=0)[region], atol=1e-4)
    # The index map names a valid frame of largest weight.
    index = result.index_map
    assert index.dtype == np.uint16
    rows, cols = np.nonzero(region)
    assert np.all(valid[index[region], rows, cols])
    np.testing.assert_allclose(
        weights[index[region], rows, cols], weights[:, region].max(axis=0), atol=1e-6
    )
    # Focus maps are zero where their frame is invalid; nothing changes outside the border.
    assert np.all(np.asarray(result.focus_maps)[~valid] == 0)
    np.testing.assert_array_equal(result.fused[~region], plain.fused[~region])
    np.testing.assert_array_equal(index[~region], plain.index_map[~region])
    assert result.meta["alignment_border"]["pixels"] == int(region.sum())


def test_pixels_no_frame_covers_keep_the_reference_frame():
    # Cubic resampling needs one pixel beyond the source, so even the reference frame's
    # outermost pixels count as invalid: no frame is valid there.
    aligned, clean = shifted_stack("cubic")
    result = fuse_stack(aligned, get_method("depthmap"), get_method("depthmap").info.params())
    valid = np.stack([aligned.frame_valid_mask(i) for i in range(len(aligned))])
    none = ~valid.any(axis=0)
    assert none.any()
    ref = aligned.indices.index(aligned.report.reference)
    np.testing.assert_allclose(result.fused[none], clean[ref][none], atol=1e-6)
    assert np.all(result.index_map[none] == ref)
    weights = np.asarray(result.weights)
    assert np.all(weights[ref][none] == 1)
    assert result.meta["alignment_border"]["no_valid_frame"] == int(none.sum())


def test_plain_and_cropped_stacks_are_left_alone():
    raw, _ = make_stack("translation", n=3, seed=6)
    method = get_method("laplacian")
    res = method.fuse(raw, method.info.params())
    assert ignore_invalid(res, raw) is res
    cropped, _ = align_stack(raw, "translation")
    res = method.fuse(cropped, method.info.params())
    assert invalid_region(cropped) is None
    assert ignore_invalid(res, cropped) is res


def test_lazy_maps_of_deep_stacks_match_the_eager_ones(monkeypatch):
    from mffgui.core import align_fuse, decision

    aligned, _ = shifted_stack()
    method = get_method("depthmap")
    eager = fuse_stack(aligned, method, method.info.params())
    monkeypatch.setattr(decision, "EAGER_MAPS_BYTES", 0)
    monkeypatch.setattr(align_fuse, "maps_fit_in_memory", lambda n, shape: False)
    lazy = fuse_stack(aligned, method, method.info.params())
    assert not isinstance(lazy.weights, np.ndarray)
    np.testing.assert_array_equal(lazy.fused, eager.fused)
    np.testing.assert_allclose(np.asarray(lazy.weights), np.asarray(eager.weights), atol=1e-6)
    np.testing.assert_allclose(np.asarray(lazy.focus_maps), np.asarray(eager.focus_maps), atol=1e-6)
