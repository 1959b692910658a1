"""Batch at scale (issue 21): Dask engine vs the serial path, lost workers, corrupt stacks,
``--resume``, the report and the exit status."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from mffgui.batch import BatchJob, BatchRunner, is_complete
from mffgui.batch.task import marker_path
from mffgui.cli import main
from mffgui.io.sample import write_sample_stack
from mffgui.io.stacks import read_stack
from mffgui.io.writers import to_uint
from mffgui.methods import get_method
from mffgui.methods.base import MethodInfo
from mffgui.methods.registry import _REGISTRY

distributed = pytest.importorskip("distributed")

METHOD = "laplacian"
SLOW = "test-slow-laplacian"


class SlowLaplacian:
    """``laplacian`` that sleeps first, so a worker can be killed while it holds tasks."""

    info: ClassVar[MethodInfo] = MethodInfo(
        name=SLOW,
        title="Slow Laplacian (test)",
        kind="classical",
        params=type(get_method(METHOD)).info.params,
        description="test-only",
    )

    def fuse(self, stack, params, *, progress=lambda *a: None, cancel=None):
        time.sleep(0.25)
        return get_method(METHOD).fuse(stack, params, progress=progress)


def register_slow() -> None:
    _REGISTRY[SLOW] = SlowLaplacian


class RegisterSlow(distributed.WorkerPlugin):
    """Registers :class:`SlowLaplacian` on every worker, restarted ones included."""

    name = "mffgui-test-slow"

    def setup(self, worker) -> None:
        register_slow()


def make_stacks(root: Path, n: int, size: int = 64, frames: int = 5) -> list[Path]:
    """``n`` synthetic 5-frame stacks ``s01 ... sNN`` of ``size`` x ``size`` 8-bit PNGs."""
    dirs = []
    for i in range(n):
        d = root / f"s{i + 1:02d}"
        write_sample_stack(d, n_frames=frames, size=(size, size), max_sigma=3.0, seed=i)
        dirs.append(d)
    return dirs


def reference(stack_dir: Path, method: str = METHOD) -> np.ndarray:
    """The fused 8-bit image computed directly with the method, outside the batch engine."""
    m = get_method(method)
    stack = read_stack([stack_dir])
    fused = m.fuse(stack, m.info.params()).fused
    return to_uint(fused, 8)


def pixels(path: Path) -> np.ndarray:
    """The 8-bit pixels of a written output, decoded by Pillow (not by mffgui's reader)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name]


@pytest.fixture(scope="module")
def client():
    """A 2-worker ``LocalCluster`` of processes (with nannies, so a killed worker restarts)."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    c = distributed.Client(cluster)
    c.register_plugin(RegisterSlow())
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def stacks20(tmp_path_factory) -> list[Path]:
    return make_stacks(tmp_path_factory.mktemp("batch20"), 20)


@pytest.mark.slow
def test_dask_cli_matches_serial_bit_for_bit(stacks20, tmp_path, capsys):
    root = stacks20[0].parent
    out_serial, out_dask = tmp_path / "serial", tmp_path / "dask"
    assert (
        main(["fuse", "--batch", str(root), "-o", str(out_serial), "-m", METHOD, "--no-dask"]) == 0
    )
    assert (
        main(["fuse", "--batch", str(root), "-o", str(out_dask), "-m", METHOD, "--workers", "2"])
        == 0
    )
    err = capsys.readouterr().err
    assert "embedded LocalCluster: 2 worker(s)" in err
    assert "dashboard:" in err
    for d in stacks20:
        a, b = out_serial / f"{d.name}.png", out_dask / f"{d.name}.png"
        assert a.read_bytes() == b.read_bytes()
        np.testing.assert_array_equal(pixels(b), reference(d))
    assert leftovers(out_dask) == []
    rows = list(csv.DictReader((out_dask / "batch-report.csv").open(encoding="utf-8")))
    assert [r["stack"] for r in rows] == [d.name for d in stacks20]
    assert {r["status"] for r in rows} == {"done"}
    assert rows[0]["size"] == "64x64"
    assert rows[0]["frames"] == "5"
    assert rows[0]["method"] == METHOD
    assert rows[0]["alignment"].startswith("auto")
    assert "not aligned" in rows[0]["alignment"]
    doc = json.loads((out_dask / "batch-report.json").read_text(encoding="utf-8"))
    assert doc["done"] == 20
    assert doc["failed"] == 0
    assert doc["workers"] == 2
    assert doc["engine"] == "local"
    # The workers ran in other processes than this one.
    assert all(not r["worker"].endswith(f":{os.getpid()}") for r in rows)


@pytest.mark.slow
def test_killed_worker_loses_nothing(client, stacks20, tmp_path):
    out = tmp_path / "out"
    job = BatchJob(method=SLOW)
    killed: list[int] = []

    def on_result(res) -> None:
        if killed:
            return
        busy = [addr for addr, keys in client.processing().items() if keys]
        pids = client.run(os.getpid)
        victim = pids[busy[0]]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    with BatchRunner(job, out, client=client) as runner:
        results = runner.run(stacks20, on_result=on_result)
    assert killed
    assert [r.status for r in results] == ["done"] * 20, [r.error for r in results]
    for d in stacks20:
        np.testing.assert_array_equal(pixels(out / f"{d.name}.png"), reference(d))
        assert is_complete(out / f"{d.name}.png", job) is not None
    assert leftovers(out) == []
    assert sorted(p.name for p in out.glob("*.png")) == [f"{d.name}.png" for d in stacks20]


def _corrupt_stack(root: Path) -> Path:
    bad = root / "s00-corrupt"
    write_sample_stack(bad, n_frames=3, size=(64, 64), seed=99)
    frame = sorted(bad.glob("*.png"))[1]
    frame.write_bytes(frame.read_bytes()[:200])  # truncated PNG
    return bad


def test_corrupt_stack_is_reported_and_the_others_fuse(client, tmp_path):
    root = tmp_path / "in"
    good = make_stacks(root, 3)
    bad = _corrupt_stack(root)
    out = tmp_path / "out"
    with BatchRunner(BatchJob(method=METHOD), out, client=client) as runner:
        results = runner.run([bad, *good])
    by = {r.stack: r for r in results}
    assert by[bad.name].status == "failed"
    assert bad.name in by[bad.name].error or "frame_02" in by[bad.name].error
    assert not (out / f"{bad.name}.png").exists()
    for d in good:
        assert by[d.name].status == "done"
        np.testing.assert_array_equal(pixels(out / f"{d.name}.png"), reference(d))


def test_cli_exit_status_and_report_on_failure(tmp_path, capsys):
    root = tmp_path / "in"
    good = make_stacks(root, 2)
    bad = _corrupt_stack(root)
    out = tmp_path / "out"
    rc = main(["fuse", "--batch", str(root), "-o", str(out), "-m", METHOD, "--no-dask"])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"failed: {bad.name}" in err
    doc = json.loads((out / "batch-report.json").read_text(encoding="utf-8"))
    assert (doc["done"], doc["failed"]) == (2, 1)
    failed = [s for s in doc["stacks"] if s["status"] == "failed"]
    assert failed[0]["stack"] == bad.name
    assert failed[0]["error"]
    assert {s["stack"] for s in doc["stacks"] if s["status"] == "done"} == {g.name for g in good}


def test_resume_skips_complete_and_redoes_the_rest(client, tmp_path):
    root = tmp_path / "in"
    dirs = make_stacks(root, 4)
    out = tmp_path / "out"
    job = BatchJob(method=METHOD)
    with BatchRunner(job, out, client=client) as runner:
        first = runner.run(dirs)
    assert [r.status for r in first] == ["done"] * 4
    # s01 untouched; s02 truncated (a "partial" file); s03 marker gone; s04 output gone.
    outputs = [out / f"{d.name}.png" for d in dirs]
    mtime = outputs[0].stat().st_mtime_ns
    outputs[1].write_bytes(outputs[1].read_bytes()[:100])
    marker_path(outputs[2]).unlink()
    outputs[3].unlink()
    with BatchRunner(job, out, client=client) as runner:
        second = runner.run(dirs, resume=True)
    assert [r.status for r in second] == ["skipped", "done", "done", "done"]
    assert second[0].frames == 5
    assert second[0].width == 64
    assert outputs[0].stat().st_mtime_ns == mtime
    for d, o in zip(dirs, outputs, strict=True):
        np.testing.assert_array_equal(pixels(o), reference(d))
    # Other settings are not "complete": a different method fuses again.
    other = BatchJob(method="gff")
    assert is_complete(outputs[0], other) is None
    assert is_complete(outputs[0], job) is not None


def test_cli_resume_serial(tmp_path, capsys):
    root = tmp_path / "in"
    make_stacks(root, 2)
    out = tmp_path / "out"
    argv = ["fuse", "--batch", str(root), "-o", str(out), "-m", METHOD, "--no-dask"]
    assert main(argv) == 0
    assert main([*argv, "--resume"]) == 0
    doc = json.loads((out / "batch-report.json").read_text(encoding="utf-8"))
    assert (doc["skipped"], doc["done"]) == (2, 0)
    assert "skipped (--resume)" in capsys.readouterr().err


def test_cancel_marks_queued_stacks_cancelled(client, stacks20, tmp_path):
    out = tmp_path / "out"
    runner = BatchRunner(BatchJob(method=SLOW), out, client=client)
    seen = []

    def on_result(res) -> None:
        seen.append(res.status)
        runner.cancel()

    results = runner.run(stacks20, on_result=on_result)
    statuses = [r.status for r in results]
    assert statuses.count("cancelled") >= 10
    assert set(statuses) <= {"done", "cancelled"}
    for r in results:
        assert (out / f"{r.stack}.png").exists() == (r.status == "done")


def test_no_dask_fallback_message(tmp_path, capsys, monkeypatch):
    import mffgui.batch

    monkeypatch.setattr(mffgui.batch, "dask_available", lambda: False)
    root = tmp_path / "in"
    make_stacks(root, 1)
    assert main(["fuse", "--batch", str(root), "-o", str(tmp_path / "o"), "-m", METHOD]) == 0
    assert "dask is not installed" in capsys.readouterr().err


def test_threaded_use_is_safe(client, tmp_path):
    """The app drives the runner from a background thread."""
    root = tmp_path / "in"
    dirs = make_stacks(root, 2)
    box: list = []
    runner = BatchRunner(BatchJob(method=METHOD), tmp_path / "out", client=client)
    t = threading.Thread(target=lambda: box.extend(runner.run(dirs)))
    t.start()
    t.join(60)
    assert [r.status for r in box] == ["done", "done"]


def test_progress_line_throughput_and_eta():
    import io

    from mffgui.batch import BatchProgress, StackResult
    from mffgui.batch.report import format_eta

    stream = io.StringIO()
    p = BatchProgress(10, stream)
    p.t0 -= 10.0  # 10 s elapsed
    for i in range(4):
        p(StackResult(stack=f"s{i}", input="", status="done" if i else "failed", error="x"))
    # 4 worked in 10 s -> 0.40 stacks/s; 6 left -> 15 s.
    assert p.status().startswith("batch: 4/10 stacks, 1 failed, 0.40 stacks/s, ETA 0:1")
    assert format_eta(15.2) == "0:15"
    assert format_eta(3725) == "1:02:05"
    assert format_eta(float("nan")) == "--:--"
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/10] s0: FAILED: x"
    assert len(lines) == 4


def test_cli_scheduler_address_uses_an_existing_cluster(client, tmp_path, capsys):
    root = tmp_path / "in"
    dirs = make_stacks(root, 2)
    out = tmp_path / "out"
    addr = client.scheduler.address
    assert (
        main(["fuse", "--batch", str(root), "-o", str(out), "-m", METHOD, "--scheduler", addr]) == 0
    )
    assert f"scheduler {addr}" in capsys.readouterr().err
    doc = json.loads((out / "batch-report.json").read_text(encoding="utf-8"))
    assert doc["engine"] == "scheduler"
    assert doc["workers"] == 2
    for d in dirs:
        np.testing.assert_array_equal(pixels(out / f"{d.name}.png"), reference(d))
