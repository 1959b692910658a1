"""``mffgui fuse --method gacn --weights GACN.pkl`` on a Lytro pair and a Lytro triple.

The output files are compared with the official code's outputs
(``shared/weights/gacn-official/reference``, see its README). Skips when ``../shared`` is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mffgui.cli import main
from tests.conftest import REPO, shared_path


def _official() -> tuple[Path, Path]:
    root = shared_path("weights", "gacn-official")
    return root / "GACN.pkl", root / "reference"


def _sources(scene: str) -> list[Path]:
    folder = shared_path("data", "lytro", scene)
    return sorted(p for p in folder.iterdir() if "groundtruth" not in p.name)


def _psnr_files(ours_png: Path, ref_png: Path) -> float:
    """PSNR in dB of two 8-bit RGB files."""
    ours = np.asarray(Image.open(ours_png).convert("RGB")).astype(np.float64)
    ref = np.asarray(Image.open(ref_png).convert("RGB")).astype(np.float64)
    assert ours.shape == ref.shape
    mse = float(np.mean((ours - ref) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.slow
def test_cli_pair_matches_official(tmp_path: Path) -> None:
    """The console entry point (``python -m mffgui``, a separate process) on a pair."""
    weights, ref_dir = _official()
    a, b = _sources("lytro_01")
    out = tmp_path / "fused.png"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mffgui",
            "fuse",
            str(a),
            str(b),
            "-o",
            str(out),
            "--method",
            "gacn",
            "--weights",
            str(weights),
            "--device",
            "cpu",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "gacn" in proc.stderr
    psnr = _psnr_files(out, ref_dir / "lytro_01_fused.png")
    print(f"pair PSNR {psnr:.2f} dB")
    assert psnr >= 45.0, f"pair PSNR {psnr:.2f} dB < 45 dB"


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["calibration", "serial"])
def test_cli_triple_matches_official(tmp_path: Path, strategy: str) -> None:
    """``mffgui.cli.main`` on a three-frame folder, with the per-source maps exported."""
    weights, ref_dir = _official()
    scene = "lytro_triple_01"
    folder = shared_path("data", "lytro", scene)
    out = tmp_path / "fused.png"
    maps = tmp_path / "maps"
    argv = [
        "fuse",
        str(folder),
        "-o",
        str(out),
        "--method",
        "gacn",
        "--weights",
        str(weights),
        "--device",
        "cpu",
        "--maps",
        str(maps),
    ]
    argv += ["--set", f"strategy={strategy}"]  # the default for stacks is "activity"
    assert main(argv) == 0
    psnr = _psnr_files(out, ref_dir / f"{scene}_{strategy}_fused.png")
    print(f"{strategy} PSNR {psnr:.2f} dB")
    assert psnr >= 40.0, f"{strategy} PSNR {psnr:.2f} dB < 40 dB"
    names = {p.name for p in maps.iterdir()}
    assert {
        "fused_index.png",
        "fused_decision.png",
        "fused_focus_001.png",
        "fused_focus_003.png",
    } <= names
    index = np.asarray(Image.open(maps / "fused_index.png"))
    assert index.max() <= 2
    assert len(np.unique(index)) > 1
