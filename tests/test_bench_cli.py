"""``mffgui bench`` and ``mffgui compare`` end to end on small synthetic scenes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path
from PIL import Image

from mffgui import metrics as M
from mffgui.cli import main
from mffgui.cli.bench import find_result, find_scenes
from mffgui.compare import compare_methods, comparison_grid, comparison_markdown
from mffgui.io import read_stack
from mffgui.metrics.report import metrics_table_markdown, render_grid

RNG = np.random.default_rng(3)
METRICS = ["QG", "QMI", "QCB", "EN"]


def _pair(h: int = 64, w: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sharp = cv2.GaussianBlur(RNG.random((h, w, 3)) * 255, (0, 0), 1.0)
    sharp = np.clip(cv2.normalize(sharp, None, 0, 255, cv2.NORM_MINMAX), 0, 255).astype(np.uint8)
    blur = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    a, b = sharp.copy(), sharp.copy()
    a[:, w // 2 :] = blur[:, w // 2 :]
    b[:, : w // 2] = blur[:, : w // 2]
    return sharp, a, b


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple]]:
    """Two scenes (one with ground truth) and a results folder missing the second scene."""
    data, results = tmp_path / "data", tmp_path / "results" / "TOOL"
    results.mkdir(parents=True)
    scenes = {}
    for name in ("scene_2", "scene_10"):
        sharp, a, b = _pair()
        d = data / name
        d.mkdir(parents=True)
        Image.fromarray(a).save(d / f"{name}_A.png")
        Image.fromarray(b).save(d / f"{name}_B.png")
        if name == "scene_2":
            Image.fromarray(sharp).save(d / f"{name}_groundtruth.png")
            Image.fromarray(sharp).save(results / f"{name}.png")
        scenes[name] = (sharp, a, b)
    (data / "notes.txt").write_text("not a scene")
    return data, results, scenes


def _read_csv(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_find_scenes_natural_order_and_ground_truth(dataset):
    data, results, _ = dataset
    scenes, _notes = find_scenes(data)
    assert [s.name for s in scenes] == ["scene_2", "scene_10"]
    assert scenes[0].ground_truth is not None
    assert scenes[1].ground_truth is None
    assert [p.name for p in scenes[0].discovery.files] == ["scene_2_A.png", "scene_2_B.png"]
    assert find_result(results, "SCENE_2").name == "scene_2.png"
    assert find_result(results, "scene_10") is None
    assert [s.name for s in find_scenes(data, ["*_1*"])[0]] == ["scene_10"]


def test_bench_scores_results_and_methods(dataset, tmp_path, capsys):
    data, results, scenes = dataset
    out = tmp_path / "out"
    rc = main(
        [
            "bench",
            str(data),
            "--results",
            str(results),
            "--methods",
            "laplacian",
            "--metrics",
            *METRICS,
            "PSNR",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert "| TOOL |" in captured.out
    assert "| laplacian |" in captured.out
    assert "scene_10" in captured.err  # progress and the missing result are reported

    rows = _read_csv(out / "TOOL" / "scenes.csv")
    assert [r["scene"] for r in rows] == ["scene_2", "scene_10"]
    assert "no result" in rows[1]["error"]
    sharp, a, b = scenes["scene_2"]
    want = M.score(sharp, [a, b], sharp, [*METRICS, "PSNR"])
    for k in METRICS:
        assert float(rows[0][k]) == pytest.approx(want[k], rel=1e-12)
    assert rows[0]["PSNR"] == "inf"

    summary = json.loads((out / "summary.json").read_text())
    by = {e["entry"]: e for e in summary["entries"]}
    assert by["TOOL"]["scenes_scored"] == 1
    assert by["TOOL"]["scenes_total"] == 2
    assert by["TOOL"]["QG"] == pytest.approx(want["QG"], rel=1e-12)
    assert by["laplacian"]["scenes_scored"] == 2
    assert by["laplacian"]["seconds_per_scene"] > 0
    lap = _read_csv(out / "laplacian" / "scenes.csv")
    assert float(by["laplacian"]["QMI"]) == pytest.approx(
        np.mean([float(r["QMI"]) for r in lap]), rel=1e-12
    )
    md = (out / "summary.md").read_text()
    assert "| 1/2 |" in md
    assert "| 2/2 |" in md
    assert "QG ↑" in md


def test_bench_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing"), "--results", str(tmp_path)]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    (tmp_path / "d" / "s").mkdir(parents=True)
    assert main(["bench", str(tmp_path / "d"), "--metrics", "QZZ"]) == 2
    assert "unknown metric" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "d"), "--methods", "laplacian"]) == 2
    assert "no scene folders" in capsys.readouterr().err


def test_bench_rejects_a_wrong_size_result(dataset, tmp_path):
    data, results, _ = dataset
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(results / "scene_10.png")
    out = tmp_path / "o"
    assert (
        main(["bench", str(data), "--results", str(results), "--metrics", "QG", "--out", str(out)])
        == 0
    )
    rows = _read_csv(out / "TOOL" / "scenes.csv")
    assert "10x10" in rows[1]["error"]


@pytest.mark.slow
@pytest.mark.shared
def test_bench_reproduces_direct_scoring_on_lytro(tmp_path):
    lytro = shared_path("data", "lytro")
    cnn = shared_path("data", "results", "CNN")
    out = tmp_path / "b"
    assert (
        main(
            [
                "bench",
                str(lytro),
                "--results",
                str(cnn),
                "--scenes",
                "lytro_01",
                "--metrics",
                "QG",
                "QMI",
                "QP",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    row = _read_csv(out / "CNN" / "scenes.csv")[0]
    srcs = [np.asarray(Image.open(lytro / "lytro_01" / f"lytro_01_{k}.jpg")) for k in "AB"]
    fused = np.asarray(Image.open(next(cnn.glob("lytro_01.*"))))
    want = M.score(fused, srcs, metrics=["QG", "QMI", "QP"])
    for k, v in want.items():
        assert float(row[k]) == pytest.approx(v, rel=1e-12)


# --- compare -----------------------------------------------------------------------------------


def test_compare_methods_and_grid(dataset, tmp_path, capsys):
    data, _, scenes = dataset
    folder = data / "scene_2"
    out = tmp_path / "grid.png"
    rc = main(
        [
            "compare",
            str(folder / "scene_2_A.png"),
            str(folder / "scene_2_B.png"),
            "--methods",
            "laplacian",
            "gff",
            "--metrics",
            *METRICS,
            "-o",
            str(out),
            "--tile-width",
            "0",
        ]
    )
    assert rc == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape[1] == 2 * 80 + 8
    assert grid.shape[0] > 64
    rows = _read_csv(out.with_suffix(".csv"))
    assert [r["method"] for r in rows] == ["laplacian", "gff"]
    assert "| laplacian |" in out.with_suffix(".md").read_text()
    assert "| gff |" in capsys.readouterr().out

    stack = read_stack(folder)
    entries = compare_methods(stack, ["laplacian"], metrics=METRICS)
    _, a, b = scenes["scene_2"]
    want = M.score(entries[0].fused, [a, b], metrics=METRICS)
    assert entries[0].scores == pytest.approx(want, rel=1e-12)
    assert float(rows[0]["QG"]) == pytest.approx(want["QG"], rel=1e-12)
    assert comparison_grid(entries, tile_width=40).shape[1] == 40
    assert "laplacian" in comparison_markdown(entries)


def test_compare_reports_unknown_method(dataset, tmp_path, capsys):
    data, _, _ = dataset
    rc = main(
        ["compare", str(data / "scene_2"), "--methods", "nosuch", "-o", str(tmp_path / "g.png")]
    )
    assert rc == 2
    assert "unknown method" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_render_grid_layout_and_table():
    imgs = [np.full((20, 30), v, np.uint8) for v in (0, 128, 255)]
    grid = render_grid(imgs, ["a", "b", "c"], cols=2, tile_width=None, gap=4)
    assert grid.dtype == np.float32
    assert grid.shape[1] == 2 * 30 + 4
    with pytest.raises(ValueError, match="same size"):
        render_grid([imgs[0], np.zeros((5, 5))], ["a", "b"])
    md = metrics_table_markdown(
        {"x": {"QG": 0.5, "QCV": 10.0}, "y": {"QG": 0.7, "QCV": 20.0}}, ["QG", "QCV"]
    )
    assert "| x | 0.5000 | **10.00** |" in md
    assert "| y | **0.7000** | 20.00 |" in md
