"""The compare window's state and the shared request mechanism, without Qt."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from mffgui.compare_state import CompareState, DifferenceRequest, compute_difference
from mffgui.core.runs import Generation, RunTracker


class _Stack:
    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.names = [f"f{i}.png" for i in range(len(frames))]
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, i: int) -> np.ndarray:
        self.reads.append(i)
        return self.frames[i]


def _outcome(label: str, fused: np.ndarray | None, index: np.ndarray | None = None):
    result = None
    if fused is not None:
        idx = np.zeros(fused.shape[:2], np.uint16) if index is None else index
        result = SimpleNamespace(fused=fused, index_map=idx, decision_map=None)
    return SimpleNamespace(
        run=SimpleNamespace(label=label),
        result=result,
        ok=result is not None,
        scores={"QG": 0.5},
        seconds=1.0,
        error=None if result is not None else "broken",
        image=None,
    )


def _state(n_frames: int = 2) -> tuple[CompareState, SimpleNamespace]:
    st = CompareState()
    st.frames = tuple((f"/x/f{i}.png", None) for i in range(n_frames))  # type: ignore[misc]
    frames = [np.full((4, 5, 3), i / 10, np.float32) for i in range(n_frames)]
    return st, SimpleNamespace(stack=_Stack(frames), grays=(), ground_truth=None)


def test_modules_import_without_qt():
    code = "import sys, mffgui.compare_state, mffgui.core.runs\nprint('PySide6' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_tracker_drops_stale_reports_and_cancels_the_previous_run():
    runs = RunTracker()
    g1, t1 = runs.start()
    g2, t2 = runs.start()
    assert (g1, g2) == (1, 2)
    assert t1.cancelled
    assert not t2.cancelled
    assert runs.finish(g1) is None  # stale: nothing changes
    assert runs.state == "running"
    assert not runs.fail(g1)
    assert not runs.cancelled(g1)
    assert not runs.accepts_progress(g1)
    assert runs.accepts_progress(g2)
    assert runs.finish(g2) == "done"
    assert not runs.running
    assert not runs.cancel()  # nothing running


def test_run_tracker_result_after_cancel_counts_as_cancelled():
    runs = RunTracker()
    gen, token = runs.start()
    assert runs.cancel()
    assert token.cancelled
    assert runs.state == "cancelling"
    assert runs.accepts_progress(gen)  # still shown while it stops
    assert runs.finish(gen) == "cancelled"
    assert runs.state == "cancelled"


def test_generation_answers_only_the_newest_request():
    g = Generation()
    n1, t1 = g.next()
    n2, _t2 = g.next()
    assert t1.cancelled
    assert g.pending
    assert not g.answer(n1)
    assert g.pending
    assert g.answer(n2)
    assert not g.pending
    g.invalidate()
    assert not g.answer(n2)


def test_stale_comparison_results_are_dropped():
    st, data = _state()
    old, _ = st.start(["laplacian"])
    new, _ = st.start(["gff", "laplacian"])
    img = np.zeros((4, 5, 3), np.float32)
    assert not st.accept_run(old, _outcome("laplacian", img), data)
    assert st.outcomes == {}
    assert st.data is None
    assert st.finish(old) is None
    assert st.accept_run(new, _outcome("laplacian", img), data)
    assert st.accept_run(new, _outcome("gff", img + 0.5), data)
    # Rows follow the run order, not the order the results came in.
    assert [row[0] for row in st.table_rows()] == ["gff", "laplacian"]
    assert st.finish(new) == "done"
    assert st.has_results


def test_cancel_then_finish_is_cancelled_and_failed_runs_are_counted():
    st, data = _state()
    gen, token = st.start(["a", "b"])
    img = np.zeros((4, 5, 3), np.float32)
    st.accept_run(gen, _outcome("a", img), data)
    st.accept_run(gen, _outcome("b", None), data)
    assert st.failed == ["b"]
    assert st.runs.cancel()
    assert token.cancelled
    assert st.finish(gen) == "cancelled"
    assert st.outcomes.keys() == {"a", "b"}  # finished runs stay


def test_choices_and_selection():
    st, data = _state(n_frames=3)
    gen, _ = st.start(["a", "broken", "b"])
    img = np.zeros((4, 5, 3), np.float32)
    for label, fused in (("b", img), ("broken", None), ("a", img + 0.25)):
        st.accept_run(gen, _outcome(label, fused), data)
    texts = [text for text, _ in st.choices()]
    # Successful results in run order, then the source frames; a failed run is not offered.
    assert texts == ["a", "b", "Source 1: f0.png", "Source 2: f1.png", "Source 3: f2.png"]
    assert [t for t, _ in st.choices(with_sources=False)] == ["a", "b"]
    assert st.outcome_of(("result", "broken")) is None
    assert st.loader(("result", "broken")) is None
    load = st.loader(("source", 2))
    assert data.stack.reads == []  # frames are read only when needed
    np.testing.assert_array_equal(load(), data.stack.frames[2])
    assert data.stack.reads == [2]
    # Progress goes to the tile of the run it belongs to.
    assert st.progress_target(0.5, "b (2/3): blending") == (
        "broken",
        pytest.approx(0.5),
        "blending",
    )
    assert st.progress_target(0.1, "Reading images") is None


def test_region_scores_of_an_older_region_are_dropped():
    st, data = _state()
    assert st.start_region((1, 1, 8, 8)) is None  # nothing to score yet, rectangle kept
    assert st.region_rect == (1, 1, 8, 8)
    gen, _ = st.start(["a"])
    assert st.region_rect == (1, 1, 8, 8)  # a new comparison is scored in the same region
    st.accept_run(gen, _outcome("a", np.zeros((4, 5, 3), np.float32)), data)
    r1, t1 = st.start_region((0, 0, 8, 8))
    r2, _ = st.start_region((2, 2, 8, 8))
    assert t1.cancelled
    scores = SimpleNamespace(scores={"a": {"QG": 0.9}}, request=SimpleNamespace(metrics=("QG",)))
    assert not st.accept_region(r1, scores)
    assert st.region is None
    assert st.accept_region(r2, scores)
    assert st.table_rows() == [("a", {"QG": 0.9}, 1.0, None)]
    st.clear_region()
    assert st.region is None
    assert st.region_rect is None
    assert st.table_rows() == [("a", {"QG": 0.5}, 1.0, None)]


def test_difference_requests_drop_stale_pictures():
    st, data = _state()
    gen, _ = st.start(["a", "b"])
    a = np.zeros((4, 5, 3), np.float32)
    b = a.copy()
    b[1, 2, 0] = 0.01
    st.accept_run(gen, _outcome("a", a, np.zeros((4, 5), np.uint16)), data)
    idx = np.zeros((4, 5), np.uint16)
    idx[0, :] = 1
    st.accept_run(gen, _outcome("b", b, idx), data)
    first = st.difference_request(("result", "a"), ("result", "b"), "abs", 10.0)
    second = st.difference_request(("result", "a"), ("result", "b"), "abs", 20.0)
    assert isinstance(first, DifferenceRequest)
    assert isinstance(second, DifferenceRequest)
    assert st.differences.pending
    assert not st.accept_difference(first.generation)
    pic = compute_difference(second)
    assert pic.image[1, 2] == round(0.01 * 255 * 20)
    assert pic.image.sum() == pic.image[1, 2]
    assert pic.lut is None
    assert st.accept_difference(second.generation)
    assert not st.differences.pending
    # Decision maps exist for results only; a source frame gives a reason, not a request.
    why = st.difference_request(("result", "a"), ("source", 0), "decision", 8.0)
    assert why == "Decision maps exist for results only"
    assert st.difference_request(None, ("source", 0), "abs", 8.0) == ""
    dec = st.difference_request(("result", "a"), ("result", "b"), "decision", 8.0)
    assert isinstance(dec, DifferenceRequest)
    pic = compute_difference(dec)
    assert pic.lut == "viridis"
    assert pic.info.startswith("25.0%")  # one row of four differs
    # Clearing the results makes an outstanding picture stale.
    st.clear_results()
    assert not st.accept_difference(dec.generation)
