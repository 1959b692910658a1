"""Retouching in the main window: the brush on the fused view, the Retouch panel, undo/redo,
and source frames shown in the fused view.

The strokes live in a :class:`mffgui.core.retouch.Retoucher` (stack coordinates, source frames
by identity), re-applied on every new automatic result. The retouched result replaces
``controller.outcome`` (so export, the decision/depth map, the focus overlay and the hover
read-out follow the strokes); the automatic one is kept in :attr:`RetouchController.auto`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QListWidgetItem

from mffgui.core.decision import LazyMaps
from mffgui.core.retouch import ERASE, Box, Retoucher, Stroke, StrokeHistory
from mffgui.gui.convert import apply_levels, composite, to_index_u8, to_qimage
from mffgui.gui.widgets.brush import BrushTool
from mffgui.gui.widgets.result_panel import FUSED
from mffgui.gui.widgets.retouch_panel import RetouchPanel
from mffgui.gui.widgets.source_list import ID_ROLE
from mffgui.gui.worker import FusionOutcome, prepare_display
from mffgui.types import FusionResult

if TYPE_CHECKING:
    from mffgui.gui.main_window import MainWindow

FrameKey = tuple[Path | None, int | None]


def frame_keys(outcome: FusionOutcome) -> tuple[FrameKey, ...]:
    """``(path, page)`` of every frame of the fused stack, in stack order."""
    return tuple((m.path, m.page) for m in outcome.metas)


class RetouchController(QObject):
    """Owns the retouching state of a :class:`~mffgui.gui.main_window.MainWindow`.

    Attributes
    ----------
    retoucher : Retoucher
    auto : FusionOutcome or None
        The automatic result the strokes are painted over.
    shown_source : int
        Stack index of the source shown in the fused view (``-1``: the fused image).
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.retoucher = Retoucher()
        self.auto: FusionOutcome | None = None
        self.shown_source = -1
        self._pending: tuple[list[Stroke], tuple[FrameKey, ...]] | None = None
        self.view = window.results.views[FUSED]
        self.brush = BrushTool(self.view, self)
        self.panel = RetouchPanel()
        self.dock = QDockWidget("Retouch", window)
        self.dock.setObjectName("retouchDock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        window.tabifyDockWidget(window.method_dock, self.dock)  # a tab beside Method
        window.method_dock.raise_()
        self._build_actions()
        self._connect()
        self._update()

    # ------------------------------------------------------------------ construction
    def _act(self, text: str, keys: list[str], slot, tip: str = "") -> QAction:
        act = QAction(text, self.window)
        act.setShortcuts([QKeySequence(k) for k in keys])
        act.setToolTip(f"{tip or text} ({keys[0]})")
        act.triggered.connect(slot)
        self.window.addAction(act)
        return act

    def _build_actions(self) -> None:
        self.act_brush = self._act(
            "Retouch &brush",
            ["B"],
            self.set_brush,
            "Paint pixels of a source frame on the fused image",
        )
        self.act_brush.setCheckable(True)
        self.act_eraser = self._act(
            "&Eraser", ["E"], self.panel.eraser.setChecked, "Paint the automatic result back"
        )
        self.act_eraser.setCheckable(True)
        self.act_undo = self._act("&Undo stroke", ["Ctrl+Z"], self.undo)
        self.act_redo = self._act("&Redo stroke", ["Ctrl+Shift+Z", "Ctrl+Y"], self.redo)
        self.act_source_view = self._act(
            "Show &source ↔ fused",
            ["S"],
            self.toggle_source_view,
            "Show the selected source frame in the fused view, at the same zoom",
        )
        self.act_smaller = self._act(
            "Smaller brush",
            ["["],
            lambda: self.panel.size.setValue(max(1, round(self.panel.size.value() / 1.25))),
        )
        self.act_bigger = self._act(
            "Bigger brush",
            ["]"],
            lambda: self.panel.size.setValue(round(self.panel.size.value() * 1.25 + 0.5)),
        )
        self.panel.undo.setDefaultAction(self.act_undo)
        self.panel.redo.setDefaultAction(self.act_redo)

    def _connect(self) -> None:
        w = self.window
        c = w.controller
        c.resultChanged.connect(self._on_result)  # after the window's own handler
        p = self.panel
        p.brush.toggled.connect(self.act_brush.setChecked)
        self.act_brush.toggled.connect(p.brush.setChecked)
        self.act_brush.toggled.connect(self.brush.set_enabled)
        self.act_brush.toggled.connect(lambda on: self.dock.raise_() if on else None)
        p.eraser.toggled.connect(self.act_eraser.setChecked)
        p.radiusChanged.connect(self.brush.set_radius)
        p.clear.clicked.connect(self.clear)
        self.brush.set_radius(p.radius)
        self.brush.strokeBegan.connect(self._on_begin)
        self.brush.strokeMoved.connect(self._on_move)
        self.brush.strokeEnded.connect(self._on_end)
        w.results.sourceSelected.connect(p.set_source_index)
        w.sources.currentItemChanged.connect(self._on_source_item)
        w.sources.itemClicked.connect(self._on_source_clicked)

    def menu_actions(self) -> list[QAction]:
        """Actions for the Edit menu."""
        return [
            self.act_undo,
            self.act_redo,
            self.act_brush,
            self.act_eraser,
            self.act_source_view,
            self.dock.toggleViewAction(),
        ]

    # ------------------------------------------------------------------ results
    def _on_result(self, outcome: FusionOutcome | None) -> None:
        if outcome is None:
            self.auto = None
            self.shown_source = -1
            self._update()
            return
        self.auto = outcome
        self._reset_title()
        keys = frame_keys(outcome)
        if self._pending is not None:
            strokes, frames = self._pending
            self._pending = None
            self.retoucher = Retoucher()
            self.retoucher.history = StrokeHistory(strokes)
            self.retoucher.frames = frames
        elif self.retoucher.frames and not set(self.retoucher.frames) & set(keys):
            self.retoucher = Retoucher()  # another stack: its strokes do not apply
        had = len(self.retoucher.strokes)
        dropped = self.retoucher.set_base(outcome.result.fused, outcome.source_frame, keys)
        self.panel.set_sources(outcome.stack.names)
        self.panel.set_source_index(self.window.results.selected_source)
        if self.retoucher.strokes:
            self.publish()
            self.window.controller.message.emit(
                f"Re-applied {len(self.retoucher.strokes)} retouching stroke(s)"
                + (
                    f"; {dropped} of {had} dropped (their frame is not in the stack)"
                    if dropped
                    else ""
                )
            )
        self._update()

    def _reset_title(self) -> None:
        self.shown_source = -1
        self.window.results.panes[FUSED].title.setText("<b>Fused image</b>")

    def retouched_result(self) -> FusionResult:
        """The automatic result with the strokes applied (fused, index map, weights)."""
        auto = self.auto
        canvas = self.retoucher.canvas
        assert auto is not None
        assert canvas is not None
        res = auto.result
        h, w = res.index_map.shape
        return FusionResult(
            canvas.compose(),
            canvas.index_map(res.index_map),
            LazyMaps(len(auto.stack), (h, w), canvas.weights_fn(res.weights)),
            res.focus_maps,
            {**res.meta, "retouched": len(self.retoucher.strokes)},
        )

    def publish(self) -> None:
        """Show the current strokes: the retouched result becomes the controller's outcome."""
        auto = self.auto
        if auto is None or self.retoucher.canvas is None:
            return
        c = self.window.controller
        if self.retoucher.strokes:
            result = self.retouched_result()
            display = prepare_display(result, auto.stack, self.window.results.selected_source)
            outcome = replace(auto, result=result, display=display)
        else:
            outcome = auto
        c.outcome = outcome
        c.result_jobs.overlay_source = self.window.results.selected_source
        self._reset_title()
        jobs = c.result_jobs
        self.window.results.set_outcome(outcome, jobs.request_overlay, jobs.request_weights)
        self._update()

    # ------------------------------------------------------------------ painting
    def set_brush(self, on: bool) -> None:
        """Turn the brush on or off."""
        self.act_brush.setChecked(bool(on))

    def _on_begin(self, x: float, y: float) -> None:
        if self.auto is None:
            return
        if self.shown_source >= 0:
            self.toggle_source_view()
        src = ERASE if self.panel.eraser.isChecked() else self.panel.source_index
        if src != ERASE and src < 0:
            return
        box = self.retoucher.begin(
            src, (x, y), self.panel.radius, self.panel.hardness_value, self.panel.opacity_value
        )
        self._patch(box)

    def _on_move(self, x: float, y: float) -> None:
        self._patch(self.retoucher.extend((x, y)))

    def _on_end(self) -> None:
        if self.retoucher.finish() is not None:
            self.publish()

    def _patch(self, box: Box | None) -> None:
        """Redraw ``box`` of the fused view with the stroke in progress."""
        if box is None or self.auto is None:
            return
        y0, _y1, x0, _x1 = box
        levels = self.auto.display.levels if self.auto.display is not None else None
        img = self.retoucher.preview(box)
        self.view.patch_image(x0, y0, to_qimage(to_index_u8(apply_levels(img, levels))))

    def paint(
        self,
        source: int,
        points: list[tuple[float, float]],
        radius: float,
        hardness: float = 1.0,
        opacity: float = 1.0,
    ) -> None:
        """Paint one stroke programmatically (as the mouse would; used by tests and scripts)."""
        if self.auto is None or not points:
            return
        self.retoucher.begin(source, points[0], radius, hardness, opacity)
        for p in points[1:]:
            self.retoucher.extend(p)
        self._on_end()

    def undo(self) -> None:
        """Undo the last stroke (Ctrl+Z)."""
        if self.retoucher.undo():
            self.publish()

    def redo(self) -> None:
        """Redo the last undone stroke (Ctrl+Shift+Z)."""
        if self.retoucher.redo():
            self.publish()

    def clear(self) -> None:
        """Remove every stroke."""
        if self.retoucher.strokes:
            self.retoucher.clear()
            self.publish()

    def load_strokes(self, strokes: list[Stroke], frames: tuple[FrameKey, ...]) -> None:
        """Strokes (from a project) to apply to the next result of a stack with ``frames``."""
        self._pending = (list(strokes), tuple(frames))

    def _update(self) -> None:
        h = self.retoucher.history
        self.act_undo.setEnabled(h.can_undo and self.auto is not None)
        self.act_redo.setEnabled(h.can_redo and self.auto is not None)
        self.panel.clear.setEnabled(bool(h.strokes))
        self.panel.set_count(len(h.strokes), len(h.redo_stack))

    # ------------------------------------------------------------------ source view
    def _stack_index(self, source_id: int) -> int:
        src = self.window.controller.source(source_id)
        if src is None or self.auto is None:
            return -1
        keys = frame_keys(self.auto)
        return keys.index(src.key) if src.key in keys else -1

    def _on_source_item(self, item: QListWidgetItem | None, _prev: object = None) -> None:
        if item is None:
            return
        i = self._stack_index(item.data(ID_ROLE))
        if i >= 0:
            self.panel.set_source_index(i)

    def _on_source_clicked(self, item: QListWidgetItem) -> None:
        i = self._stack_index(item.data(ID_ROLE))
        if i >= 0:
            self.show_source(i)
        elif self.auto is not None:
            self.window.controller.message.emit(
                f"{item.text().splitlines()[0]} is not in the fused stack"
            )

    def show_source(self, index: int) -> None:
        """Show source frame ``index`` in the fused view (same zoom and position)."""
        auto = self.auto
        if auto is None or not 0 <= index < len(auto.stack):
            return
        if auto.volume is not None:  # every channel, coloured as the fused composite
            self.view.set_image(to_qimage(composite(auto.volume.frame(index))))
        else:
            levels = auto.display.levels if auto.display is not None else None
            frame = auto.stack.frame(index)
            self.view.set_image(to_qimage(to_index_u8(apply_levels(frame, levels))))
        self.shown_source = index
        self.panel.set_source_index(index)
        pane = self.window.results.panes[FUSED]
        pane.title.setText(f"<b>Source {index + 1}</b>")
        pane.note.setText(f"{auto.stack.names[index]} · S: back to the fused image")

    def show_fused(self) -> None:
        """Show the (retouched) fused image again."""
        outcome = self.window.controller.outcome
        self._reset_title()
        self.window.results.panes[FUSED].note.setText("")
        if outcome is not None and outcome.display is not None:
            self.view.set_image(outcome.display.fused)

    def toggle_source_view(self) -> None:
        """S: the selected source in the fused view ↔ the fused image."""
        if self.shown_source >= 0:
            self.show_fused()
        else:
            idx = self.panel.source_index
            self.show_source(idx if idx >= 0 else self.window.results.selected_source)
