"""GACN with the official weights reproduces the official code's outputs (needs ../shared).

References (``shared/weights/gacn-official/reference``) were made by the official inference code
on the Lytro JPEGs decoded with Pillow; its README gives the exact recipe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mffgui.methods import get_method
from mffgui.methods.gacn import GacnParams, blend_pair, pair_maps
from mffgui.types import Stack, to_gray
from tests.conftest import shared_path

PAIRS = [f"lytro_{i:02d}" for i in range(1, 21)]
TRIPLES = [f"lytro_triple_{i:02d}" for i in range(1, 5)]

# 20 pairs and 8 triples through the official network on the CPU: minutes.
pytestmark = pytest.mark.slow


def _official() -> tuple[Path, Path]:
    root = shared_path("weights", "gacn-official")
    return root / "GACN.pkl", root / "reference"


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / np.float32(255)


def _psnr(fused: np.ndarray, ref_png: Path) -> float:
    ref = np.asarray(Image.open(ref_png).convert("RGB")).astype(np.float64)
    ours = np.round(np.clip(fused, 0, 1) * 255.0)
    mse = float(np.mean((ours - ref) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _sources(scene: str) -> list[Path]:
    folder = shared_path("data", "lytro", scene)
    return sorted(p for p in folder.iterdir() if "groundtruth" not in p.name)


@pytest.fixture(scope="module")
def pair_results() -> dict[str, dict[str, float]]:
    """All 20 pairs through the network once; per pair the fidelity figures."""
    weights, ref_dir = _official()
    out: dict[str, dict[str, float]] = {}
    for scene in PAIRS:
        a_path, b_path = _sources(scene)
        a, b = _rgb(a_path), _rgb(b_path)
        maps = pair_maps(to_gray(a), to_gray(b), weights, device="cpu")
        ref = np.asarray(Image.open(ref_dir / f"{scene}_decision.png")).astype(np.float64) / 65535
        dec = maps["decision"].astype(np.float64)
        out[scene] = {
            "mad": float(np.abs(dec - ref).mean()),
            "same_side": float(np.mean((dec > 0.5) == (ref > 0.5))),
            "psnr": _psnr(blend_pair(a, b, maps["bgf"]), ref_dir / f"{scene}_fused.png"),
        }
    return out


def test_strict_load_of_official_checkpoint() -> None:
    import torch

    from mffgui.models.gacn import build_gacn, load_gacn
    from mffgui.models.weights import load_checkpoint

    weights, _ = _official()
    sd = torch.load(weights, map_location="cpu", weights_only=True)
    model = build_gacn()
    assert set(model.state_dict()) == set(sd)
    res = model.load_state_dict(sd, strict=True)
    assert not res.missing_keys
    assert not res.unexpected_keys
    loaded = load_gacn(load_checkpoint(weights, "gacn"))
    for k, v in sd.items():
        assert torch.equal(loaded.state_dict()[k], v), k


@pytest.mark.parametrize("scene", PAIRS)
def test_pair_reproduces_official(pair_results: dict[str, dict[str, float]], scene: str) -> None:
    r = pair_results[scene]
    assert r["mad"] <= 1e-3, r
    assert r["same_side"] >= 0.999, r
    assert r["psnr"] >= 45.0, r


def test_method_end_to_end_on_a_pair() -> None:
    weights, ref_dir = _official()
    stack = Stack.from_arrays([_rgb(p) for p in _sources("lytro_05")])
    res = get_method("gacn").fuse(stack, GacnParams(weights=str(weights), device="cpu"))
    assert _psnr(res.fused, ref_dir / "lytro_05_fused.png") >= 45.0
    bgf_ref = np.asarray(Image.open(ref_dir / "lytro_05_decision_bgf.png")) / 65535
    assert np.abs(np.asarray(res.weights[0]) - bgf_ref).mean() <= 1e-3


def test_tiled_official_equals_whole() -> None:
    weights, _ = _official()
    a, b = (to_gray(_rgb(p)) for p in _sources("lytro_03"))
    whole = pair_maps(a, b, weights)
    tiled = pair_maps(a, b, weights, tile_size=260)  # 2 × 2 tiles of 520 × 520
    mse = float(np.mean((whole["bgf"] - tiled["bgf"]) ** 2))
    assert mse == 0.0 or 10 * np.log10(1.0 / mse) >= 50.0


@pytest.mark.parametrize("scene", TRIPLES)
@pytest.mark.parametrize("strategy", ["calibration", "serial"])
def test_triples_reproduce_official(scene: str, strategy: str) -> None:
    weights, ref_dir = _official()
    stack = Stack.from_arrays([_rgb(p) for p in _sources(scene)])
    res = get_method("gacn").fuse(
        stack, GacnParams(weights=str(weights), device="cpu", strategy=strategy, reference=0)
    )
    assert _psnr(res.fused, ref_dir / f"{scene}_{strategy}_fused.png") >= 40.0
