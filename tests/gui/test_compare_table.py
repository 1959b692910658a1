"""The compare table crowns only real fusion metrics; statistics are marked no-reference."""

from __future__ import annotations

import cv2
import numpy as np

from mffgui.core.synthetic import complementary_pair, half_mask, sharp_scene
from mffgui.gui.convert import to_uint8
from mffgui.metrics import METRICS, score
from mffgui.metrics.report import metrics_table_markdown

STATS = ("EN", "SF", "AG", "SD")


def _results() -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Sources of a complementary pair and three candidate results: the sharp scene, a blurred
    and a blurred-plus-noise one (noise raises the statistics above the sharp result's)."""
    sharp = sharp_scene(72, 96, seed=11)
    a, b = complementary_pair(sharp, half_mask(72, 96), sigma=3.0)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.5)
    noise = np.random.default_rng(2).normal(0, 0.2, sharp.shape).astype(np.float32)
    noisy = np.clip(blurred + noise, 0, 1)
    srcs = [to_uint8(a), to_uint8(b)]
    return srcs, {"sharp": sharp, "blurred": blurred, "blurred+noise": noisy}


def test_blurred_result_never_crowned_for_statistics(qtbot):
    from mffgui.gui.widgets.compare_table import MetricsTable

    srcs, results = _results()
    names = ["QG", *STATS]
    scores = {k: score(v, srcs, None, names) for k, v in results.items()}
    # Without the rule, a blurred result would win the statistics (noise raises them).
    for m in ("EN", "SF", "AG"):
        assert max(scores, key=lambda k: scores[k][m]) == "blurred+noise", m
    table = MetricsTable()
    qtbot.addWidget(table)
    table.set_rows([(k, s, 0.1, None) for k, s in scores.items()], names)
    for m in STATS:
        assert table.best(m) == set()
        for label in results:
            assert not table.is_highlighted(label, m)
    # Real fusion metrics are still crowned: the sharp result has the best QG.
    assert table.best("QG") == {max(scores, key=lambda k: scores[k]["QG"])}
    assert table.is_highlighted("sharp", "QG")
    assert not table.is_highlighted("blurred", "QG")


def test_headers_show_direction_and_no_reference(qtbot):
    from mffgui.gui.widgets.compare_table import MetricsTable

    table = MetricsTable()
    qtbot.addWidget(table)
    names = list(METRICS)
    table.set_rows(
        [("a", dict.fromkeys(names, 1.0), 1.0, None), ("b", dict.fromkeys(names, 2.0), 1.0, None)],
        names,
    )
    for c, m in enumerate(table.metrics, start=1):
        head = table.horizontalHeaderItem(c)
        arrow = "↑" if METRICS[m].higher_is_better else "↓"
        assert arrow in head.text(), m
        assert arrow in head.toolTip(), m
        if m in STATS:
            assert "no ref." in head.text()
            assert "No-reference" in head.toolTip()
        else:
            assert "no ref." not in head.text()
    assert "↓" in table.horizontalHeaderItem(table.metrics.index("QCV") + 1).text()


def test_markdown_report_does_not_bold_statistics():
    srcs, results = _results()
    names = ["QG", *STATS]
    rows = {k: score(v, srcs, None, names) for k, v in results.items()}
    md = metrics_table_markdown(rows, names)
    header, _, *lines = md.splitlines()
    assert "SF ↑ (no ref.)" in header
    assert "QG ↑ |" in header
    cols = [c.strip() for c in header.strip("|").split("|")]
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for m in STATS:
            assert not cells[cols.index(f"{m} ↑ (no ref.)")].startswith("**")
    assert sum(line.count("**") for line in lines) == 2  # QG's best only
