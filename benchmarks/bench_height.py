"""What the app's microscopy extras cost next to the fusion itself (issue 22).

A synthetic tilted-plane stack (``N`` frames, ``W``x``H``, gray, in memory) is fused with
``depthmap`` and ``laplacian`` through :func:`mffgui.pipeline.fuse_stack`; then the height map
(:func:`mffgui.core.height.height_map`, which reads every focus map once) and the two-channel
composite of the fused view (:func:`mffgui.gui.convert.composite`) are timed. Wall and process
CPU seconds; wall times grow with the machine's load, CPU times much less.

Usage::

    python benchmarks/bench_height.py [N W H]      # default 10 1600 1200
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from mffgui.core.height import height_map
from mffgui.core.synthetic import render_focus_stack, sharp_scene
from mffgui.gui.convert import composite
from mffgui.pipeline import fuse_stack
from mffgui.types import Stack


def cpu_seconds() -> float:
    """User + system CPU seconds of this process."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn):
    """``(result, wall s, CPU s)`` of ``fn()``."""
    t, c = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - t, cpu_seconds() - c


def main(argv: list[str]) -> None:
    n, w, h = (int(a) for a in argv) if argv else (10, 1600, 1200)
    sharp = sharp_scene(h, w, seed=1)[:, :, :1]
    depth = np.broadcast_to(np.linspace(0, 1, w, dtype=np.float32), (h, w))
    frames = render_focus_stack(sharp, depth, n, max_sigma=5.0)
    stack = Stack.from_arrays(list(frames))
    print(f"{n} frames {w}x{h} gray; load average {os.getloadavg()[0]:.2f}")
    for method in ("depthmap", "laplacian"):
        res, fw, fc = timed(lambda m=method: fuse_stack(stack, m))
        _, hw, hc = timed(lambda r=res: height_map(r.index_map, r.focus_maps, 2.0))
        print(
            f"  {method:9s} fuse {fw:5.2f} s wall {fc:5.2f} s CPU | "
            f"height map {hw:5.2f} s wall {hc:5.2f} s CPU"
        )
    two = np.concatenate([frames[0], frames[-1]], axis=2)
    _, cw, cc = timed(lambda: composite(two))
    print(f"  composite of 2 channels {cw:5.3f} s wall {cc:5.3f} s CPU")


if __name__ == "__main__":
    main(sys.argv[1:])
