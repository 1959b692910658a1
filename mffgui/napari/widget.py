"""The napari dock widget "Focus stack fusion" (extra ``napari``).

napari, magicgui and qtpy are imported when the widget is built, never at module import, so
this module imports (and the architecture tests walk it) without them. The work is done by
:mod:`mffgui.napari.logic` in napari's thread worker, with progress and cancel.
"""

from __future__ import annotations

import math
import typing
from typing import Any

from mffgui.core.progress import CancelToken
from mffgui.errors import Cancelled, MffError, MissingExtra
from mffgui.methods.registry import default_method_name

__all__ = ["FusionWidget"]


def _widget_for(field: dict[str, Any]) -> Any:
    """A magicgui widget for one Params field (ranges, choices and help as tooltip)."""
    from magicgui import widgets

    kw: dict[str, Any] = {
        "name": field["name"],
        "label": field["name"],
        "tooltip": field.get("help", ""),
    }
    typ = field["type"]
    choices = field.get("choices")
    if choices is None and typing.get_origin(typ) is typing.Literal:
        choices = typing.get_args(typ)
    default = field["default"]
    if choices is not None:
        return widgets.ComboBox(choices=list(choices), value=default, **kw)
    if typ is bool:
        return widgets.CheckBox(value=bool(default), **kw)
    if typ is int or typ is float:
        lo = field.get("min")
        hi = field.get("max")
        cls = widgets.SpinBox if typ is int else widgets.FloatSpinBox
        extra: dict[str, Any] = {
            "min": lo if lo is not None else -1e9,
            "max": hi if hi is not None else 1e9,
        }
        if typ is float:
            # The spin box shows as many decimals as its step has: a step of 0.1 turned a
            # default of 1e-3 into 0.0 (then rejected as below its minimum).
            extra["step"] = field.get("step") or _float_step(default, lo)
        return cls(value=default, **extra, **kw)
    return widgets.LineEdit(value="" if default is None else str(default), **kw)


def _float_step(default: Any, lo: Any) -> float:
    """0.1, or the power of ten of the smallest positive of ``default`` and ``lo`` if below."""
    small = [abs(float(v)) for v in (default, lo) if v is not None and float(v) != 0.0]
    if not small:
        return 0.1
    return min(0.1, 10.0 ** math.floor(math.log10(min(small))))


class FusionWidget:
    """Dock widget: an Image layer ``(Z, Y, X[, C])``, a method and its parameters, the guide
    channel; *Fuse* runs in a thread worker (progress bar, *Cancel*) and adds the fused image,
    the depth map and the height map (scaled by the layer's z scale)."""

    def __init__(self, napari_viewer: Any) -> None:
        """Not run (``__new__`` returns the container); napari reads this signature to decide
        that the widget wants the viewer, passed as ``napari_viewer``."""

    def __new__(cls, napari_viewer: Any) -> Any:
        try:
            import napari
            from magicgui import widgets
            from napari.qt.threading import thread_worker
        except ImportError:
            raise MissingExtra("napari", "the napari plugin") from None
        from mffgui.napari import logic

        viewer = napari_viewer
        layer = widgets.create_widget(annotation=napari.layers.Image, label="stack layer")
        titles = logic.method_choices()
        method = widgets.ComboBox(
            label="method",
            choices=titles,
            value=default_method_name(),  # the registry's default, as the app and the CLI
        )
        form = widgets.Container(labels=True)
        channel = widgets.LineEdit(
            label="channel", value="sum", tooltip="multi-channel layers: 1-based channel or 'sum'"
        )
        run = widgets.PushButton(text="Fuse")
        cancel = widgets.PushButton(text="Cancel", enabled=False)
        bar = widgets.ProgressBar(min=0, max=1000, value=0, label="progress")
        status = widgets.Label(value="")
        root = widgets.Container(widgets=[layer, method, form, channel, run, cancel, bar, status])
        state: dict[str, Any] = {"token": None}

        def rebuild(*_: Any) -> None:
            form.clear()
            for f in logic.params_form(method.value):
                if f["name"] in ("device", "weights"):
                    continue
                form.append(_widget_for(f))

        method.changed.connect(rebuild)
        rebuild()

        def start() -> None:
            src = layer.value
            if src is None:
                status.value = "choose an Image layer"
                return
            try:
                vol = logic.volume_from_layer(
                    src.data, rgb=bool(src.rgb), name=src.name, scale=tuple(src.scale)
                )
                values = {w.name: w.value for w in form}
                params = logic.parse_params(method.value, values)
                from mffgui.core.channels import parse_channel

                guide = (
                    None
                    if vol.rgb or vol.shape[1] == 1
                    else parse_channel(channel.value or "sum", vol.shape[1])
                )
            except (MffError, ValueError) as err:
                status.value = str(err)
                return
            token = CancelToken()
            state["token"] = token

            progress_box: list[float] = [0.0]
            from qtpy.QtCore import QTimer

            timer = QTimer()
            timer.setInterval(100)
            timer.timeout.connect(lambda: setattr(bar, "value", int(1000 * progress_box[0])))
            state["timer"] = timer

            @thread_worker(ignore_errors=True)  # errors are shown in the status line
            def work() -> Any:
                def progress(done: float, total: float, stage: str = "") -> None:
                    progress_box[0] = done / total if total else 1.0
                    token.raise_if_cancelled()

                out = logic.fuse_layer_data(
                    vol, method.value, params, channel=guide, progress=progress, cancel=token
                )
                return out

            worker = work()

            def done(out: Any) -> None:
                for data, kw, kind in logic.result_layers(out, src.name, tuple(src.scale)):
                    getattr(viewer, f"add_{kind}")(data, **kw)
                status.value = f"fused {vol.shape[0]} planes with {out.method}"
                bar.value = 1000

            def failed(err: Exception) -> None:
                status.value = "cancelled" if isinstance(err, Cancelled) else str(err)

            def finished() -> None:
                timer.stop()
                run.enabled, cancel.enabled = True, False

            worker.returned.connect(done)
            worker.errored.connect(failed)
            worker.finished.connect(finished)
            run.enabled, cancel.enabled = False, True
            bar.value = 0
            status.value = "fusing..."
            timer.start()
            worker.start()

        def stop() -> None:
            token = state["token"]
            if token is not None:
                token.cancel()

        run.changed.connect(start)
        cancel.changed.connect(stop)
        return root
