"""Presenting metric results: labelled image grids and Markdown/CSV/JSON tables.

Pure numpy/OpenCV (no Qt, no file formats beyond text), shared by ``mffgui compare``,
``mffgui bench`` and the GUI's compare view.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from mffgui.io.atomic import write_text_atomic
from mffgui.metrics import METRICS

__all__ = [
    "format_value",
    "metrics_table_markdown",
    "render_grid",
    "rows_to_csv",
    "rows_to_json",
    "write_text_atomic",
]


def render_grid(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    cols: int | None = None,
    tile_width: int | None = 480,
    gap: int = 8,
) -> np.ndarray:
    """Side-by-side grid of same-size images with a caption bar above each tile.

    Parameters
    ----------
    images : sequence of ndarray
        Each ``(H, W)`` or ``(H, W, C)``; float in ``[0, 1]``, ``uint8`` or ``uint16``. All the
        same size.
    labels : sequence of str
        One caption per image (e.g. the method name).
    cols : int, optional
        Tiles per row (default: one row for up to 4 images, else as square as possible).
    tile_width : int or None
        Tiles are resized to this width (aspect kept, area interpolation); ``None`` keeps the
        original size.
    gap : int
        Pixels of white between tiles.

    Returns
    -------
    ndarray, (H', W', 3) float32 in [0, 1]
        The grid, ready for :func:`mffgui.io.write_image`.
    """
    if len(images) != len(labels) or not images:
        raise ValueError("render_grid needs one label per image and at least one image")
    tiles = [_as_rgb_float(im) for im in images]
    h0, w0 = tiles[0].shape[:2]
    for t in tiles:
        if t.shape[:2] != (h0, w0):
            raise ValueError("all images of a grid must have the same size")
    if tile_width is not None and tile_width != w0:
        th = max(1, round(h0 * tile_width / w0))
        interp = cv2.INTER_AREA if tile_width < w0 else cv2.INTER_LINEAR
        tiles = [cv2.resize(t, (tile_width, th), interpolation=interp) for t in tiles]
    th, tw = tiles[0].shape[:2]
    n = len(tiles)
    if cols is None:
        cols = n if n <= 4 else math.ceil(math.sqrt(n))
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    scale = max(0.4, tw / 640.0)
    thick = max(1, round(scale * 1.5))
    (_, text_h), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    bar = text_h + base + 10
    # OpenCV draws text on 8-bit images only; a grid is a preview, 8 bits are enough.
    grid = np.full(
        (rows * (th + bar) + (rows - 1) * gap, cols * tw + (cols - 1) * gap, 3), 255, np.uint8
    )
    for i, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        r, c = divmod(i, cols)
        y0 = r * (th + bar + gap)
        x0 = c * (tw + gap)
        grid[y0 + bar : y0 + bar + th, x0 : x0 + tw] = np.round(np.clip(tile, 0, 1) * 255)
        caption = _fit_text(label, tw - 8, scale, thick)
        cv2.putText(
            grid,
            caption,
            (x0 + 4, y0 + bar - base - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            thick,
            cv2.LINE_AA,
        )
    return grid.astype(np.float32) / np.float32(255.0)


def _fit_text(text: str, width: int, scale: float, thick: int) -> str:
    out = text
    while out and cv2.getTextSize(out, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] > width:
        out = out[:-2] + "…" if len(out) > 2 else ""
    # Hershey fonts are ASCII only.
    return out.replace("…", "~").encode("ascii", "replace").decode("ascii")


def _as_rgb_float(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    else:
        a = np.clip(a.astype(np.float32), 0.0, 1.0)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def _decimals(magnitude: float) -> int:
    return 1 if magnitude >= 100 else 2 if magnitude >= 10 else 4


def format_value(name: str, value: float | None, decimals: int | None = None) -> str:
    """A metric value for a table, ``-`` when missing.

    ``decimals`` defaults to 4 (2 from 10 up, 1 from 100 up); tables pass one count per column.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    d = _decimals(abs(value)) if decimals is None else decimals
    return f"{value:.{d}f}"


def _direction(name: str) -> str:
    info = METRICS.get(name)
    if info is None:
        return ""
    arrow = " ↑" if info.higher_is_better else " ↓"
    return arrow if info.ranks else f"{arrow} (no ref.)"


def metrics_table_markdown(
    rows: Mapping[str, Mapping[str, float | None]],
    metrics: Sequence[str],
    extra: Mapping[str, Mapping[str, str]] | None = None,
    first_header: str = "Method",
    bold_best: bool = True,
) -> str:
    """Markdown table: one row per entry (method), one column per metric (with its direction).

    Parameters
    ----------
    rows : mapping
        Row label -> {metric name -> value}.
    metrics : sequence of str
        Metric columns, in order.
    extra : mapping, optional
        Additional text columns: column title -> {row label -> text} (e.g. time per scene).
    first_header : str
        Title of the label column.
    bold_best : bool
        Bold the best value of each metric column (needs at least two rows); never for the
        no-reference statistics (EN, SF, AG, SD), whose headers say ``(no ref.)``.

    Returns
    -------
    str
        The table, ending with a newline.
    """
    extra = extra or {}
    best: dict[str, float] = {}
    if bold_best and len(rows) > 1:
        for m in metrics:
            vals = [v.get(m) for v in rows.values()]
            finite = [v for v in vals if v is not None and math.isfinite(v)]
            if finite and (m not in METRICS or METRICS[m].ranks):
                hib = METRICS[m].higher_is_better if m in METRICS else True
                best[m] = max(finite) if hib else min(finite)
    head = [first_header] + [f"{m}{_direction(m)}" for m in metrics] + list(extra)
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    decimals = {}
    for m in metrics:
        column = [row.get(m) for row in rows.values()]
        finite = [abs(x) for x in column if x is not None and math.isfinite(x)]
        decimals[m] = _decimals(max(finite)) if finite else 4
    for label, row in rows.items():
        cells = [label]
        for m in metrics:
            v = row.get(m)
            text = format_value(m, v, decimals[m])
            if m in best and v is not None and text == format_value(m, best[m], decimals[m]):
                text = f"**{text}**"
            cells.append(text)
        cells += [extra[col].get(label, "") for col in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rows_to_csv(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """CSV text with a header row; floats at full precision (``repr``), missing cells empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else _csv_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _csv_cell(v: object) -> str:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("" if math.isnan(v) else str(v))
    return str(v)


def rows_to_json(obj: object) -> str:
    """JSON text; NaN becomes ``null`` so the file stays standard JSON."""
    return json.dumps(_json_safe(obj), indent=1, ensure_ascii=False) + "\n"


def _json_safe(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
