"""The command line: fuse, batch, methods, progress output and error handling."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mffgui.cli import main
from mffgui.cli.fuse import ProgressLine, default_method, parse_sets
from mffgui.core.synthetic import complementary_pair, half_mask, sharp_scene
from mffgui.errors import ParamsError
from mffgui.io.readers import probe, read_image
from mffgui.io.writers import write_image
from mffgui.methods import registry
from mffgui.methods.base import MethodInfo, Params, param
from mffgui.types import FusionResult
from tests.conftest import REPO, shared_path

# --- a tiny test-only method, registered only for the tests that ask for it ---------------------


@dataclass(frozen=True)
class _MaxParams(Params):
    window: int = param(5, "Averaging window of the contrast measure", min=1, max=31)


class _MaxContrast:
    """Per-pixel selector of the frame with the largest local Laplacian energy."""

    info: ClassVar[MethodInfo] = MethodInfo(
        name="test-maxcontrast",
        title="Max contrast (test)",
        kind="classical",
        params=_MaxParams,
        description="test-only",
    )

    def fuse(self, stack, params, *, progress=lambda *a: None, cancel=None) -> FusionResult:
        n = len(stack)
        focus = np.stack(
            [
                ndimage.uniform_filter(
                    ndimage.laplace(stack.gray(i).astype(np.float64)) ** 2, params.window
                )
                for i in range(n)
            ]
        ).astype(np.float32)
        idx = np.argmax(focus, axis=0)
        weights = np.stack([(idx == i) for i in range(n)]).astype(np.float32)
        fused = np.zeros_like(stack.frame(0))
        for i in range(n):
            fused += weights[i][:, :, None] * stack.frame(i)
            progress(i + 1, n, "selecting")
        focus /= max(float(focus.max()), 1e-12)
        return FusionResult(
            fused=fused,
            index_map=idx.astype(np.uint16),
            weights=weights,
            focus_maps=focus,
            meta={"method": "test-maxcontrast"},
        )


@pytest.fixture
def test_method(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, _MaxContrast.info.name, _MaxContrast)
    return _MaxContrast.info.name


@pytest.fixture
def pair(tmp_path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A folder with a complementary pair (A sharp on the left) and the sharp scene."""
    sharp = sharp_scene(64, 96, 5)
    mask = half_mask(64, 96)
    a, b = complementary_pair(sharp, mask, sigma=3.0)
    folder = tmp_path / "pair"
    folder.mkdir()
    write_image(folder / "a.png", a, bit_depth=8)
    write_image(folder / "b.png", b, bit_depth=8)
    return folder, sharp, mask


# --- fuse -----------------------------------------------------------------------------------


def test_fuse_pair_end_to_end(tmp_path, pair, test_method, capsys):
    folder, sharp, _mask = pair
    out = tmp_path / "fused.png"
    maps = tmp_path / "maps"
    rc = main(
        [
            "fuse",
            str(folder),
            "-o",
            str(out),
            "--method",
            test_method,
            "--set",
            "window=7",
            "--maps",
            str(maps),
        ]
    )
    assert rc == 0
    fused, meta = read_image(out)
    assert fused.shape == (64, 96, 3)
    assert meta.bit_depth == 8
    sharp8 = np.rint(sharp * 255) / 255
    a, _ = read_image(folder / "a.png")
    b, _ = read_image(folder / "b.png")
    err = np.abs(fused - sharp8).mean()
    assert err < np.abs(a - sharp8).mean()
    assert err < np.abs(b - sharp8).mean()
    assert sorted(p.name for p in maps.iterdir()) == [
        "fused_decision.png",
        "fused_focus_001.png",
        "fused_focus_002.png",
        "fused_index.png",
    ]
    err_out = capsys.readouterr().err
    assert "selecting" in err_out
    assert "fused 2 frames" in err_out


def test_default_bit_depth_follows_16bit_input(tmp_path, test_method):
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 65536, (20, 24), dtype=np.uint16)).save(
            tmp_path / f"f{i}.png"
        )
    out = tmp_path / "out" / "fused.tif"
    out.parent.mkdir()
    assert (
        main(
            [
                "fuse",
                str(tmp_path / "f0.png"),
                str(tmp_path / "f1.png"),
                "-o",
                str(out),
                "-m",
                test_method,
            ]
        )
        == 0
    )
    assert probe(out)[0].bit_depth == 16
    out8 = tmp_path / "out" / "fused8.png"
    assert (
        main(
            [
                "fuse",
                str(tmp_path / "f0.png"),
                str(tmp_path / "f1.png"),
                "-o",
                str(out8),
                "-m",
                test_method,
                "--bit-depth",
                "8",
            ]
        )
        == 0
    )
    assert probe(out8)[0].bit_depth == 8


def _run_error(argv: list[str], capsys) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith("mffgui: error: ")
    return captured.err


def test_errors_exit_2_with_message(tmp_path, pair, test_method, capsys):
    folder, _, _ = pair
    out = str(tmp_path / "x.png")
    assert "not found" in _run_error(["fuse", str(tmp_path / "missing"), "-o", out], capsys)
    assert "at least two" in _run_error(["fuse", str(folder / "a.png"), "-o", out], capsys)
    assert "unknown parameter 'nope'" in _run_error(
        ["fuse", str(folder), "-o", out, "-m", test_method, "--set", "nope=1"], capsys
    )
    assert "is above 31" in _run_error(
        ["fuse", str(folder), "-o", out, "-m", test_method, "--set", "window=99"], capsys
    )
    assert "KEY=VALUE" in _run_error(
        ["fuse", str(folder), "-o", out, "-m", test_method, "--set", "window"], capsys
    )
    assert "does not take --device" in _run_error(
        ["fuse", str(folder), "-o", out, "-m", test_method, "--device", "cpu"], capsys
    )
    assert "does not take --weights" in _run_error(
        ["fuse", str(folder), "-o", out, "-m", test_method, "--weights", "w.pt"], capsys
    )
    assert "unknown method" in _run_error(
        ["fuse", str(folder), "-o", out, "-m", "no-such-method"], capsys
    )
    assert "8 bits only" in _run_error(
        [
            "fuse",
            str(folder),
            "-o",
            str(tmp_path / "x.jpg"),
            "-m",
            test_method,
            "--bit-depth",
            "16",
        ],
        capsys,
    )
    assert ".webp" in _run_error(
        ["fuse", str(folder), "-o", str(tmp_path / "x.webp"), "-m", test_method], capsys
    )
    assert not (tmp_path / "x.png").exists()


def test_refuses_to_overwrite_source_before_fusing(pair, test_method, capsys):
    folder, _, _ = pair
    before = (folder / "a.png").read_bytes()
    err = _run_error(["fuse", str(folder), "-o", str(folder / "a.png"), "-m", test_method], capsys)
    assert "source" in err
    assert "selecting" not in err
    assert (folder / "a.png").read_bytes() == before


def test_device_and_weights_passed_to_params_that_have_them(tmp_path, pair, monkeypatch):
    seen: dict[str, object] = {}

    @dataclass(frozen=True)
    class NetParams(Params):
        device: str = param("auto", "device")
        weights: str | None = param(None, "checkpoint")

    class Net(_MaxContrast):
        info: ClassVar[MethodInfo] = MethodInfo(
            name="test-net", title="Net (test)", kind="network", params=NetParams
        )

        def fuse(self, stack, params, **kw):
            seen.update(params.to_dict())
            return super().fuse(stack, _MaxParams(), **kw)

    monkeypatch.setitem(registry._REGISTRY, "test-net", Net)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    folder, _, _ = pair
    assert (
        main(
            [
                "fuse",
                str(folder),
                "-o",
                str(tmp_path / "n.png"),
                "-m",
                "test-net",
                "--device",
                "cpu",
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    assert seen == {"device": "cpu", "weights": str(weights)}
    rc = main(
        [
            "fuse",
            str(folder),
            "-o",
            str(tmp_path / "n.png"),
            "-m",
            "test-net",
            "--weights",
            str(tmp_path / "missing.pt"),
        ]
    )
    assert rc == 2


def test_batch_continues_after_a_failing_folder(tmp_path, pair, test_method, capsys):
    folder, _, _ = pair
    root = tmp_path / "root"
    root.mkdir()
    for name in ("scene10", "scene2"):
        d = root / name
        d.mkdir()
        for f in folder.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
    bad = root / "scene5"
    bad.mkdir()
    (bad / "a.png").write_bytes((folder / "a.png").read_bytes())  # one image only
    (root / "notes").mkdir()  # no images: not a stack
    out = tmp_path / "outdir"
    # --no-dask: the test method is registered in this process only (tests/test_batch.py
    # covers the Dask engine).
    rc = main(
        [
            "fuse",
            "--batch",
            str(root),
            "-o",
            str(out),
            "-m",
            test_method,
            "--format",
            "tif",
            "--no-dask",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert sorted(p.name for p in out.glob("*.tif")) == ["scene10.tif", "scene2.tif"]
    assert "scene5" in err
    assert "FAILED" in err
    assert "2 of 3" in err
    # Natural order of the sub-folders: scene2, scene5, scene10.
    assert err.index("[1/3] scene2") < err.index("[2/3] scene5") < err.index("[3/3] scene10")


def test_batch_all_good_exit_0(tmp_path, pair, test_method):
    folder, _, _ = pair
    root = tmp_path / "root"
    (root / "s1").mkdir(parents=True)
    for f in folder.iterdir():
        (root / "s1" / f.name).write_bytes(f.read_bytes())
    assert (
        main(
            [
                "fuse",
                "--batch",
                str(root),
                "-o",
                str(tmp_path / "o"),
                "-m",
                test_method,
                "--no-dask",
            ]
        )
        == 0
    )
    assert (tmp_path / "o" / "s1.png").is_file()


def test_batch_usage_errors(tmp_path, pair, test_method, capsys):
    folder, _, _ = pair
    _run_error(["fuse", "--batch", str(tmp_path / "nope"), "-o", str(tmp_path)], capsys)
    assert "sub-folder" in _run_error(
        ["fuse", "--batch", str(folder), "-o", str(tmp_path / "o")], capsys
    )
    assert "either" in _run_error(
        ["fuse", str(folder), "--batch", str(tmp_path), "-o", str(tmp_path / "o")], capsys
    )


# --- methods ----------------------------------------------------------------------------------


def test_methods_lists_parameters(test_method, capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    from mffgui.methods import list_methods

    for info in list_methods():
        assert info.name in out
        for p in info.params.describe():
            assert p["name"] in out
    assert "window (int, default 5, 1 .. 31)" in out
    assert "Averaging window of the contrast measure" in out


def test_methods_json_and_single(test_method, capsys):
    assert main(["methods", test_method, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 1
    assert data[0]["name"] == test_method
    assert data[0]["params"] == [
        {
            "name": "window",
            "type": "int",
            "default": 5,
            "range": "1 .. 31",
            "help": "Averaging window of the contrast measure",
        }
    ]
    assert "unknown method" in _run_error(["methods", "no-such"], capsys)


def test_default_method_is_the_registry_default_or_first_classical():
    from mffgui.methods import list_methods

    names = [i.name for i in list_methods()]
    classical = [i.name for i in list_methods() if i.kind == "classical"]
    from mffgui.methods.registry import DEFAULT_METHOD

    expected = DEFAULT_METHOD if DEFAULT_METHOD in names else classical[0]
    assert default_method() == expected


def test_parse_sets():
    assert parse_sets(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ParamsError):
        parse_sets(["=3"])


# --- progress line ----------------------------------------------------------------------------


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_plain_lines_when_not_a_tty():
    s = _Stream(tty=False)
    p = ProgressLine("job", s)
    for i in range(101):
        p(i, 100, "focus")
    p(1, 1, "blend")
    lines = s.getvalue().splitlines()
    assert "\r" not in s.getvalue()
    assert lines[0] == "job: focus   0%"
    assert lines[-1] == "job: blend 100%"
    assert 10 <= len(lines) <= 13


def test_progress_overwrites_on_a_tty():
    s = _Stream(tty=True)
    p = ProgressLine("job", s)
    for i in range(5):
        p(i, 4, "focus")
    p.done("finished")
    text = s.getvalue()
    assert text.count("\r") >= 5
    assert text.count("\n") == 1
    assert text.endswith("finished\n")


# --- the real default method and a subprocess run --------------------------------------------


@pytest.mark.shared
def test_fuse_lytro_with_default_method(tmp_path, capsys):
    from mffgui.methods import list_methods
    from mffgui.methods.registry import DEFAULT_METHOD

    assert DEFAULT_METHOD in {i.name for i in list_methods()}, "the default is not registered"
    src = shared_path("data", "lytro", "lytro_01")
    out = tmp_path / "x.png"
    assert main(["fuse", str(src), "-o", str(out)]) == 0
    img, meta = read_image(out)
    assert img.shape == (520, 520, 3)
    assert meta.bit_depth == 8
    a, _ = read_image(src / "lytro_01_A.jpg")
    b, _ = read_image(src / "lytro_01_B.jpg")
    # Every fused value lies within the range of the two sources (up to blending rounding).
    assert (img >= np.minimum(a, b) - 2 / 255).all()
    assert (img <= np.maximum(a, b) + 2 / 255).all()


@pytest.mark.slow
def test_subprocess_python_m_mffgui(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "mffgui",
            "fuse",
            str(tmp_path / "missing"),
            "-o",
            str(tmp_path / "o.png"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "not found" in bad.stderr
    sample = REPO / "resources" / "samples" / "sample-stack"
    good = subprocess.run(
        [sys.executable, "-m", "mffgui", "fuse", str(sample), "-o", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert good.returncode == 0, good.stderr
    assert "Traceback" not in good.stderr
    img, _ = read_image(tmp_path / "s.png")
    assert img.shape == (480, 640, 3)


def test_maps_folder_that_cannot_be_created(tmp_path, pair, test_method, capsys):
    folder, _, _ = pair
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = _run_error(
        [
            "fuse",
            str(folder),
            "-o",
            str(tmp_path / "f.png"),
            "-m",
            test_method,
            "--maps",
            str(blocker / "maps"),
        ],
        capsys,
    )
    assert "maps folder" in err
    assert not (tmp_path / "f.png").exists()


@pytest.mark.shared
def test_dfnn_16bit_stays_exact_through_fusion_and_export(tmp_path):
    """The narrow-range 16-bit DFNN stack (values ~36..700 of 65535): `mffgui fuse` with hard
    selection writes a 16-bit TIFF whose every pixel is one of the sources' values there."""
    import tifffile

    folder = shared_path("data", "stacks", "dfnn-microtubules-16bit")
    files = sorted(folder.glob("*.tif"))[10:16]
    src = np.stack([tifffile.imread(f) for f in files])
    assert src.dtype == np.uint16
    assert src.max() < 1000
    before = [f.read_bytes() for f in files]
    out = tmp_path / "fused.tif"
    maps = tmp_path / "maps"
    assert (
        main(
            [
                "fuse",
                *map(str, files),
                "-o",
                str(out),
                "--method",
                "depthmap",
                "--set",
                "blend_sigma=0",
                "--maps",
                str(maps),
            ]
        )
        == 0
    )
    fused = tifffile.imread(out)
    assert fused.dtype == np.uint16
    assert fused.shape == src.shape[1:]
    index = np.asarray(Image.open(next(maps.glob("*index*.png"))))
    chosen = np.take_along_axis(src, index[None].astype(np.int64), axis=0)[0]
    np.testing.assert_array_equal(fused, chosen)
    assert len(np.unique(fused)) > 300  # no 8-bit detour
    assert [f.read_bytes() for f in files] == before  # sources untouched
