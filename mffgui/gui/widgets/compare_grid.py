"""Grid of fused results with linked zoom and pan, each captioned with method, params and time."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from mffgui.gui.widgets.compare_views import RegionImageView


class ResultTile(QWidget):
    """A caption over a :class:`RegionImageView`."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.caption = QLabel(f"<b>{label}</b> · waiting…")
        self.finished = False
        self.caption.setWordWrap(True)
        self.view = RegionImageView()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.caption)
        lay.addWidget(self.view, 1)

    def set_progress(self, fraction: float, stage: str = "") -> None:
        """Show this run's own progress (``fraction`` in [0, 1]) until its result arrives."""
        if self.finished:
            return
        pct = round(100 * min(max(fraction, 0.0), 1.0))
        self.caption.setText(
            f"<b>{self.label}</b> · running {pct} %"
            + (f"<br><small>{stage}</small>" if stage else "")
        )

    def set_result(
        self, image: QImage | None, params: str, seconds: float, error: str | None = None
    ) -> None:
        """Show the fused image and its caption (or the error of a failed method)."""
        self.finished = True
        if error is not None:
            self.caption.setText(f"<b>{self.label}</b> · <span style='color:#d33'>failed</span>")
            self.caption.setToolTip(error)
            self.view.set_image(None)
            return
        self.caption.setText(f"<b>{self.label}</b> · {seconds:.2f} s<br><small>{params}</small>")
        self.caption.setToolTip(f"{self.label}: {params}; fused in {seconds:.2f} s")
        self.view.set_image(image)


class CompareGrid(QWidget):
    """Tiles of results in a near-square grid.

    Signals
    -------
    tilesChanged()
        Tiles were created (their views need linking).
    """

    tilesChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.tiles: dict[str, ResultTile] = {}

    def set_labels(self, labels: Sequence[str]) -> None:
        """Replace the tiles by empty ones for ``labels`` (filled by :meth:`tile`)."""
        for tile in self.tiles.values():
            self._layout.removeWidget(tile)
            tile.deleteLater()
        self.tiles = {}
        n = len(labels)
        cols = max(n, 1) if n <= 3 else math.ceil(math.sqrt(n))
        for i, label in enumerate(labels):
            tile = ResultTile(label)
            self.tiles[label] = tile
            self._layout.addWidget(tile, i // cols, i % cols)
        self.tilesChanged.emit()

    def tile(self, label: str) -> ResultTile:
        """The tile of ``label``."""
        return self.tiles[label]

    def views(self) -> list[RegionImageView]:
        """Every tile's view, in order."""
        return [t.view for t in self.tiles.values()]


__all__ = ["CompareGrid", "ResultTile"]
