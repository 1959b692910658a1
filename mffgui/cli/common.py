"""What the sub-commands share: progress line, method/parameter parsing, align flags, naming.

Every sub-command module imports from here and never from another sub-command, so the CLI has
no import cycles (``fuse``, ``align``, ``compare`` and ``bench`` each depend only on this module
and on the library).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from mffgui.core.align import INTERPOLATIONS, AlignedStack
from mffgui.core.align_auto import ALIGN_MODES, AlignOutcome, normalise_mode
from mffgui.errors import ExportError, MffError, ParamsError
from mffgui.pipeline import AlignSettings, build_params

__all__ = [
    "ProgressLine",
    "add_align_option",
    "align_options",
    "build_params",
    "classical_methods",
    "default_method",
    "make_folder",
    "metric_names",
    "parse_method_sets",
    "parse_sets",
    "report_alignment",
    "safe_name",
    "stem",
]


# -- progress ----------------------------------------------------------------------------------


class ProgressLine:
    """A progress callback printing ``label: stage 42%`` to a stream.

    On a terminal the line is redrawn in place with ``\\r``; otherwise (logs, pipes) a plain line
    is printed when the stage changes or another 10 % is done.
    """

    def __init__(self, label: str = "", stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last: tuple[str, int] = ("", -100)
        self._width = 0

    def __call__(self, done: float, total: float, stage: str = "") -> None:
        pct = int(100 * done / total) if total else 100
        pct = max(0, min(100, pct))
        text = (
            f"{self.label}: {stage or 'working'} {pct:3d}%"
            if self.label
            else f"{stage or 'working'} {pct:3d}%"
        )
        if self.tty:
            if (stage, pct) == self._last:
                return
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            self.stream.flush()
        else:
            last_stage, last_pct = self._last
            if stage == last_stage and pct - last_pct < 10 and pct != 100:
                return
            if stage == last_stage and pct == last_pct:
                return
            self.stream.write(text + "\n")
            self.stream.flush()
        self._last = (stage, pct)

    def clear(self) -> None:
        """End an in-place progress line so the next message starts on a fresh line."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0

    def done(self, message: str) -> None:
        """Finish the progress line with ``message``."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
        self.stream.write(message + "\n")
        self.stream.flush()
        self._width = 0


# -- methods and parameters --------------------------------------------------------------------


def default_method() -> str:
    """The registry's default (``halofree``) when registered, else the first classical method,
    else the first one (:func:`mffgui.methods.registry.default_method_name`)."""
    from mffgui.methods.registry import default_method_name

    return default_method_name()


def classical_methods() -> list[str]:
    """Names of the registered classical methods (what compare and bench run by default)."""
    from mffgui.methods import list_methods

    return [i.name for i in list_methods() if i.kind == "classical"]


def parse_sets(items: Sequence[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> dict; a malformed item raises :class:`ParamsError`."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamsError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def parse_method_sets(
    items: Sequence[str] | None, methods: Iterable[str], what: str = "compared"
) -> dict[str, dict[str, str]]:
    """``["method.k=v", ...]`` -> ``{method: {k: v}}`` (compare, bench).

    Raises
    ------
    ParamsError
        A malformed item, or one for a method not in ``methods`` ("not ``what``").
    """
    raw: dict[str, dict[str, str]] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        meth, dot, name = key.partition(".")
        if not sep or not dot or not meth.strip() or not name.strip():
            raise ParamsError(f"--set expects METHOD.KEY=VALUE, got {item!r}")
        raw.setdefault(meth.strip().lower(), {})[name.strip()] = value.strip()
    unknown = set(raw) - {m.lower() for m in methods}
    if unknown:
        raise ParamsError(f"--set for a method that is not {what}: {', '.join(unknown)}")
    return raw


def metric_names(names: Sequence[str] | None) -> list[str]:
    """Canonical metric names (default: all); an unknown one is an :class:`MffError`."""
    from mffgui.metrics import resolve_metrics

    try:
        return list(resolve_metrics(names))
    except ValueError as err:
        raise MffError(str(err)) from None


# -- alignment flags ---------------------------------------------------------------------------


def add_align_option(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """Add ``--align``, ``--align-interpolation`` and ``--align-no-crop`` to a fusing command."""
    parser.add_argument(
        "--align",
        choices=[*ALIGN_MODES, "none"],
        default=default,
        type=str.lower,
        help=f"align the frames before fusing: auto{' (default)' if default == 'auto' else ''} "
        "checks a few frames for motion and aligns with the similarity model (shift, "
        "rotation, focus breathing) only when they moved or differ in size; off (or none"
        f"{'; default' if default == 'off' else ''}) never aligns; a model always aligns "
        "with it. Frames that fail to align are left out with a warning; the result is "
        "cropped to the area every frame covers (see --align-no-crop)",
    )
    parser.add_argument(
        "--align-interpolation",
        choices=list(INTERPOLATIONS),
        default="linear",
        help="resampling kernel of --align (default linear)",
    )
    parser.add_argument(
        "--align-no-crop",
        action="store_true",
        help="with --align, keep the full frame size: where a frame has no data (its "
        "alignment border) fusion uses only the frames that do",
    )


def align_options(args: argparse.Namespace, default: str = "auto") -> AlignSettings:
    """The :class:`~mffgui.pipeline.AlignSettings` of :func:`add_align_option`'s flags."""
    return AlignSettings(
        normalise_mode(getattr(args, "align", default)),
        getattr(args, "align_interpolation", "linear"),
        not getattr(args, "align_no_crop", False),
    )


def report_alignment(
    outcome: AlignOutcome,
    seconds: float,
    label: str,
    settings: AlignSettings,
    stream: Any = None,
) -> None:
    """Tell what the alignment step did (stderr by default; nothing for ``off``)."""
    stream = sys.stderr if stream is None else stream
    if outcome.report is None:
        if outcome.mode == "auto":
            print(f"{label}: {outcome.summary()} ({seconds:.2f} s)", file=stream)
        return
    aligned = outcome.stack
    assert isinstance(aligned, AlignedStack)
    report = outcome.report
    for msg in report.messages():
        print(f"{label}: warning: excluded: {msg}", file=stream)
    x0, y0, x1, y1 = aligned.box
    area = (
        f"cropped to {x1 - x0}x{y1 - y0}"
        if settings.crop
        else f"full size, every frame valid in {100 * aligned.valid_mask.mean():.1f} % of it"
    )
    auto = f"auto: {outcome.check.reason}; " if outcome.check is not None else ""
    print(
        f"{label}: {auto}aligned {len(aligned)} of {outcome.source_frames} frames "
        f"({report.model}, {settings.interpolation}, reference frame {report.reference + 1}); "
        f"{area} ({seconds:.1f} s)",
        file=stream,
    )


# -- output naming -----------------------------------------------------------------------------


def stem(path: Path) -> str:
    """File name without its extension (and without ``.ome`` of ``x.ome.tif``)."""
    s = path.stem
    return s[:-4] if s.lower().endswith(".ome") else s


def safe_name(label: str, fallback: str = "entry") -> str:
    """A file-name-safe version of a label (method name, preset label)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", label) or fallback


def make_folder(folder: Path, what: str) -> None:
    """Create ``folder`` (and parents); an :class:`ExportError` naming ``what`` if impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(
            f"cannot create the {what} folder ({err.strerror or err})", folder
        ) from None
