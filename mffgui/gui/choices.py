"""The user's choices kept in step: method panel, controller and saved settings.

:class:`ChoiceBinding` listens to the method panel (method, parameters, device, alignment) and
copies each choice into the :class:`~mffgui.gui.controller.Controller` and the
:class:`~mffgui.settings.AppSettings`; a change of the alignment fuses again when a result is
shown or a run is under way. The main window owns one; the project loader calls it after
setting the panel from a project file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mffgui.errors import MffError

if TYPE_CHECKING:
    from mffgui.gui.controller import Controller
    from mffgui.gui.widgets.method_panel import MethodPanel
    from mffgui.settings import AppSettings


class ChoiceBinding:
    """Keeps ``panel``, ``controller`` and ``settings`` in step.

    Parameters
    ----------
    panel : MethodPanel
    controller : Controller
    settings : AppSettings
    fuse : callable
        Starts a fusion (the window's, which validates the parameter form first).
    """

    def __init__(
        self,
        panel: MethodPanel,
        controller: Controller,
        settings: AppSettings,
        fuse: Callable[[], object],
    ) -> None:
        self.panel = panel
        self.controller = controller
        self.settings = settings
        self._fuse = fuse
        panel.methodChanged.connect(self.method_changed)
        panel.paramsEdited.connect(self.params_edited)
        panel.deviceChanged.connect(self.device_changed)
        panel.alignChanged.connect(self.align_changed)
        panel.alignOptionsChanged.connect(self.align_options_changed)

    def load_methods(self) -> None:
        """Fill the panel from the registry and choose the last method (or the default)."""
        from mffgui.methods import list_methods
        from mffgui.methods.registry import default_method_name

        wanted = self.settings.method  # set_methods announces its first method
        self.panel.set_methods(list_methods())
        self.panel.set_method(wanted or default_method_name())
        self.method_changed(self.panel.method)

    def restore(self, device: str | None) -> None:
        """Set alignment and device from the settings (``device`` overrides the saved one)."""
        s, mp = self.settings, self.panel
        mp.set_align(s.align)
        self.controller.align = mp.align_choice
        mp.set_align_options(s.align_interpolation, s.align_crop)
        self.align_options_changed(mp.align_interpolation, mp.align_crop)
        dev = device or s.device
        mp.set_device(dev)
        self.controller.device = dev

    def commit_params(self) -> str:
        """Copy the panel's parameters into the controller; the problem, or empty when valid."""
        name = self.panel.method
        if name:
            try:
                self.controller.params[name] = self.panel.params()
            except MffError as err:
                return f"Invalid parameter: {err}"
        return ""

    def method_changed(self, name: str) -> None:
        """A method was chosen: restore its saved parameters."""
        self.controller.method = name
        self.settings.method = name
        saved = self.settings.params.get(name)
        if saved:
            self.panel.set_values(saved)

    def params_edited(self) -> None:
        """Remember the edited parameters of the current method."""
        name = self.panel.method
        if name:
            self.settings.params[name] = {
                k: v if isinstance(v, bool | int | float | str) else str(v)
                for k, v in self.panel.values().items()
            }

    def align_changed(self, model: str) -> None:
        """Align was switched (off, auto, a model): fuse again if that changes the result."""
        c = self.controller
        changed = model != c.align
        c.set_align(model)
        self.settings.align = model
        if changed:
            self._refuse()

    def align_options_changed(self, interpolation: str, crop: bool) -> None:
        """Interpolation or crop of aligned frames changed: fuse again when aligning."""
        c = self.controller
        changed = (interpolation, crop) != (c.align_interpolation, c.align_crop)
        c.align_interpolation = interpolation
        c.align_crop = crop
        self.settings.align_interpolation = interpolation
        self.settings.align_crop = crop
        if changed and c.align not in ("", "off"):
            self._refuse()

    def device_changed(self, device: str) -> None:
        """The device selector changed."""
        self.controller.device = device
        self.settings.device = device

    def set_available_devices(self, devices: list[str]) -> None:
        """The probe found ``devices``: offer only those, choose the saved device if possible."""
        self.panel.set_available_devices(devices)
        self.panel.set_device(self.settings.device)
        self.controller.device = self.panel.device_choice

    def _refuse(self) -> None:
        """Fuse again with the new choices when a result is shown or a run is under way."""
        c = self.controller
        if (c.outcome is not None or c.running) and len(c.included_sources) >= 2:
            self._fuse()


__all__ = ["ChoiceBinding"]
