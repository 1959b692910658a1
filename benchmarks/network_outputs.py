"""Save or compare the outputs of the network methods, to prove a refactoring bit-identical.

``save DIR`` fuses Lytro pairs and triples from the shared data with GACN (pair, tiled pair,
each stack strategy, tiled calibration, half-resolution serial) and Fusion2Void (pair, tiled
pair, pyramid and tree stacks) on the CPU and writes each result's fused image, index map,
weights and focus maps to ``DIR/<case>.npz`` (printing wall and CPU seconds per case);
``compare BEFORE AFTER`` prints IDENTICAL or DIFFERENT per case (exact equality of values,
dtypes and shapes) and exits 1 on any difference.

Usage::

    (cd /path/to/old/checkout && python benchmarks/network_outputs.py save /tmp/before)
    python benchmarks/network_outputs.py save /tmp/after
    python benchmarks/network_outputs.py compare /tmp/before /tmp/after
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

CASES = [
    ("gacn", "lytro_01", {}),
    ("gacn", "lytro_02", {"tile_size": 256}),
    ("gacn", "lytro_triple_01", {"strategy": "serial"}),
    ("gacn", "lytro_triple_01", {"strategy": "activity"}),
    ("gacn", "lytro_triple_01", {"strategy": "calibration"}),
    ("gacn", "lytro_triple_02", {"strategy": "calibration", "tile_size": 256}),
    ("gacn", "lytro_triple_02", {"strategy": "serial", "decision_scale": 0.5}),
    ("fusion2void", "lytro_01", {}),
    ("fusion2void", "lytro_02", {"tile": 256}),
    ("fusion2void", "lytro_triple_01", {"strategy": "pyramid"}),
    ("fusion2void", "lytro_triple_01", {"strategy": "tree"}),
]


def save(out: Path) -> int:
    """Fuse every case and write ``out/<case>.npz``."""
    from mffgui.io.stacks import read_stack
    from mffgui.methods.registry import get_method

    out.mkdir(parents=True, exist_ok=True)
    for method, scene, kw in CASES:
        folder = SHARED / "data" / "lytro" / scene
        stack = read_stack(sorted(p for p in folder.iterdir() if "groundtruth" not in p.name))
        m = get_method(method)
        t0, c0 = time.perf_counter(), time.process_time()
        r = m.fuse(stack, m.info.params.from_mapping({"device": "cpu", **kw}))
        n = len(stack)
        name = f"{method}-{scene}-" + "-".join(f"{k}={v}" for k, v in kw.items())
        np.savez(
            out / f"{name}.npz",
            fused=np.asarray(r.fused),
            index=np.asarray(r.index_map),
            weights=np.stack([np.asarray(r.weights[i]) for i in range(n)]),
            focus=np.stack([np.asarray(r.focus_maps[i]) for i in range(n)]),
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{name}: wall {wall:.1f} s, cpu {cpu:.1f} s", flush=True)
    return 0


def compare(before: Path, after: Path) -> int:
    """Print IDENTICAL/DIFFERENT per case; 1 when any case differs or is missing."""
    different = 0
    for f in sorted(before.glob("*.npz")):
        g = after / f.name
        if not g.is_file():
            print(f"MISSING {f.name}")
            different += 1
            continue
        a, b = np.load(f), np.load(g)
        same = set(a.files) == set(b.files) and all(
            a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k])
            for k in a.files
        )
        different += not same
        print(f"{'IDENTICAL' if same else 'DIFFERENT'} {f.name}")
    print(f"{different} of {len(list(before.glob('*.npz')))} cases differ")
    return 1 if different else 0


def main(argv: list[str]) -> int:
    """``save DIR`` or ``compare BEFORE AFTER``."""
    if len(argv) == 2 and argv[0] == "save":
        return save(Path(argv[1]))
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
