"""Fusion2Void training: smoke run with exact resume, loading into the method, the objective."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from mffgui.training.__main__ import main as training_main  # noqa: E402
from mffgui.training.fusion2void import (  # noqa: E402
    ColourPairs,
    Objective,
    block_masks,
    fidelity_loss,
    make_rgb_pair,
)


@pytest.fixture(scope="module")
def sharp_dir(tmp_path_factory):
    """Eight small sharp colour textures (no shared data needed)."""
    d = tmp_path_factory.mktemp("sharp")
    rng = np.random.default_rng(0)
    for i in range(8):
        img = cv2.GaussianBlur(rng.random((48, 56, 3)).astype(np.float32), (0, 0), 0.8)
        cv2.imwrite(str(d / f"img{i}.png"), np.round(img * 255).astype(np.uint8))
    return d


def _args(sharp_dir, out, *extra):
    return [
        "fusion2void",
        "--data",
        str(sharp_dir),
        "--out",
        str(out),
        "--features",
        "4",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "2",
        "--patch-size",
        "24",
        "--val-count",
        "2",
        "--holdout",
        "0.25",
        "--seed",
        "3",
        "--threads",
        "1",
        *extra,
    ]


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_two_steps_resume_exactly_and_load_into_method(sharp_dir, tmp_path):
    straight = tmp_path / "straight.pt"
    assert training_main(_args(sharp_dir, straight, "--epochs", "2")) == 0
    resumed = tmp_path / "resumed.pt"
    assert training_main(_args(sharp_dir, resumed, "--epochs", "1")) == 0
    first = _load(resumed)
    assert first["epoch"] == 1
    assert first["global_step"] == 1
    assert training_main(_args(sharp_dir, resumed, "--epochs", "2", "--resume")) == 0
    a, b = _load(straight), _load(resumed)
    assert b["epoch"] == 2
    assert b["global_step"] == 2
    assert a["model_args"] == {"features": 4}
    assert set(a["model"]) == set(b["model"])
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=1e-6)
    assert any(k.startswith("rec.") for k in a["model"])
    assert "psnr" in a["metrics"][-1]["val"]

    from mffgui.methods import get_method
    from mffgui.methods.fusion2void import Fusion2VoidParams
    from mffgui.types import Stack

    rng = np.random.default_rng(1)
    frames = [rng.random((30, 40, 3)).astype(np.float32) for _ in range(3)]
    res = get_method("fusion2void").fuse(
        Stack.from_arrays(frames), Fusion2VoidParams(weights=str(resumed))
    )
    assert res.fused.shape == (30, 40, 3)
    assert res.meta["features"] == 4
    assert np.isfinite(res.fused).all()


def test_resume_without_checkpoint_is_a_clear_error(sharp_dir, tmp_path, capsys):
    assert training_main(_args(sharp_dir, tmp_path / "none.pt", "--resume")) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_block_masks_modes():
    rng = np.random.default_rng(0)
    obj = Objective(mask_block=4, drop_ratio=0.7)
    ma, mb = block_masks(rng, 64, 16, 20, obj)
    assert ma.shape == (64, 1, 16, 20)
    np.testing.assert_array_equal(ma, mb)
    assert abs(1 - ma.mean() - 0.7) < 0.05  # drop ratio
    # constant on 4x4 blocks
    np.testing.assert_array_equal(ma[:, :, ::4, ::4].repeat(4, 2).repeat(4, 3)[:, :, :16, :20], ma)
    ca, cb = block_masks(rng, 8, 16, 16, Objective(mask_block=4, mask_mode="complementary"))
    np.testing.assert_array_equal(ca + cb, 1.0)
    ia, ib = block_masks(rng, 64, 16, 16, Objective(mask_block=4, mask_mode="independent"))
    assert (ia != ib).any()


def test_fidelity_is_zero_only_for_pixelwise_selection():
    rng = np.random.default_rng(2)
    a = torch.from_numpy(rng.random((1, 3, 8, 8)).astype(np.float32))
    b = torch.from_numpy(rng.random((1, 3, 8, 8)).astype(np.float32))
    pick = torch.from_numpy((rng.random((1, 1, 8, 8)) < 0.5).astype(np.float32))
    assert float(fidelity_loss(pick * a + (1 - pick) * b, a, b)) == 0.0
    assert float(fidelity_loss((a + b) / 2, a, b)) > 0.0


def test_synthetic_colour_pairs_are_complementary():
    rng = np.random.default_rng(4)
    sharp = cv2.GaussianBlur(rng.random((64, 64, 3)).astype(np.float32), (0, 0), 0.5)
    from mffgui.training.datasets import PairConfig

    a, b = make_rgb_pair(rng, sharp, PairConfig.plain())
    ea = np.abs(a - sharp).mean(axis=2)
    eb = np.abs(b - sharp).mean(axis=2)
    # Every pixel is (nearly) sharp in at least one source.
    assert np.median(np.minimum(ea, eb)) < 0.02
    assert (ea > 0.02).mean() > 0.1
    assert (eb > 0.02).mean() > 0.1


def test_colour_pairs_batch_is_a_pure_function_of_the_rng(sharp_dir):
    from mffgui.training.datasets import list_images

    pairs = ColourPairs(list_images([sharp_dir]), [], 24)
    x1 = pairs.make(np.random.default_rng(5), 3)
    x2 = pairs.make(np.random.default_rng(5), 3)
    assert x1[0].shape == (3, 3, 24, 24)
    np.testing.assert_array_equal(x1[0], x2[0])
    np.testing.assert_array_equal(x1[1], x2[1])


def test_real_pairs_come_from_two_frames_of_one_scene(tmp_path):
    from mffgui.training.fusion2void import discover_scenes

    values = {"s1": (10, 60, 110), "s2": (160, 210)}
    for scene, levels in values.items():
        (tmp_path / scene).mkdir()
        for i, v in enumerate(levels):
            cv2.imwrite(str(tmp_path / scene / f"f{i}.png"), np.full((20, 30, 3), v, np.uint8))
    (tmp_path / "lonely").mkdir()
    cv2.imwrite(str(tmp_path / "lonely" / "x.png"), np.zeros((20, 30, 3), np.uint8))
    scenes = discover_scenes([tmp_path])
    assert [len(s) for s in scenes] == [3, 2]  # a folder with one image is not a scene
    pairs = ColourPairs([], scenes, 16)
    a, b = pairs.make(np.random.default_rng(0), 12)
    assert a.shape == (12, 3, 16, 16)
    for x, y in zip(a, b, strict=True):
        va, vb = round(float(x.mean()) * 255), round(float(y.mean()) * 255)
        assert x.std() < 1e-6  # a plain crop of one frame
        assert va != vb
        assert any(va in lv and vb in lv for lv in values.values())


def test_zero_init_residual_makes_every_block_the_identity():
    from mffgui.models.fusion2void import build_pair_model, torch_modules
    from mffgui.training.fusion2void import zero_init_residual

    torch.manual_seed(0)
    model = build_pair_model({"features": 6})
    blocks = [m for m in model.modules() if isinstance(m, torch_modules()["ResBlock"])]
    x = torch.rand(2, 6, 9, 11)  # block inputs follow a ReLU: non-negative
    assert not torch.allclose(blocks[0](x), x)
    assert zero_init_residual(model) == len(blocks) == 5 + 5 + 3 + 8
    for blk in blocks:
        torch.testing.assert_close(blk(x), x, rtol=0, atol=0)


def test_identity_loss_measures_fusing_an_image_with_itself():
    from mffgui.models.fusion2void import build_fusionnet
    from mffgui.training.fusion2void import identity_loss

    torch.manual_seed(1)
    net = build_fusionnet({"features": 4})
    a, b = torch.rand(2, 3, 12, 12), torch.rand(3, 3, 12, 12)
    expect = ((net(a, a) - a).abs().sum() + (net(b, b) - b).abs().sum()) / (a.numel() + b.numel())
    torch.testing.assert_close(identity_loss(net, a, b), 2 * expect)


def test_warmup_steps_train_only_the_identity_term(sharp_dir):
    from mffgui.training.common import EventLog
    from mffgui.training.fusion2void import Fusion2VoidTask

    task = Fusion2VoidTask()
    config = {
        **task.defaults,
        "data": [str(sharp_dir)],
        "features": 4,
        "patch_size": 16,
        "batch_size": 2,
        "steps_per_epoch": 3,
        "warmup_steps": 4,
        "val_count": 1,
        "holdout": 0.25,
        "identity_weight": 0.5,
    }
    import io

    task.setup(config, torch.device("cpu"), EventLog(stream=io.StringIO()))
    model, _ = task.build_model(config)
    flags = [task.batch(e, s)[-1] for e in range(2) for s in range(3)]
    assert flags == [True, True, True, True, False, False]  # global steps 0..5
    warm = task.loss(model, task.batch(0, 0))
    assert float(warm["rec"]) == 0.0
    torch.testing.assert_close(warm["loss"], warm["identity"])
    full = task.loss(model, task.batch(1, 2))
    torch.testing.assert_close(
        full["loss"], full["rec"] + 10.0 * full["fidelity"] + 0.5 * full["identity"]
    )


def test_events_of_a_tiny_run_parse_into_typed_classes(sharp_dir, tmp_path, capsys):
    """One schema: every line the Fusion2Void trainer writes reads back as its typed event."""
    from mffgui.training import events as ev

    assert training_main(_args(sharp_dir, tmp_path / "f2v.pt", "--epochs", "1", "--jsonl")) == 0
    parsed = [ev.parse_event(x) for x in capsys.readouterr().out.splitlines()]
    assert all(isinstance(e, ev.Event) for e in parsed), parsed
    assert not [e for e in parsed if isinstance(e, ev.UnknownEvent)]
    assert {"data", "start", "step", "epoch", "checkpoint", "done"} <= {e.name for e in parsed}
    for e in parsed:
        assert type(e) is ev.EVENT_TYPES[e.name]
        if not isinstance(e, ev.StepEvent):
            assert e.extras == {}, e
    done = parsed[-1]
    assert isinstance(done, ev.DoneEvent)
    assert done.epochs == 1
