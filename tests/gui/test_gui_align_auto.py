"""Align "Auto" in the app (issue 18): the default, the status bar message, re-fusing when
Align or its options change, and frames of another size."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import cv2
import numpy as np
from gui_support import (  # noqa: F401 - fixtures
    choose,
    config_dir,
    sharp_texture,
    slow_method,
    window,
    write_png,
)

from mffgui.settings import AppSettings


def moved_stack(tmp_path):
    """Two frames of one scene: the second magnified by 3 % and moved by 20 px."""
    big = sharp_texture(300, 400, seed=5)
    big = cv2.GaussianBlur(big, (0, 0), 1.2)
    d = tmp_path / "moved"
    d.mkdir()
    write_png(d / "a.png", big[60:240, 80:320])
    m = cv2.getRotationMatrix2D((200.0, 150.0), 0.0, 1.03)
    m[0, 2] += 20.0
    write_png(
        d / "b.png", cv2.warpAffine(big, m, (400, 300), flags=cv2.INTER_CUBIC)[60:240, 80:320]
    )
    return d


def still_stack(tmp_path):
    """Two frames of one scene that did not move, focused differently."""
    sharp = sharp_texture(180, 240, seed=6)
    d = tmp_path / "still"
    d.mkdir()
    write_png(d / "a.png", sharp)
    write_png(d / "b.png", cv2.GaussianBlur(sharp, (0, 0), 1.5))
    return d


def fuse(qtbot, window, folder):
    messages: list[str] = []
    window.controller.message.connect(messages.append)
    window.open_paths([folder])  # opening a stack fuses it right away
    qtbot.waitUntil(lambda: window.controller.state == "done", timeout=20000)
    return window.controller.outcome, messages


def test_auto_is_the_default_and_old_settings_read_as_auto(window):
    assert window.method_panel.align_choice == "auto"
    assert window.controller.align == "auto"
    assert window.method_panel.align_options.isVisibleTo(window.method_panel)
    assert AppSettings().align == "auto"
    # Files written before Auto existed hold "" for the old default (off).
    assert AppSettings.from_dict({"align": ""}).align == "auto"
    assert AppSettings.from_dict({"align": "off"}).align == "off"
    window.method_panel.set_align("off")
    assert not window.method_panel.align_options.isVisibleTo(window.method_panel)


def test_auto_aligns_a_moved_stack_and_says_so(qtbot, window, tmp_path):
    choose(window, "test-slow", seconds=0.0, tag=0)
    outcome, messages = fuse(qtbot, window, moved_stack(tmp_path))
    assert outcome.request.align == "auto"
    assert outcome.alignment is not None
    assert outcome.alignment.model == "similarity"
    assert outcome.stack.shape[0] < 180  # cropped to the common area
    status = window.statusBar().currentMessage()
    assert "align auto: frame" in status
    assert "moved by up to" in status
    assert "aligned 2 of 2 frames (similarity)" in status
    assert status in messages


def test_auto_leaves_a_still_stack_alone_and_says_so(qtbot, window, tmp_path):
    choose(window, "test-slow", seconds=0.0, tag=1)
    folder = still_stack(tmp_path)
    outcome, _ = fuse(qtbot, window, folder)
    assert outcome.alignment is None
    assert "align auto: no motion" in window.statusBar().currentMessage()
    assert "not aligned" in window.statusBar().currentMessage()
    auto_fused = outcome.result.fused
    window.method_panel.set_align("off")  # re-fuses by itself
    qtbot.waitUntil(
        lambda: (
            window.controller.state == "done" and window.controller.outcome.request.align == "off"
        ),
        timeout=20000,
    )
    assert np.array_equal(window.controller.outcome.result.fused, auto_fused)


def test_changing_align_or_its_options_fuses_again(qtbot, window, tmp_path):
    choose(window, "test-slow", seconds=0.0, tag=0)
    outcome, _ = fuse(qtbot, window, moved_stack(tmp_path))
    generation = outcome.request.generation
    window.method_panel.set_align("translation")
    qtbot.waitUntil(
        lambda: (
            window.controller.state == "done"
            and window.controller.outcome.request.generation > generation
        ),
        timeout=20000,
    )
    outcome = window.controller.outcome
    assert outcome.request.align == "translation"
    assert outcome.alignment.model == "translation"
    generation = outcome.request.generation
    window.method_panel.set_align_options("cubic", False)
    qtbot.waitUntil(
        lambda: (
            window.controller.state == "done"
            and window.controller.outcome.request.generation > generation
        ),
        timeout=20000,
    )
    outcome = window.controller.outcome
    assert (outcome.request.align_interpolation, outcome.request.align_crop) == ("cubic", False)
    assert outcome.stack.shape == (180, 240)  # full size kept


def test_align_change_without_a_result_does_not_fuse(window):
    window.method_panel.set_align("similarity")
    assert window.controller.state == "idle"
    assert window.controller.outcome is None


def test_a_frame_at_half_resolution_fuses_with_auto(qtbot, window, tmp_path):
    sharp = sharp_texture(180, 240, seed=8)
    sharp = cv2.GaussianBlur(sharp, (0, 0), 1.0)
    d = tmp_path / "mixed"
    d.mkdir()
    write_png(d / "a.png", sharp)
    write_png(d / "b.png", cv2.GaussianBlur(sharp, (0, 0), 1.5))
    write_png(d / "c.png", cv2.resize(sharp, (120, 90), interpolation=cv2.INTER_AREA))
    choose(window, "test-slow", seconds=0.0, tag=0)
    window.open_paths([d], fuse=False)
    warnings = [s.warning for s in window.controller.sources]
    assert "Align resamples it onto the reference frame" in warnings[2]
    outcome, _ = fuse(qtbot, window, d)
    assert outcome.alignment is not None
    assert outcome.alignment.frames[2].size == (120, 90)
    assert len(outcome.metas) == 3
    assert outcome.result.fused.shape[:2] == outcome.stack.shape
    assert "c.png) is 120x90" in window.statusBar().currentMessage()
