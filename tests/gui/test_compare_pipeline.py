"""The GUI compare worker and `mffgui compare` run one loop (mffgui.compare.compare_stack)."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from mffgui.compare import CompareRun, compare_methods
from mffgui.core.progress import NEVER
from mffgui.gui.compare_worker import CompareRequest, run_compare
from mffgui.io import discover, read_stack
from mffgui.methods import get_method, registry
from mffgui.resources import sample_stack_dir

METRICS = ("QG", "QMI", "EN")


def _request(runs: tuple[CompareRun, ...]) -> CompareRequest:
    disc = discover(sample_stack_dir())
    return CompareRequest(
        generation=1,
        frames=tuple(disc.frames),
        metas=tuple(disc.metas),
        runs=runs,
        metrics=METRICS,
    )


def test_gui_and_cli_compare_give_identical_results():
    names = ("laplacian", "depthmap")
    runs = tuple(CompareRun(n, get_method(n).info.params(), n) for n in names)
    gui = run_compare(_request(runs), lambda *a: None, NEVER)
    cli = compare_methods(read_stack([sample_stack_dir()]), list(names), metrics=METRICS)
    assert [r.run.label for r in gui.runs] == [e.label for e in cli] == list(names)
    for r, e in zip(gui.runs, cli, strict=True):
        assert r.error is None
        assert e.error is None
        assert np.array_equal(r.result.fused, e.fused)
        assert r.scores == e.scores
        assert r.image is not None


def test_gui_compare_has_the_cli_error_policy(monkeypatch):
    laplacian = type(get_method("laplacian"))

    class Broken(laplacian):  # type: ignore[misc, valid-type]
        def fuse(self, stack, params, **kw):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\ndetails")

    monkeypatch.setitem(registry._REGISTRY, "laplacian-broken", Broken)
    params = get_method("laplacian").info.params()
    runs = (
        CompareRun("laplacian-broken", params, "broken"),
        CompareRun("laplacian", params, "laplacian"),
    )
    seen = []
    gui = run_compare(_request(runs), lambda *a: None, NEVER, lambda out, data: seen.append(out))
    assert [o.run.label for o in seen] == ["broken", "laplacian"]
    assert gui.runs[0].error == "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB"
    assert gui.runs[1].ok
