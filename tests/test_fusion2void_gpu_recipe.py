"""The Fusion2Void GPU recipe (run here on the CPU), device-side pair synthesis, fine-tuning
from the bundled weights."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from mffgui.training.__main__ import main as training_main  # noqa: E402
from mffgui.training.gpu_pairs import DevicePairs, blur_batch, random_masks  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sharp_dir(tmp_path_factory):
    """Twelve small sharp colour textures (no shared data needed)."""
    d = tmp_path_factory.mktemp("sharp")
    rng = np.random.default_rng(0)
    for i in range(12):
        img = cv2.GaussianBlur(rng.random((72, 80, 3)).astype(np.float32), (0, 0), 0.8)
        cv2.imwrite(str(d / f"img{i:02d}.png"), np.round(img * 255).astype(np.uint8))
    return d


def test_blur_batch_matches_opencv_per_sample():
    rng = np.random.default_rng(1)
    x = rng.random((3, 2, 40, 44), dtype=np.float32)
    sig = np.array([0.8, 1.7, 3.1], np.float32)
    out = blur_batch(torch.from_numpy(x), torch.from_numpy(sig), radius=12).numpy()
    for k in range(3):
        for c in range(2):
            ref = cv2.GaussianBlur(
                x[k, c], (25, 25), float(sig[k]), borderType=cv2.BORDER_REFLECT_101
            )
            np.testing.assert_allclose(out[k, c], ref, atol=2e-5)


def test_masks_are_binary_and_cover_a_bounded_share():
    gen = torch.Generator().manual_seed(0)
    m = random_masks(gen, 64, 48, torch.device("cpu"), torch.Generator().manual_seed(1))
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    share = m.flatten(1).mean(1)
    assert float(share.min()) >= 0.1
    assert float(share.max()) <= 0.9


def test_device_pairs_keep_the_sharp_original_where_focused():
    """Outside the bleeding band each source equals the sharp original or its blur, and the
    two sources are never both blurred where the mask is hard (plain pairs)."""
    rng = np.random.default_rng(2)
    ims = [
        np.round(
            cv2.GaussianBlur(rng.random((60, 70, 3)).astype(np.float32), (0, 0), 0.7) * 255
        ).astype(np.uint8)
        for _ in range(3)
    ]
    from mffgui.training.datasets import PairConfig

    pairs = DevicePairs(ims, 48, torch.device("cpu"), PairConfig(bleed=0.0, swap_p=0.0))
    g, gc = torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)
    a, b, s = pairs.batch(g, gc, 8, plain=True)
    da = (a - s).abs().amax(1)  # (N, H, W): 0 where A is sharp
    db = (b - s).abs().amax(1)
    # Where A is sharp B is blurred and vice versa: min(da, db) is 0 everywhere.
    assert float(torch.minimum(da, db).max()) < 1e-6
    # Both sources carry sharp regions.
    assert float((da < 1e-6).float().mean()) > 0.05
    assert float((db < 1e-6).float().mean()) > 0.05
    # Same generators, same batch.
    g2, gc2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)
    a2, _, _ = pairs.batch(g2, gc2, 8, plain=True)
    assert torch.equal(a, a2)


def _recipe_args(sharp_dir, out, *extra):
    return [
        "fusion2void-gpu",
        "--data",
        str(sharp_dir),
        "--out",
        str(out),
        "--features",
        "4",
        "--batch-size",
        "2",
        "--patch-size",
        "32",
        "--val-count",
        "4",
        "--holdout",
        "0.2",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log-every",
        "5",
        *extra,
    ]


@pytest.mark.slow
def test_recipe_runs_both_stages_and_writes_loadable_weights(sharp_dir, tmp_path):
    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.types import Stack

    out = tmp_path / "run.pt"
    assert (
        training_main(_recipe_args(sharp_dir, out, "--minutes", "0.08", "--val-every-s", "1")) == 0
    )
    ck = torch.load(out, map_location="cpu", weights_only=True)
    warm, f2v = ck["recipe_state"]["stage_steps"]
    assert warm > 0
    assert f2v > 0
    assert ck["recipe_state"]["stage"] == 2
    for name in ("run.best.pt", "run.warm.pt", "run.f2v.pt"):
        assert (tmp_path / name).is_file()
    rng = np.random.default_rng(5)
    frames = [rng.random((40, 48, 3), dtype=np.float32) for _ in range(2)]
    res = get_method("fusion2void").fuse(
        Stack.from_arrays(frames),
        Fusion2VoidParams(weights=str(tmp_path / "run.best.pt"), device="cpu"),
    )
    assert np.isfinite(res.fused).all()


def test_recipe_resumes_where_it_stopped(sharp_dir, tmp_path):
    out = tmp_path / "run.pt"
    assert (
        training_main(_recipe_args(sharp_dir, out, "--minutes", "0.03", "--warm-fraction", "1.0"))
        == 0
    )
    first = torch.load(out, map_location="cpu", weights_only=True)
    steps1 = first["recipe_state"]["step"]
    assert (
        training_main(
            _recipe_args(sharp_dir, out, "--minutes", "0.06", "--warm-fraction", "1.0", "--resume")
        )
        == 0
    )
    second = torch.load(out, map_location="cpu", weights_only=True)
    # A finished run stays finished; the resumed state (steps, elapsed time) is carried.
    assert second["recipe_state"]["step"] >= steps1
    assert second["recipe_state"]["elapsed_s"] >= first["recipe_state"]["elapsed_s"]


def test_recipe_refuses_resume_without_a_checkpoint(sharp_dir, tmp_path, capsys):
    assert training_main(_recipe_args(sharp_dir, tmp_path / "none.pt", "--resume")) == 2
    assert "none.pt" in capsys.readouterr().err


@pytest.mark.slow
def test_gpu_recipe_20_steps_at_paper_width_on_cpu(sharp_dir, tmp_path):
    """The recipe at F = 32 (the shipped configuration) for at least 20 steps on the CPU."""
    out = tmp_path / "run.pt"
    args = [
        "fusion2void-gpu",
        "--data",
        str(sharp_dir),
        "--out",
        str(out),
        "--features",
        "32",
        "--batch-size",
        "2",
        "--patch-size",
        "48",
        "--val-count",
        "4",
        "--holdout",
        "0.2",
        "--device",
        "cpu",
        "--minutes",
        "0.5",
        "--warm-fraction",
        "0.5",
        "--log-every",
        "5",
    ]
    assert training_main(args) == 0
    ck = torch.load(out, map_location="cpu", weights_only=True)
    assert ck["recipe_state"]["step"] >= 20
    assert ck["model_args"] == {"features": 32}


def _sample_pairs(size: int = 160) -> list[tuple[np.ndarray, np.ndarray]]:
    """Centre crops of consecutive frames of the bundled sample stack, float32 RGB."""
    files = sorted((REPO / "resources" / "samples" / "sample-stack").glob("frame_*.png"))
    ims = [
        cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255 for f in files
    ]
    h, w = ims[0].shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    crops = [im[y : y + size, x : x + size] for im in ims]
    return list(itertools.pairwise(crops))


def _mean_qabf(weights: Path | None, pairs) -> float:
    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.training.gacn import qabf_metric
    from mffgui.types import Stack

    m = get_method("fusion2void")
    p = Fusion2VoidParams(weights=None if weights is None else str(weights), device="cpu")
    return float(
        np.mean([qabf_metric(a, b, m.fuse(Stack.from_arrays([a, b]), p).fused) for a, b in pairs])
    )


@pytest.mark.slow
def test_unsupervised_fine_tuning_from_bundled_keeps_quality(tmp_path):
    """``--init bundled --pairs DIR``: a short unsupervised run on a small real stack does not
    lower its Q^{AB/F} by more than 0.005."""
    from mffgui.models.weights import bundled_weights

    if bundled_weights("fusion2void") is None:
        pytest.fail("no bundled Fusion2Void weights")
    scene = tmp_path / "stack" / "sample"
    scene.mkdir(parents=True)
    pairs = _sample_pairs()
    for k, (a, _b) in enumerate([*pairs, (pairs[-1][1], None)]):
        cv2.imwrite(
            str(scene / f"f{k}.png"),
            cv2.cvtColor(np.round(a * 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
        )
    before = _mean_qabf(None, pairs)
    out = tmp_path / "ft.pt"
    assert (
        training_main(
            [
                "fusion2void",
                "--init",
                "bundled",
                "--pairs",
                str(tmp_path / "stack"),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--steps-per-epoch",
                "12",
                "--batch-size",
                "2",
                "--patch-size",
                "64",
                "--threads",
                "2",
            ]
        )
        == 0
    )
    ck = torch.load(out, map_location="cpu", weights_only=True)
    assert ck["model_args"] == {"features": 32}
    assert ck["global_step"] == 12
    after = _mean_qabf(out, pairs)
    assert after >= before - 0.005, (before, after)
