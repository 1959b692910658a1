"""State of the compare window, without Qt: runs, results, regions and the difference view.

:class:`CompareState` holds one comparison: the stack, the newest request and its results, the
scoring region and the pair the difference view shows. It decides which worker report is
stale (through :class:`~mffgui.core.runs.RunTracker` and :class:`~mffgui.core.runs.Generation`,
the mechanism the main window's controller uses too), what the table lists and what the
combo boxes offer. The window (:mod:`mffgui.gui.compare_window`) builds the widgets, starts
the workers and renders what this state says.

The requests and outcomes are the dataclasses of :mod:`mffgui.gui.compare_worker`; this module
only reads their attributes, so it imports nothing from the GUI. The difference image is
computed by :func:`compute_difference` on a worker thread from a frozen
:class:`DifferenceRequest`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mffgui.core.progress import CancelToken
from mffgui.core.runs import Generation, RunState, RunTracker

if TYPE_CHECKING:
    from mffgui.gui.compare_worker import CompareRequest, RegionScores, RunOutcome, StackData
    from mffgui.types import FusionResult, ImageMeta

FrameKey = tuple[Path, int | None]
Rect = tuple[int, int, int, int]
"""``(x, y, w, h)`` in image pixels."""
Choice = tuple[Literal["result", "source"], Any]
"""What a swipe or difference combo box offers: ``("result", label)`` or ``("source", i)``."""
DiffMode = Literal["abs", "decision"]


def find_ground_truth(frames: Sequence[FrameKey]) -> Path | None:
    """A ground-truth image (``groundtruth`` in its name) next to the first frame, if any."""
    from mffgui.io import is_image_file
    from mffgui.io.stacks import is_ground_truth

    if not frames:
        return None
    folder = Path(frames[0][0]).parent
    try:
        found = sorted(
            p for p in folder.iterdir() if p.is_file() and is_ground_truth(p) and is_image_file(p)
        )
    except OSError:
        return None
    return found[0] if found else None


# ---------------------------------------------------------------------- difference images
def difference_image(a: np.ndarray, b: np.ndarray, gain: float = 8.0) -> np.ndarray:
    """``|A - B| * gain`` as an 8-bit image.

    Parameters
    ----------
    a, b : ndarray, (H, W, C) or (H, W) float in [0, 1]
        Same size; a gray image is compared with each channel of a colour one.
    gain : float
        Amplification (differences of ``1 / gain`` and more are white).

    Returns
    -------
    ndarray, (H, W) uint8
        The largest channel difference, amplified and clipped.
    """
    fa, fb = _hwc(a), _hwc(b)
    if fa.shape[:2] != fb.shape[:2]:
        raise ValueError("the two images differ in size")
    d = np.abs(fa - fb).max(axis=2)
    return np.clip(np.rint(d * (255.0 * gain)), 0, 255).astype(np.uint8)


def _hwc(a: np.ndarray) -> np.ndarray:
    x = np.asarray(a, dtype=np.float32)
    return x[:, :, None] if x.ndim == 2 else x


def disagreement_image(
    index_a: np.ndarray,
    index_b: np.ndarray,
    decision_a: np.ndarray | None = None,
    decision_b: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Where two results took their pixels from different sources.

    Parameters
    ----------
    index_a, index_b : ndarray, (H, W) int
        The results' index maps.
    decision_a, decision_b : ndarray, (H, W) float, optional
        Soft decision maps of a pair (weight of frame 1); when given, the picture shows
        ``|dA - dB|`` instead of the hard disagreement.

    Returns
    -------
    image : ndarray, (H, W) uint8
        0 where they agree, up to 255 where they disagree completely.
    fraction : float
        Share of pixels whose index differs.
    """
    differ = np.asarray(index_a) != np.asarray(index_b)
    if decision_a is not None and decision_b is not None:
        d = np.abs(np.asarray(decision_a, np.float32) - np.asarray(decision_b, np.float32))
        img = np.clip(np.rint(d * 255.0), 0, 255).astype(np.uint8)
    else:
        img = differ.astype(np.uint8) * 255
    return img, float(differ.mean())


@dataclass(frozen=True)
class DifferenceRequest:
    """One picture of the difference view, frozen on the GUI thread.

    Attributes
    ----------
    generation : int
        Newer requests make older answers stale.
    mode : {"abs", "decision"}
        Amplified pixel difference, or where the decision maps disagree.
    gain : float
        Amplification of ``|A - B|`` (``abs`` only).
    image_a, image_b : callable
        Return the two float images (a source frame is read only when called).
    result_a, result_b : FusionResult or None
        The two results (``decision`` only).
    pair : bool
        The stack is a pair: the soft decision maps are compared.
    """

    generation: int
    mode: DiffMode
    gain: float
    image_a: Callable[[], np.ndarray]
    image_b: Callable[[], np.ndarray]
    result_a: FusionResult | None = None
    result_b: FusionResult | None = None
    pair: bool = False


@dataclass(frozen=True)
class DifferenceImage:
    """The answer to a :class:`DifferenceRequest`: an (H, W) uint8 picture and its caption.

    ``lut`` names the colour table to show it with (``None``: gray).
    """

    generation: int
    image: np.ndarray
    info: str
    lut: str | None = None


def compute_difference(request: DifferenceRequest) -> DifferenceImage:
    """The picture of ``request`` (worker thread: reads frames, may compute lazy maps)."""
    gen = request.generation
    if request.mode == "decision":
        ra, rb = request.result_a, request.result_b
        if ra is None or rb is None:
            raise ValueError("decision maps need two results")
        img, frac = disagreement_image(
            ra.index_map,
            rb.index_map,
            ra.decision_map if request.pair else None,
            rb.decision_map if request.pair else None,
        )
        return DifferenceImage(
            gen, img, f"{frac:.1%} of the pixels come from different frames", "viridis"
        )
    d = difference_image(request.image_a(), request.image_b(), request.gain)
    gain = request.gain
    info = (
        f"max |A − B| = {d.max() / 255 / gain:.3f}"
        if d.max() < 255
        else f"white = difference ≥ {1 / gain:.3f}"
    )
    return DifferenceImage(gen, d, info)


# ---------------------------------------------------------------------- the state
class CompareState:
    """One comparison: stack, newest request, results, scoring region, difference pair.

    Parameters
    ----------
    device : str
        Device for network methods.

    Attributes
    ----------
    frames, metas : tuple
        The stack's frames ``(path, page)`` and their headers.
    ground_truth : Path or None
        Reference image for PSNR/SSIM.
    device : str
    runs : RunTracker
        Generation, cancel token and state of the comparisons.
    request : CompareRequest or None
        The newest comparison.
    outcomes : dict
        Run label -> :class:`~mffgui.gui.compare_worker.RunOutcome` of the newest comparison.
    order : list of str
        Run labels in display order.
    data : StackData or None
        The stack as the worker read it (set with the first result).
    region_rect : tuple or None
        The drawn scoring region ``(x, y, w, h)``.
    region : RegionScores or None
        Scores inside :attr:`region_rect` (``None``: whole image).
    regions, differences : Generation
        Requests of region scores and of difference pictures.
    """

    def __init__(self, device: str = "auto") -> None:
        self.frames: tuple[FrameKey, ...] = ()
        self.metas: tuple[ImageMeta, ...] = ()
        self.ground_truth: Path | None = None
        self.device = device
        self.runs = RunTracker()
        self.request: CompareRequest | None = None
        self.outcomes: dict[str, RunOutcome] = {}
        self.order: list[str] = []
        self.data: StackData | None = None
        self.region: RegionScores | None = None
        self.region_rect: Rect | None = None
        self.regions = Generation()
        self.differences = Generation()

    # ------------------------------------------------------------------ stack and results
    @property
    def state(self) -> RunState:
        """State of the newest comparison."""
        return self.runs.state

    @property
    def running(self) -> bool:
        """Whether a comparison is in progress."""
        return self.runs.running

    def set_stack(
        self,
        frames: Sequence[FrameKey],
        metas: Sequence[ImageMeta],
        ground_truth: Path | None = None,
    ) -> None:
        """Compare on another stack: cancels a running comparison and clears the results;
        the ground truth is looked up next to the frames when not given."""
        self.runs.cancel()
        self.frames = tuple(frames)
        self.metas = tuple(metas)
        self.ground_truth = (
            ground_truth if ground_truth is not None else find_ground_truth(self.frames)
        )
        self.clear_results()

    def clear_results(self) -> None:
        """Forget every result, the region and any answer still under way."""
        self.outcomes = {}
        self.order = []
        self.data = None
        self.region = None
        self.region_rect = None
        self.regions.invalidate()
        self.differences.invalidate()

    def cannot_run(self, n_runs: int) -> str:
        """Why a comparison of ``n_runs`` runs cannot start (empty when it can)."""
        if n_runs == 0:
            return "Tick at least one run to compare."
        if len(self.frames) < 2:
            return "Comparing needs a stack of at least two images."
        return ""

    def start(self, labels: Sequence[str]) -> tuple[int, CancelToken]:
        """A new comparison of the runs ``labels``: the previous one is cancelled and its
        results cleared; the drawn region stays (the new results are scored in it)."""
        gen, token = self.runs.start()
        keep_region = self.region_rect
        self.clear_results()
        self.region_rect = keep_region
        self.order = list(labels)
        return gen, token

    def accept_run(self, generation: int, outcome: RunOutcome, data: StackData) -> bool:
        """Keep one finished run of comparison ``generation`` (False: stale, dropped)."""
        if not self.runs.requests.is_current(generation):
            return False
        self.data = data
        self.outcomes[outcome.run.label] = outcome
        return True

    def finish(self, generation: int) -> RunState | None:
        """The comparison ended: ``done``, ``cancelled`` (the user cancelled meanwhile) or
        ``None`` when stale."""
        return self.runs.finish(generation)

    @property
    def failed(self) -> list[str]:
        """Labels of the runs that failed."""
        return [label for label, o in self.outcomes.items() if not o.ok]

    @property
    def has_results(self) -> bool:
        """Whether at least one run produced a result."""
        return any(o.ok for o in self.outcomes.values())

    def finished_runs(self) -> tuple[RunOutcome, ...]:
        """The finished runs in display order (what the report writes)."""
        return tuple(self.outcomes[label] for label in self.order if label in self.outcomes)

    def progress_target(self, frac: float, stage: str) -> tuple[str, float, str] | None:
        """Which tile a progress report belongs to: ``(label, fraction of that run, stage)``.

        The worker gives each run an equal share of the overall fraction, in order; reading,
        the start and the end belong to no tile (``None``).
        """
        n = len(self.order)
        if not n or stage in ("Reading images", "Done") or stage.startswith("Comparing"):
            return None
        i = min(int(frac * n), n - 1)
        _, _, own = stage.partition(": ")
        return self.order[i], frac * n - i, own

    # ------------------------------------------------------------------ table
    def table_rows(self) -> list[tuple[str, dict[str, float], float, str | None]]:
        """``(label, scores, seconds, error)`` per finished run; region scores when a region
        was scored."""
        scores = self.region.scores if self.region is not None else None
        rows = []
        for o in self.finished_runs():
            label = o.run.label
            s = o.scores if scores is None else scores.get(label, {})
            rows.append((label, s, o.seconds, o.error))
        return rows

    def table_metrics(self) -> tuple[str, ...]:
        """The metric columns: those of the region scores, else of the comparison."""
        if self.region is not None:
            return tuple(self.region.request.metrics)
        return tuple(self.request.metrics) if self.request is not None else ()

    # ------------------------------------------------------------------ region
    def start_region(self, rect: Rect) -> tuple[int, CancelToken] | None:
        """Draw ``rect``; returns the generation and token of its scoring request, or ``None``
        when there is nothing to score yet (the rectangle is kept for the next results)."""
        self.region_rect = (int(rect[0]), int(rect[1]), int(rect[2]), int(rect[3]))
        if self.data is None or not self.has_results:
            return None
        return self.regions.next()

    def accept_region(self, generation: int, scores: RegionScores | None) -> bool:
        """Show region scores of request ``generation`` (False: stale, dropped)."""
        if scores is None or not self.regions.answer(generation):
            return False
        self.region = scores
        return True

    def region_failed(self, generation: int) -> bool:
        """Region scoring failed; True when it was the newest request."""
        return self.regions.answer(generation)

    def clear_region(self) -> None:
        """Back to whole-image scores."""
        self.regions.invalidate()
        self.region = None
        self.region_rect = None

    # ------------------------------------------------------------------ choices
    def choices(self, with_sources: bool = True) -> list[tuple[str, Choice]]:
        """``(text, choice)`` of the successful results in order, then the source frames."""
        out: list[tuple[str, Choice]] = [
            (label, ("result", label))
            for label in self.order
            if label in self.outcomes and self.outcomes[label].ok
        ]
        if with_sources and self.data is not None:
            stack = self.data.stack
            names = stack.names if hasattr(stack, "names") else []
            for i in range(len(stack)):
                name = names[i] if i < len(names) else f"frame {i + 1}"
                out.append((f"Source {i + 1}: {name}", ("source", i)))
        return out

    def outcome_of(self, choice: Choice | None) -> RunOutcome | None:
        """The successful outcome a ``("result", label)`` choice names."""
        if choice is None or choice[0] != "result":
            return None
        out = self.outcomes.get(choice[1])
        return out if out is not None and out.ok else None

    def loader(self, choice: Choice | None) -> Callable[[], np.ndarray] | None:
        """A function returning the float image of ``choice`` (``None``: nothing to show).

        A result's image is at hand; a source frame is read when the function is called.
        """
        if choice is None or self.data is None:
            return None
        if choice[0] == "result":
            out = self.outcome_of(choice)
            if out is None or out.result is None:
                return None
            fused = out.result.fused
            return lambda: fused
        stack, index = self.data.stack, int(choice[1])
        return lambda: stack.frame(index)

    def difference_request(
        self, a: Choice | None, b: Choice | None, mode: DiffMode, gain: float
    ) -> DifferenceRequest | str:
        """A new request for the difference view of ``a`` and ``b``, or the reason (empty when
        there is nothing to compare) why there is no picture; older requests become stale."""
        self.differences.invalidate()
        image_a, image_b = self.loader(a), self.loader(b)
        if image_a is None or image_b is None:
            return ""
        if mode == "decision":
            oa, ob = self.outcome_of(a), self.outcome_of(b)
            if oa is None or ob is None:
                return "Decision maps exist for results only"
            pair = self.data is not None and len(self.data.stack) == 2
            gen, _token = self.differences.next()
            return DifferenceRequest(
                gen, mode, gain, image_a, image_b, oa.result, ob.result, pair=pair
            )
        gen, _token = self.differences.next()
        return DifferenceRequest(gen, mode, gain, image_a, image_b)

    def accept_difference(self, generation: int) -> bool:
        """Whether the difference picture of ``generation`` is still wanted (then shown)."""
        return self.differences.answer(generation)


__all__ = [
    "Choice",
    "CompareState",
    "DifferenceImage",
    "DifferenceRequest",
    "compute_difference",
    "difference_image",
    "disagreement_image",
    "find_ground_truth",
]
