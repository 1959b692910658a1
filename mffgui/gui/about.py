"""The text of Help ▸ About and the background look-up of the torch devices."""

from __future__ import annotations

import platform
import sys
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from mffgui import __version__


def about_html(devices: Sequence[str] | None) -> str:
    """HTML of the About box: versions, ``devices`` (``None``: not probed yet), citations."""
    from importlib import metadata

    import numpy
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    from mffgui.methods import list_methods

    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    found = ", ".join(devices) if devices is not None else "not probed yet"
    cites = "".join(
        f"<li><b>{m.title}</b>: {m.citation or 'no publication'}</li>" for m in list_methods()
    )
    return (
        f"<h3>mffgui {__version__}</h3>"
        "<p>Multi-focus image fusion (focus stacking).</p>"
        f"<p>Python {platform.python_version()} · PySide6 {pyside_version} (Qt {qVersion()})"
        f" · NumPy {numpy.__version__} · OpenCV {ver('opencv-python-headless')}"
        f" · PyTorch {ver('torch')}<br>Devices: {found} · {sys.platform}</p>"
        f"<p>Methods and their publications:</p><ul>{cites}</ul>"
    )


class DeviceProbe(QObject):
    """Finds the available torch devices on a plain thread (importing torch takes seconds)."""

    found = Signal(str)
    """Comma-separated device names (plain types only cross threads)."""

    def start(self) -> None:
        """Look the devices up in the background; :attr:`found` reports them."""
        threading.Thread(target=self._run, name="mffgui-device-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            from mffgui.models.device import available_devices

            devices = available_devices()
        except Exception:
            devices = ["cpu"]
        try:
            self.found.emit(",".join(devices))
        except RuntimeError:  # the window was closed meanwhile
            pass


__all__ = ["DeviceProbe", "about_html"]
