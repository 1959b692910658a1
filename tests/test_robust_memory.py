"""Memory does not grow with the number of frames beyond each method's per-frame maps.

A scaled-down version of ``benchmarks/bench_memory.py``: every classical method fuses a streamed
stack (``read_stack(..., cache_bytes=0)``) of 4 and of 24 frames of 512x384 in a fresh
subprocess, and the peak resident memory (``VmHWM``) of the two runs is compared.

* Default mode: per-source maps up to ``EAGER_MAPS_BYTES`` are kept as arrays in the result, so
  the growth allowed per extra frame is three ``H x W`` float32 maps (weight and focus map, plus
  one transient copy while they are stacked) plus a fixed slack for allocator noise. A method
  that also kept every decoded RGB frame (three more such maps per frame) exceeds it.
* Lazy maps forced (``EAGER_MAPS_BYTES = 0``, what big stacks get): nothing per frame may be
  kept, so only the slack is allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks" / "bench_memory.py"
W, H = 512, 384
N_SMALL, N_BIG = 4, 24
SLACK_MIB = 16.0


def _classical() -> list[str]:
    from mffgui.methods import list_methods

    return [i.name for i in list_methods() if i.kind == "classical"]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[int, Path]:
    import cv2

    from mffgui.core.synthetic import depth_scene, render_focus_stack, sharp_scene

    root = tmp_path_factory.mktemp("memstack")
    planes = render_focus_stack(sharp_scene(H, W, 1), depth_scene(H, W, 1), 6, 3.0, 1)
    out = {}
    for n in (N_SMALL, N_BIG):
        folder = root / f"n{n}"
        folder.mkdir()
        for i in range(n):
            f = planes[i * len(planes) // n]
            u8 = np.clip(np.rint(np.roll(f, i, axis=1) * 255), 0, 255).astype(np.uint8)
            assert cv2.imwrite(str(folder / f"f{i:03d}.png"), np.ascontiguousarray(u8[:, :, ::-1]))
        out[n] = folder
    return out


def _peak(method: str, folder: Path, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--child", method, str(folder), "{}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


@pytest.mark.parametrize("lazy", [False, True], ids=["eager-maps", "lazy-maps"])
@pytest.mark.parametrize("method", ["depthmap", "halofree", "laplacian", "gff"])
def test_peak_memory_flat_in_frame_count(stacks, method, lazy):
    assert method in _classical(), f"{method} is not registered"
    env = {"MFFGUI_EAGER_MAPS_BYTES": "0"} if lazy else None
    small = _peak(method, stacks[N_SMALL], env)
    big = _peak(method, stacks[N_BIG], env)
    assert (small["frames"], big["frames"]) == (N_SMALL, N_BIG)
    assert big["fused_shape"] == [H, W, 3]
    per_frame_maps_mib = 0.0 if lazy else 3 * H * W * 4 / 2**20
    allowed = (N_BIG - N_SMALL) * per_frame_maps_mib + SLACK_MIB
    grew = big["peak_rss_mib"] - small["peak_rss_mib"]
    assert grew < allowed, (
        f"{method}: peak RSS grew {grew:.1f} MiB from {N_SMALL} to {N_BIG} frames "
        f"(allowed {allowed:.1f} MiB): {small} vs {big}"
    )
