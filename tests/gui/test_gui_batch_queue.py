"""The app's batch queue (issue 21): three stacks, one corrupt, on an embedded Dask cluster."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_support import config_dir, slow_method, window  # noqa: F401 - fixtures
from PIL import Image

from mffgui.batch import BatchJob
from mffgui.gui.batch_queue import BatchQueueWindow, job_from_main, open_batch
from mffgui.io.sample import write_sample_stack
from mffgui.io.stacks import read_stack
from mffgui.io.writers import to_uint
from mffgui.methods import get_method

pytest.importorskip("distributed")


def _stacks(root: Path) -> list[Path]:
    dirs = []
    for i, name in enumerate(("a", "b-corrupt", "c")):
        d = root / name
        write_sample_stack(d, n_frames=3, size=(48, 40), seed=i)
        dirs.append(d)
    frame = sorted(dirs[1].glob("*.png"))[0]
    frame.write_bytes(frame.read_bytes()[:120])
    return dirs


@pytest.mark.slow
def test_queue_runs_three_stacks_one_corrupt(qtbot, tmp_path):
    dirs = _stacks(tmp_path / "in")
    out = tmp_path / "out"
    win = BatchQueueWindow(BatchJob(method="laplacian"), out, workers=2, use_dask=True)
    qtbot.addWidget(win)
    win.show()
    win.add_stacks(dirs)
    assert [win.table.item(r, 1).text() for r in range(3)] == ["queued"] * 3
    with qtbot.waitSignal(win.batchFinished, timeout=120000) as sig:
        assert win.start()
        assert win.running
        assert win.btn_cancel.isEnabled()
        qtbot.wait(10)  # the event loop keeps running while the batch does
    results = {r.stack: r for r in sig.args[0]}
    assert {n: r.status for n, r in results.items()} == {
        "a": "done",
        "b-corrupt": "failed",
        "c": "done",
    }
    assert results["b-corrupt"].error
    states = {win.table.item(r, 0).text(): win.table.item(r, 1).text() for r in range(3)}
    assert states == {"a": "done", "b-corrupt": "failed", "c": "done"}
    assert win.progress.value() == 3
    assert win.btn_retry.isEnabled()
    for d in (dirs[0], dirs[2]):
        m = get_method("laplacian")
        want = to_uint(m.fuse(read_stack([d]), m.info.params()).fused, 8)
        with Image.open(out / f"{d.name}.png") as im:
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), want)
    # Retry failed: still corrupt, so it fails again (on the same, reused cluster).
    with qtbot.waitSignal(win.batchFinished, timeout=60000) as sig:
        assert win.retry_failed()
    assert [(r.stack, r.status) for r in sig.args[0]] == [("b-corrupt", "failed")]
    # Open result: selecting a done row enables it.
    win.table.selectRow(0)
    assert win.selected_output() == str((out / "a.png").resolve())
    win.close()


def test_main_window_batch_action_and_job(qtbot, window, tmp_path):
    assert window.act_batch.text() == "&Batch…"
    window.load_methods()
    job = job_from_main(window)
    assert job.method == window.method_panel.method
    job.build()  # the main window's parameters validate as batch settings
    win = open_batch(window, [tmp_path / "x", tmp_path / "y"])
    assert win.stacks == [tmp_path / "x", tmp_path / "y"]
    assert open_batch(window) is win
    win.close()
