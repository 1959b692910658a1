"""Fixtures and test-only fusion methods for the GUI tests (imported by the test modules).

The test-only methods are registered for one test at a time (``monkeypatch`` on the registry),
so they never appear in the app or in other tests.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from mffgui.core.progress import NEVER, CancelToken, noop_progress
from mffgui.methods import registry
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.types import FusionResult, Stack, to_gray

FINISHED_TAGS: list[int] = []
"""Tags of the test method runs that ran to the end (including results later dropped)."""


@dataclass(frozen=True)
class SlowParams(Params):
    """Parameters of the test-only slow method."""

    seconds: float = param(0.2, "How long the fusion takes", min=0.0, max=60.0)
    tag: int = param(0, "Marks the run; the fused image is frame `tag % N`", min=0, max=1000)
    ignore_cancel: bool = param(False, "Finish even when cancelled (to test stale results)")
    lazy_maps: bool = param(False, "Return maps computed on demand (like big classical stacks)")


class SlowMethod:
    """Test-only: sleeps in 20 ms steps (checking cancel), then picks frame ``tag % N``."""

    info: ClassVar[MethodInfo] = MethodInfo(
        name="test-slow",
        title="Test: slow",
        kind="classical",
        params=SlowParams,
        citation="test only",
        description="Sleeps, then returns one of the frames.",
    )

    def fuse(
        self, stack: Stack, params: Params, *, progress=noop_progress, cancel: CancelToken = NEVER
    ) -> FusionResult:
        assert isinstance(params, SlowParams)
        steps = max(1, int(params.seconds / 0.02))
        for i in range(steps):
            if not params.ignore_cancel:
                cancel.raise_if_cancelled()
            time.sleep(0.02)
            progress(i + 1, steps, "Sleeping")
        n = len(stack)
        k = params.tag % n
        h, w = stack.shape
        index = np.full((h, w), k, np.uint16)
        weights = np.zeros((n, h, w), np.float32)
        weights[k] = 1.0
        focus = np.stack([np.abs(cv2.Laplacian(stack.gray(i), cv2.CV_32F)) for i in range(n)])
        focus /= max(float(focus.max()), 1e-6)
        FINISHED_TAGS.append(params.tag)
        if params.lazy_maps:
            from mffgui.core.decision import LazyMaps

            weights = LazyMaps(n, (h, w), lambda i, a=weights: a[i].copy())
            focus = LazyMaps(n, (h, w), lambda i, a=focus: a[i].copy())
        return FusionResult(
            stack.frame(k), index, weights, focus, {"method": "test-slow", "tag": params.tag}
        )


def sharp_texture(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A textured RGB float32 image in [0, 1]."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 1.0)
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def blurred_pair(h: int = 96, w: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sharp, a, b)``: a has the left half sharp, b the right half."""
    sharp = sharp_texture(h, w)
    blur = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    a, b = blur.copy(), blur.copy()
    a[:, : w // 2] = sharp[:, : w // 2]
    b[:, w // 2 :] = sharp[:, w // 2 :]
    return sharp, a, b


def write_png(path: Path, img: np.ndarray, bits: int = 8) -> Path:
    """Write float RGB ``img`` as an 8- or 16-bit PNG with OpenCV (independent of mffgui.io)."""
    scale = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    data = np.rint(np.clip(img, 0, 1) * scale).astype(dtype)
    assert cv2.imwrite(str(path), data[:, :, ::-1])
    return path


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """Keep settings of every test in a temporary folder."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("MFFGUI_CONFIG_DIR", str(cfg))
    return cfg


@pytest.fixture
def pair_dir(tmp_path) -> Path:
    """A folder with a two-image 8-bit focus stack (left/right halves in focus)."""
    d = tmp_path / "pair"
    d.mkdir()
    _sharp, a, b = blurred_pair()
    write_png(d / "img_1.png", a)
    write_png(d / "img_2.png", b)
    return d


@pytest.fixture
def slow_method(monkeypatch):
    """Register the test-only slow method for this test."""
    monkeypatch.setitem(registry._REGISTRY, SlowMethod.info.name, SlowMethod)
    FINISHED_TAGS.clear()
    return SlowMethod


@pytest.fixture
def window(qtbot, slow_method):
    """A shown main window (no device probe) with default settings; closed afterwards."""
    from mffgui.gui.main_window import MainWindow
    from mffgui.settings import AppSettings

    w = MainWindow(AppSettings(), probe_devices=False)
    qtbot.addWidget(w)
    w.resize(1400, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def choose(window, method: str, **values) -> None:
    """Select ``method`` in the method panel and set form values."""
    window.method_panel.set_method(method)
    assert window.method_panel.method == method
    window.method_panel.set_values(values)


def gray(img: np.ndarray) -> np.ndarray:
    """Luma of a float image (for comparisons)."""
    return to_gray(img)
