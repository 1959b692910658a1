"""The result panel: fused image | decision/depth map | focus overlay, with linked zoom and pan."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mffgui.gui.convert import LUTS, apply_lut, channel_colors
from mffgui.gui.widgets.image_view import ImageView, ViewLink
from mffgui.gui.widgets.legend import Legend
from mffgui.gui.widgets.titled_pane import TitledPane
from mffgui.gui.worker import (
    DisplayImages,
    FusionOutcome,
    OverlayImages,
    prepare_display,
    prepare_overlay,
    source_maps,
)
from mffgui.types import MapStack

OverlayRequester = Callable[[int], None]
WeightsRequester = Callable[[int], None]

FUSED, DECISION, OVERLAY = 0, 1, 2
TITLES = ("Fused image", "Decision map", "Focus overlay")


def composite_note(outcome: FusionOutcome) -> str:
    """``"composite: DAPI magenta, GFP green"``: the colour of each channel in the fused view."""
    names = outcome.metas[0].channel_names if outcome.metas else ()
    colours = channel_colors(outcome.channels)
    parts = [
        f"{names[k] if k < len(names) and names[k] else f'channel {k + 1}'} {colour}"
        for k, colour in enumerate(colours)
    ]
    return "composite: " + ", ".join(parts)


class ResultPanel(QWidget):
    """Fused image, decision/depth map and focus overlay side by side, linked.

    Signals
    -------
    hovered(int, int)
        Image pixel under the cursor in any view (``-1, -1`` outside).
    sourceSelected(int)
        The source shown in the focus overlay changed (0-based stack index).
    """

    hovered = Signal(int, int)
    sourceSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcome: FusionOutcome | None = None
        self._request_overlay: OverlayRequester | None = None
        self._request_weights: WeightsRequester | None = None
        self._weights_pending: set[int] = set()
        self._display: DisplayImages | None = None
        self._levels: tuple[float, float] | None = None
        self._weights_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._overlays: OrderedDict[int, OverlayImages] = OrderedDict()
        self.height: np.ndarray | None = None
        """Height map of the shown result once made (:meth:`set_height`)."""
        self.request_height: Callable[[], None] | None = None
        """Asks for the shown result's height map (answered by :meth:`set_height`)."""
        self._height_image = None  # QImage of the height preview, made when first shown
        self._selected = 0
        self._maximised = -1

        self.panes = [TitledPane(t) for t in TITLES]
        self.views = [p.view for p in self.panes]
        self.link = ViewLink(self.views)

        self.decision_lut = QComboBox()
        self.decision_lut.addItems(["gray", "diverging"])
        self.decision_lut.setToolTip("Colour map of the decision map of a pair")
        self.decision_lut.currentTextChanged.connect(lambda _t: self._show_decision())
        self.lut_label = QLabel("Colours")
        self.panes[DECISION].add_control(self.lut_label)
        self.panes[DECISION].add_control(self.decision_lut)
        self.depth_mode = QComboBox()
        self.depth_mode.addItem("Frame colours", "frames")
        self.depth_mode.addItem("Height", "height")
        self.depth_mode.setToolTip(
            "Colour the depth map by the chosen frame, or show the height (µm when the stack "
            "records its z-step, else frames; interpolated between frames) with a colour bar"
        )
        self.depth_mode.currentIndexChanged.connect(lambda _i: self._show_decision())
        self.show_label = QLabel("Show")
        self.panes[DECISION].add_control(self.show_label)
        self.panes[DECISION].add_control(self.depth_mode)
        self.panes[DECISION].controls.addStretch(1)
        self.legend = Legend()
        self.panes[DECISION].layout().addWidget(self.legend)

        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Source shown under its focus map (or click the decision map)")
        self.source_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source_combo.setMinimumContentsLength(8)
        self.source_combo.currentIndexChanged.connect(self._on_source_combo)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setMinimumWidth(60)
        self.opacity.setMaximumWidth(120)
        self.opacity.setToolTip("Opacity of the focus map over the source")
        self.opacity.valueChanged.connect(self._on_opacity)
        self.outline = QCheckBox("Outline")
        self.outline.setChecked(True)
        self.outline.setToolTip("Outline the regions where this source was chosen")
        self.outline.toggled.connect(self._on_outline)
        pane = self.panes[OVERLAY]
        pane.add_control(self.source_combo, 1)
        pane.add_control(QLabel("Opacity"))
        pane.add_control(self.opacity)
        pane.add_control(self.outline)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        # The maps' row under the fused view in the stacked "top+pair" arrangement.
        self.inner = QSplitter(Qt.Orientation.Horizontal)
        self.inner.setChildrenCollapsible(False)
        self._mode = "side"
        self.arrangement = "row"
        """``"row"``, ``"column"`` or ``"top+pair"`` (see :mod:`mffgui.gui.view_arrangement`)."""
        for i, p in enumerate(self.panes):
            self.splitter.addWidget(p)
            self.splitter.setStretchFactor(i, 1)
            p.maximiseClicked.connect(lambda i=i: self.toggle_maximised(i))
            p.view.hovered.connect(self.hovered)
        self.views[DECISION].clicked.connect(self._on_decision_clicked)
        self.placeholder = QLabel(
            "Drop images or a folder here, or use File ▸ Open "
            "(Ctrl+O).\nThen press Fuse (Ctrl+Enter)."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("placeholder")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter, 1)
        lay.addWidget(self.placeholder, 1)
        self.splitter.hide()

    # ------------------------------------------------------------------ layout
    def set_layout(self, mode: str) -> None:
        """``"side"`` (views side by side) or ``"stacked"`` (stacked vertically: the fused
        view above the two maps, or all three in a column for very wide images)."""
        self._mode = "stacked" if mode == "stacked" else "side"
        self._arrange(self._pick_arrangement())

    def _pick_arrangement(self) -> str:
        from mffgui.gui.view_arrangement import choose_stacked

        if self._mode != "stacked":
            return "row"
        image = (0, 0)
        if self.outcome is not None:
            h, w = self.outcome.result.fused.shape[:2]
            image = (w, h)
        pane = self.panes[FUSED]
        header = pane.height() - pane.view.height() if pane.view.height() > 0 else 40
        area = self.splitter if self.splitter.isVisible() else self
        return choose_stacked(area.width(), area.height(), image, max(0, header), len(self.panes))

    def _arrange(self, kind: str) -> None:
        self.arrangement = kind
        n = len(self.panes)
        if kind == "top+pair":
            self.splitter.setOrientation(Qt.Orientation.Vertical)
            self.splitter.insertWidget(0, self.panes[0])
            for p in self.panes[1:]:
                self.inner.addWidget(p)
            self.splitter.insertWidget(1, self.inner)
            self.inner.setVisible(self._maximised in (-1, *range(1, n)))
            self.splitter.setSizes([max(1, self.splitter.height() // 2)] * 2)
            self.inner.setSizes([max(1, self.splitter.width() // (n - 1))] * (n - 1))
            return
        vertical = kind == "column"
        self.splitter.setOrientation(
            Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal
        )
        for i, p in enumerate(self.panes):
            self.splitter.insertWidget(i, p)
        self.inner.hide()
        total = self.splitter.height() if vertical else self.splitter.width()
        self.splitter.setSizes([max(1, total // n)] * n + [0] * (self.splitter.count() - n))

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Re-pick the stacked arrangement when the panel's shape changes."""
        super().resizeEvent(event)
        if self._mode == "stacked" and self._pick_arrangement() != self.arrangement:
            self._arrange(self._pick_arrangement())

    @property
    def layout_mode(self) -> str:
        """Current layout, ``"side"`` or ``"stacked"``."""
        return self._mode

    def toggle_maximised(self, index: int) -> None:
        """Show only view ``index``, or all views again if it was already maximised."""
        self._maximised = -1 if self._maximised == index else index
        for i, p in enumerate(self.panes):
            p.setVisible(self._maximised in (-1, i))
            p.max_button.setChecked(self._maximised == i)
        if self.arrangement == "top+pair":
            self.inner.setVisible(self._maximised != FUSED)

    @property
    def maximised(self) -> int:
        """Index of the maximised view, ``-1`` when all are shown."""
        return self._maximised

    # ------------------------------------------------------------------ zoom actions
    def _active_view(self) -> ImageView:
        for v in self.views:
            if v.isVisible() and v.has_image():
                return v
        return self.views[FUSED]

    def fit(self) -> None:
        """Fit the image in every view."""
        self._active_view().fit()

    def actual_size(self) -> None:
        """100 % zoom in every view."""
        self._active_view().actual_size()

    def zoom_in(self) -> None:
        """Zoom in one step about the centre."""
        self._active_view().zoom_by(1.25)

    def zoom_out(self) -> None:
        """Zoom out one step about the centre."""
        self._active_view().zoom_by(1 / 1.25)

    # ------------------------------------------------------------------ content
    def set_outcome(
        self,
        outcome: FusionOutcome | None,
        request_overlay: OverlayRequester | None = None,
        request_weights: WeightsRequester | None = None,
    ) -> None:
        """Show a fusion result.

        Parameters
        ----------
        outcome : FusionOutcome or None
            ``None`` clears the views. Images prepared by the worker (``outcome.display``)
            are used as they are; without them they are made here.
        request_overlay : callable, optional
            ``request_overlay(i)`` prepares the overlay of source ``i`` in the background and
            later calls :meth:`set_overlay`; without it overlays are made synchronously.
        request_weights : callable, optional
            ``request_weights(i)`` reads the weights of source ``i`` in the background and
            later calls :meth:`set_weights` (for maps a method computes on demand).
        """
        self.outcome = outcome
        self._request_overlay = request_overlay
        self._request_weights = request_weights
        self._weights_pending: set[int] = set()
        self._weights_cache.clear()
        self._overlays.clear()
        if outcome is None:
            for v in self.views:
                v.set_image(None)
            self.legend.clear()
            self.source_combo.clear()
            self.splitter.hide()
            self.placeholder.show()
            return
        self.placeholder.hide()
        if not self.splitter.isVisible():
            self.splitter.show()
            self.set_layout(self.layout_mode)
        elif self._mode == "stacked" and self._pick_arrangement() != self.arrangement:
            self._arrange(self._pick_arrangement())  # an image of another shape
        n = len(outcome.metas)
        display = outcome.display
        if display is None:
            display = prepare_display(outcome.result, outcome.stack, min(self._selected, n - 1))
        self._display = display
        self._levels = display.levels
        self.panes[FUSED].note.setText(
            composite_note(outcome)
            if outcome.channels
            else ("display stretched" if self._levels is not None else "")
        )
        self.views[FUSED].set_image(display.fused)
        for w in (self.lut_label, self.decision_lut):
            w.setVisible(n == 2)
        for w in (self.show_label, self.depth_mode):
            w.setVisible(n > 2)
        self.panes[DECISION].controls_host.setVisible(True)
        self.height, self._height_image = None, None
        self._show_decision()
        names = outcome.stack.names
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        self.source_combo.addItems([f"{i + 1}: {name}" for i, name in enumerate(names)])
        if display.overlay is not None:
            self._selected = display.overlay.source
            self._overlays[display.overlay.source] = display.overlay
        self._selected = min(self._selected, n - 1)
        self.source_combo.setCurrentIndex(self._selected)
        self.source_combo.blockSignals(False)
        self._show_overlay()
        self.link.sync_from(self.views[FUSED])

    def _show_decision(self) -> None:
        if self.outcome is None:
            return
        n = len(self.outcome.metas)
        names = self.outcome.stack.names
        if n == 2:
            lut = LUTS[self.decision_lut.currentText() or "gray"]()
            self.views[DECISION].set_image(apply_lut(self._display.decision, lut))
            self.legend.set_pair(names, lut)
            self.panes[DECISION].title.setText("<b>Decision map</b>")
            self.panes[DECISION].note.setText("weight of frame 1")
        elif self.showing_height:
            self._show_height()
        else:
            self.views[DECISION].set_image(self._display.decision)
            self.legend.set_stack(names)
            self.panes[DECISION].title.setText("<b>Depth map</b>")
            self.panes[DECISION].note.setText("frame chosen per pixel")

    @property
    def showing_height(self) -> bool:
        """Whether the depth view shows the height map (``Show: Height``, stacks of 3+)."""
        return (
            self.outcome is not None
            and len(self.outcome.metas) > 2
            and self.depth_mode.currentData() == "height"
        )

    def set_depth_mode(self, mode: str) -> None:
        """``"frames"`` (frame colours) or ``"height"`` in the depth view."""
        self.depth_mode.setCurrentIndex(max(0, self.depth_mode.findData(mode)))

    def _show_height(self) -> None:
        from mffgui.core.height import height_preview
        from mffgui.gui.convert import to_qimage, viridis_lut

        assert self.outcome is not None
        height = self.height
        if height is None:
            self.panes[DECISION].title.setText("<b>Height map</b>")
            self.panes[DECISION].note.setText("computing the height map…")
            if self.request_height is not None:
                self.request_height()
            return
        if self._height_image is None:
            self._height_image = to_qimage(height_preview(height))
        self.views[DECISION].set_image(self._height_image)
        unit = self.height_unit
        finite = height[np.isfinite(height)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        self.legend.set_scale(viridis_lut(), f"{lo:.2f} {unit}", f"{hi:.2f} {unit}")
        self.panes[DECISION].title.setText("<b>Height map</b>")
        self.panes[DECISION].note.setText(
            f"z-step {self.outcome.z_step:g} µm" if self.outcome.z_step else "no z-step: frames"
        )

    def set_height(self, outcome: FusionOutcome, height: np.ndarray) -> None:
        """Accept the height map of ``outcome`` made in the background (dropped when another
        result is shown by now)."""
        if outcome is not self.outcome:
            return
        self.height, self._height_image = height, None
        if self.showing_height:
            self._show_height()

    @property
    def height_unit(self) -> str:
        """``"µm"`` when the stack records its z-step, else ``"frames"``."""
        return "µm" if self.outcome is not None and self.outcome.z_step else "frames"

    @property
    def selected_source(self) -> int:
        """0-based index of the source shown in the focus overlay."""
        return self._selected

    def set_selected_source(self, index: int) -> None:
        """Show source ``index`` in the focus overlay."""
        if self.outcome is None or not 0 <= index < len(self.outcome.metas):
            return
        if index != self._selected or self.source_combo.currentIndex() != index:
            self._selected = index
            self.source_combo.blockSignals(True)
            self.source_combo.setCurrentIndex(index)
            self.source_combo.blockSignals(False)
            self._show_overlay()
            self.sourceSelected.emit(index)

    def _on_source_combo(self, index: int) -> None:
        if index >= 0:
            self.set_selected_source(index)

    def _on_decision_clicked(self, x: int, y: int) -> None:
        if self.outcome is not None:
            self.set_selected_source(int(self.outcome.result.index_map[y, x]))

    def _on_opacity(self, value: int) -> None:
        self.views[OVERLAY].set_layer_opacity("focus", value / 100.0)

    def _on_outline(self, on: bool) -> None:
        self.views[OVERLAY].set_layer_opacity("outline", 1.0 if on else 0.0)

    def _show_overlay(self) -> None:
        if self.outcome is None:
            return
        i = self._selected
        overlay = self._overlays.get(i)
        if overlay is not None:
            self._apply_overlay(overlay)
        elif self._request_overlay is not None:
            self.panes[OVERLAY].note.setText(f"reading frame {i + 1}…")
            self._request_overlay(i)
        else:
            self.set_overlay(
                prepare_overlay(self.outcome.result, self.outcome.stack, i, self._levels)
            )

    def set_overlay(self, overlay: OverlayImages) -> None:
        """Accept overlay layers made in the background; shown if that source is selected."""
        h, w = self.outcome.result.fused.shape[:2] if self.outcome is not None else (-1, -1)
        if (overlay.base.width(), overlay.base.height()) != (w, h):
            return
        self._overlays[overlay.source] = overlay
        while len(self._overlays) > 4:
            self._overlays.popitem(last=False)
        if overlay.source == self._selected:
            self._apply_overlay(overlay)

    def _apply_overlay(self, overlay: OverlayImages) -> None:
        view = self.views[OVERLAY]
        view.set_image(overlay.base)
        view.set_layer("focus", overlay.heat, self.opacity.value() / 100.0)
        view.set_layer("outline", overlay.outline, 1.0 if self.outline.isChecked() else 0.0)
        self.panes[OVERLAY].note.setText(
            f"frame {overlay.source + 1} chosen for {overlay.share:.0%}"
        )

    # ------------------------------------------------------------------ read-out
    def set_weights(self, source: int, weights: np.ndarray) -> None:
        """Cache the ``(H, W)`` weights of ``source`` read in the background."""
        self._weights_pending.discard(source)
        if self.outcome is not None and weights.shape == self.outcome.result.index_map.shape:
            self._weights_cache[source] = weights
            while len(self._weights_cache) > 4:
                self._weights_cache.popitem(last=False)

    def weight_at(self, source: int, x: int, y: int) -> float | None:
        """Decision weight of ``source`` at pixel ``(x, y)``; ``None`` while being read."""
        assert self.outcome is not None
        w = self.outcome.result.weights
        if isinstance(w, np.ndarray):
            return float(w[source, y, x])
        if source in self._weights_cache:
            return float(self._weights_cache[source][y, x])
        if isinstance(w, MapStack) or self._request_weights is None:
            self.set_weights(source, source_maps(w, source))  # in memory or memory-mapped
            return float(self._weights_cache[source][y, x])
        if source not in self._weights_pending:  # computed on demand: never on this thread
            self._weights_pending.add(source)
            self._request_weights(source)
        return None

    def pixel_info(self, x: int, y: int) -> str:
        """Status-bar text for pixel ``(x, y)``: source index, weight and fused value."""
        if self.outcome is None or x < 0:
            return ""
        res = self.outcome.result
        h, w = res.index_map.shape
        if not (0 <= x < w and 0 <= y < h):
            return ""
        src = int(res.index_map[y, x])
        names = self.outcome.stack.names
        value = res.fused[y, x]
        bits = self.outcome.stack.bit_depth
        scale = (1 << bits) - 1
        vals = ", ".join(str(round(float(v) * scale)) for v in np.atleast_1d(value))
        weight = self.weight_at(src, x, y)
        wtext = "…" if weight is None else f"{weight:.3f}"
        height = self.height_at(x, y)
        htext = "   height …" if height is None else f"   height {height:.2f} {self.height_unit}"
        return (
            f"x {x}, y {y}   source {src + 1} ({names[src]})   "
            f"weight {wtext}   fused ({vals}) of {scale}{htext}"
        )

    def height_at(self, x: int, y: int) -> float | None:
        """Height at pixel ``(x, y)``: µm when the stack records its z-step, else frames;
        ``None`` while the height map is being made (the first call asks for it)."""
        if self.outcome is None:
            return None
        if self.height is None:
            if self.request_height is not None:
                self.request_height()
            return None
        return float(self.height[y, x])
