"""The per-frame alignment report in the source list, and the keep-full-size option (issue 8)."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import re

import numpy as np
import pytest
from gui_support import (  # noqa: F401 - fixtures
    choose,
    config_dir,
    sharp_texture,
    slow_method,
    window,
    write_png,
)

from mffgui.core.align import INTERPOLATIONS
from mffgui.gui.widgets.method_panel import ALIGN_INTERPOLATIONS

SHIFT = re.compile(r"shift ([+-]\d+\.\d), ([+-]\d+\.\d) px")


def shifted_stack(tmp_path):
    """Three frames: a, then b = the reference, a shifted by (6, 3) px; c unrelated content."""
    big = sharp_texture(140, 180, seed=3)
    d = tmp_path / "shifted"
    d.mkdir()
    write_png(d / "img1.png", big[10:106, 10:138])
    write_png(d / "img2.png", big[13:109, 16:144])
    write_png(d / "img3.png", sharp_texture(96, 128, seed=77))
    return d


def fuse_aligned(qtbot, window, folder):
    choose(window, "test-slow", seconds=0.0, tag=0)
    window.method_panel.set_align("translation")
    window.open_paths([folder])  # opening a stack fuses it right away
    qtbot.waitUntil(lambda: window.controller.state == "done", timeout=20000)
    return window.controller.outcome


def test_source_list_shows_each_frames_alignment(qtbot, window, tmp_path):
    outcome = fuse_aligned(qtbot, window, shifted_stack(tmp_path))
    assert outcome.alignment is not None
    assert outcome.alignment.reference == 1
    items = [window.sources.item(r) for r in range(window.sources.count())]
    assert len(items) == 3
    texts = [it.text() for it in items]
    tips = [it.toolTip() for it in items]
    # Frame 1 shows b's content 6 px right and 3 px down: it maps onto the reference by
    # (-6, -3) px.
    found = SHIFT.search(texts[0])
    assert found, texts[0]
    dx, dy = float(found.group(1)), float(found.group(2))
    assert (dx, dy) == (pytest.approx(-6, abs=0.3), pytest.approx(-3, abs=0.3))
    assert "r 0." in texts[0] or "r 1." in texts[0]  # the correlation
    assert "Alignment (translation): shift" in tips[0]
    assert "reference" in texts[1]
    # The unrelated frame is flagged, with the reason in its tooltip, and was not fused.
    assert "⚠ excluded" in texts[2]
    assert "excluded from the fusion" in tips[2]
    reason = outcome.alignment.frames[2].reason
    assert reason
    assert reason in tips[2]
    assert len(outcome.stack) == 2
    # A later run without alignment clears the report.
    window.method_panel.set_align("")
    window.fuse()
    qtbot.waitUntil(
        lambda: window.controller.state == "done" and window.controller.outcome is not outcome,
        timeout=20000,
    )
    assert all(window.sources.item(r).text().count("\n") == 1 for r in range(3))


def test_keep_full_size_fuses_the_whole_reference_frame(qtbot, window, tmp_path):
    panel = window.method_panel
    assert {k for k, _ in ALIGN_INTERPOLATIONS} == set(INTERPOLATIONS)
    got = []
    panel.alignOptionsChanged.connect(lambda interp, crop: got.append((interp, crop)))
    panel.set_align_options("cubic", False)
    assert (panel.align_interpolation, panel.align_crop) == ("cubic", False)
    assert got[-1] == ("cubic", False)
    # The window forwards the panel's choice to the controller and remembers it.
    assert (window.controller.align_interpolation, window.controller.align_crop) == ("cubic", False)
    assert (window.settings.align_interpolation, window.settings.align_crop) == ("cubic", False)
    outcome = fuse_aligned(qtbot, window, shifted_stack(tmp_path))
    assert outcome.request.align_crop is False
    assert outcome.request.align_interpolation == "cubic"
    assert outcome.result.fused.shape[:2] == (96, 128)
    border = outcome.result.meta["alignment_border"]
    assert border["pixels"] > 0
    weights = np.asarray(outcome.result.weights)
    valid = np.stack([outcome.stack.frame_valid_mask(i) for i in range(len(outcome.stack))])
    assert np.all(weights[~valid & valid.any(axis=0)] == 0)


def test_alignment_options_are_restored_from_the_settings(qtbot, slow_method):
    from mffgui.gui.main_window import MainWindow
    from mffgui.settings import AppSettings

    settings = AppSettings.from_dict(
        {"align": "similarity", "align_interpolation": "lanczos", "align_crop": False}
    )
    w = MainWindow(settings, probe_devices=False)
    qtbot.addWidget(w)
    assert (w.method_panel.align_interpolation, w.method_panel.align_crop) == ("lanczos", False)
    assert (w.controller.align_interpolation, w.controller.align_crop) == ("lanczos", False)
    w.close()
