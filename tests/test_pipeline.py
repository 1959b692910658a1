"""The one fusion pipeline (mffgui.pipeline) and the one compare loop (mffgui.compare).

Every front end fuses through :func:`mffgui.pipeline.fuse_stack` / :func:`fuse_files`, and
``mffgui compare`` and the GUI compare share :func:`mffgui.compare.compare_stack`; these tests pin
that down: the same bits as ``mffgui fuse`` wrote before the pipeline existed, the same
invalid-border treatment in fuse, compare and bench, and one error policy in the compare loop.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from mffgui.cli import main
from mffgui.compare import CompareRun, compare_methods, compare_stack, method_error_text
from mffgui.core.align import AlignedStack
from mffgui.core.progress import CancelToken
from mffgui.errors import Cancelled, MffError
from mffgui.io import read_stack, write_image
from mffgui.methods import get_method, registry
from mffgui.pipeline import AlignSettings, align_input, fuse_files, fuse_stack
from mffgui.resources import sample_stack_dir

CLASSICAL = ("depthmap", "gff", "halofree", "laplacian")

# SHA-256 (first 20 hex digits) of the pixels `mffgui fuse ... --bit-depth 16` wrote with the
# code before mffgui.pipeline existed (branch main at 269b335), for the bundled sample stack
# (default Align = Auto: no motion, so not aligned). These bits do not depend on the machine:
# 269b335 and this code give them with OpenCV 4.10-4.14 and 5.1, on a Xeon and an AMD EPYC.
# The shifted stack's entries (aligned) were dropped: the alignment's float rounding differs
# between CPUs and OpenCV builds (on one EPYC machine five OpenCV versions gave four different
# digests, none the one recorded on a Xeon), so the aligned case is checked against the CLI on
# the same machine instead (test_fuse_files_equals_the_fuse_command_now).
# halofree's entry is its current output, not 269b335's: issue 17 changed the method on purpose
# (third round: band selection over the two most active frames; fourth: one bincount for the
# finest band; fifth: zones also from the unsnapped depth map, band_levels 5, noise_margin 6;
# sixth: the finest band's activity from the focus pass's modified Laplacian).
MAIN_SAMPLE = {
    "depthmap": "6d5d5923c10924e67395",
    "gff": "6928cf126785d93e3a6c",
    "halofree": "e3db12f546b6fee9c88b",
    "laplacian": "8c1a5b3dba3cff4bc030",
}


def _sample_dir() -> Path:
    return sample_stack_dir()


@pytest.fixture(scope="module")
def shifted_dir(tmp_path_factory) -> Path:
    """The sample stack with every frame cut from another place: a translating camera."""
    d = tmp_path_factory.mktemp("shifted")
    for i, f in enumerate(sorted(_sample_dir().glob("frame_*.png"))):
        im = np.asarray(Image.open(f))
        dy, dx = 10 + 3 * i, 12 + 4 * i
        Image.fromarray(im[dy : dy + 440, dx : dx + 600]).save(d / f.name)
    return d


def _pixels_u16(fused: np.ndarray, tmp_path: Path, name: str) -> np.ndarray:
    """``fused`` as the 16-bit TIFF `mffgui fuse --bit-depth 16` writes, read back."""
    path = tmp_path / f"{name}.tif"
    write_image(path, fused, bit_depth=16)
    return tifffile.imread(path)


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:20]


# -- fuse_files is what `mffgui fuse` wrote before ----------------------------------------------


@pytest.mark.parametrize("method", CLASSICAL)
def test_fuse_files_equals_the_fuse_command_of_main(method, shifted_dir, tmp_path):
    out = fuse_files([_sample_dir()], method)
    assert not out.report.aligned  # Auto found no motion in the sample stack
    assert out.report.method == method
    assert _digest(_pixels_u16(out.result.fused, tmp_path, "s")) == MAIN_SAMPLE[method]
    out = fuse_files([shifted_dir], method, align=AlignSettings("auto", crop=False))
    assert out.report.aligned
    assert isinstance(out.stack, AlignedStack)
    assert "alignment_border" in out.result.meta


@pytest.mark.parametrize("method", CLASSICAL)
def test_fuse_files_equals_the_fuse_command_now(method, shifted_dir, tmp_path):
    """Machine-independent twin of the test above: the CLI writes what fuse_files returns."""
    out_file = tmp_path / "cli.tif"
    argv = ["fuse", str(shifted_dir), "-o", str(out_file), "-m", method, "--bit-depth", "16"]
    assert main([*argv, "--align-no-crop"]) == 0
    out = fuse_files(shifted_dir, method, align=AlignSettings(crop=False))
    assert np.array_equal(tifffile.imread(out_file), _pixels_u16(out.result.fused, tmp_path, "x"))


def test_fuse_files_report_and_an_already_read_stack(shifted_dir):
    stack = read_stack([shifted_dir])
    seen: list[str] = []
    out = fuse_files(
        stack,
        "depthmap",
        on_read=lambda s: seen.append("read"),
        on_aligned=lambda o, s: seen.append(o.model),
    )
    assert seen == ["read", "similarity"]
    rep = out.report
    assert out.source is stack
    assert rep.frames_read == 5
    assert rep.frames_fused == 5
    assert rep.size == out.stack.shape == out.result.fused.shape[:2]
    assert rep.align_summary.startswith("auto: ")
    assert set(rep.timings) == {"read", "align", "fuse", "total"}
    assert rep.summary().startswith("fused 5 frames (")
    assert rep.strategy == ""
    off = fuse_files(stack, "depthmap", align="off")
    assert not off.report.aligned
    assert off.stack is stack


def test_fuse_files_cancel():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fuse_files([_sample_dir()], "depthmap", cancel=token)


def test_there_is_one_fuse_stack():
    import mffgui.cli.fuse
    import mffgui.core.align_fuse

    assert not hasattr(mffgui.core.align_fuse, "fuse_stack")
    assert not hasattr(mffgui.cli.fuse, "fuse_stack")


def test_cli_align_and_fuse_do_not_import_each_other():
    import ast
    import inspect

    import mffgui.cli.align
    import mffgui.cli.fuse

    def imported(mod) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(inspect.getsource(mod))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return names

    assert "mffgui.cli.fuse" not in imported(mffgui.cli.align)
    assert "mffgui.cli.align" not in imported(mffgui.cli.fuse)


# -- the invalid border: the same treatment in fuse, compare and bench --------------------------


@pytest.fixture(scope="module")
def aligned_no_crop(shifted_dir) -> AlignedStack:
    stack = align_input(read_stack([shifted_dir]), AlignSettings("auto", crop=False)).stack
    assert isinstance(stack, AlignedStack)
    assert not stack.valid_mask.all()
    return stack


def test_compare_handles_the_invalid_border_like_fuse(aligned_no_crop):
    method = get_method("laplacian")
    raw = method.fuse(aligned_no_crop, method.info.params()).fused
    fused = fuse_stack(aligned_no_crop, "laplacian").fused
    assert not np.array_equal(raw, fused)  # the border step changed something
    (entry,) = compare_methods(aligned_no_crop, ["laplacian"], metrics=["QG"])
    assert np.array_equal(entry.fused, fused)
    assert entry.result is not None
    assert "alignment_border" in entry.result.meta


def test_bench_handles_the_invalid_border_like_fuse(shifted_dir, tmp_path):
    from mffgui.cli.bench import BenchEntry, find_scenes, run_bench

    scenes, _ = find_scenes(shifted_dir)
    params = get_method("laplacian").info.params()
    entry = BenchEntry("laplacian", "method", "laplacian", params)
    run_bench(
        scenes,
        [entry],
        ["QG"],
        save_fused=tmp_path,
        log=io.StringIO(),
        align=AlignSettings("auto", crop=False),
    )
    saved = np.asarray(Image.open(tmp_path / "laplacian" / f"{shifted_dir.name}.png"))
    want = fuse_files(shifted_dir, "laplacian", align=AlignSettings(crop=False)).result.fused
    want_u8 = np.asarray(Image.open(write_image(tmp_path / "want.png", want, bit_depth=8)))
    assert np.array_equal(saved, want_u8)


# -- one compare loop, one error policy ---------------------------------------------------------


class _Boom:
    """A method that fails like a network on a broken GPU."""

    exc: BaseException = RuntimeError("CUDA error: an illegal memory access\nsecond line")

    def __init__(self) -> None:
        import dataclasses

        self.info = dataclasses.replace(get_method("laplacian").info, name="boom", title="Boom")

    def fuse(self, stack, params, **kw):
        raise type(self).exc


@pytest.fixture
def boom(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "boom", _Boom)
    return _Boom


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (RuntimeError("CUDA error: an illegal memory access\nmore"), "RuntimeError: CUDA error"),
        (MemoryError(), "not enough memory"),
        (ValueError("bad shape"), "ValueError: bad shape"),
        (MffError("weights file not found"), "weights file not found"),
    ],
)
def test_compare_loop_records_any_failure_and_goes_on(boom, monkeypatch, exc, message):
    monkeypatch.setattr(_Boom, "exc", exc)
    stack = read_stack([_sample_dir()])
    params = get_method("laplacian").info.params()
    runs = [CompareRun("boom", params, "boom"), CompareRun("laplacian", params, "laplacian")]
    seen = []
    entries = compare_stack(
        stack, runs, metrics=["QG"], on_entry=lambda i, e: seen.append((i, e.label))
    )
    assert seen == [(0, "boom"), (1, "laplacian")]
    assert entries[0].fused is None
    assert entries[0].error.startswith(message)
    assert "\n" not in entries[0].error
    assert entries[1].error is None
    assert entries[1].fused is not None


def test_compare_loop_stops_on_cancel():
    stack = read_stack([_sample_dir()])
    token = CancelToken()
    params = get_method("laplacian").info.params()
    runs = [CompareRun("laplacian", params, "a"), CompareRun("laplacian", params, "b")]

    def on_entry(i, e):
        token.cancel()

    with pytest.raises(Cancelled):
        compare_stack(stack, runs, metrics=["QG"], cancel=token, on_entry=on_entry)


def test_method_error_text_is_one_short_line():
    assert method_error_text(RuntimeError("x" * 500)).endswith("…")
    assert len(method_error_text(RuntimeError("x" * 500))) == 300
    assert method_error_text(KeyError()) == "KeyError"


def test_cli_compare_survives_a_method_raising_runtime_error(boom, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    rc = main(
        [
            "compare",
            str(_sample_dir()),
            "--methods",
            "boom",
            "laplacian",
            "--metrics",
            "QG",
            "-o",
            str(grid),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "Traceback" not in captured.err
    assert "boom failed: RuntimeError: CUDA error: an illegal memory access" in captured.err
    assert "boom failed: RuntimeError" in captured.out  # the Markdown table lists it
    csv = grid.with_suffix(".csv").read_text()
    assert "RuntimeError: CUDA error" in csv
    assert "laplacian" in csv
    assert grid.is_file()
