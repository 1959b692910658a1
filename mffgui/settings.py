"""User settings of the desktop app, kept as JSON in the per-user config folder.

The folder is ``platformdirs.user_config_dir("mffgui")`` unless the environment variable
``MFFGUI_CONFIG_DIR`` names another one (tests use a temporary folder this way). This module is
Qt-free so it can be tested and reused without a GUI; window geometry is stored as the base64
text of ``QWidget.saveGeometry()``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mffgui.io.atomic import write_json_atomic

CONFIG_ENV = "MFFGUI_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT = 10


def config_dir() -> Path:
    """The folder holding ``settings.json`` (``$MFFGUI_CONFIG_DIR`` or the platform default)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("mffgui", appauthor=False))


@dataclass
class AppSettings:
    """Everything the app remembers between runs.

    Attributes
    ----------
    geometry : str
        Base64 of the main window's saved geometry ("" = default placement).
    window_state : str
        Base64 of the main window's saved dock/toolbar state.
    last_folder : str
        Folder last used in an open or export dialog.
    recent : list of list of str
        Recently opened inputs, newest first; each entry is the list of paths opened together.
    method : str
        Registry name of the last chosen method ("" = the first one listed).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    align : str
        Alignment before fusing: ``"auto"`` (default: check for motion, align with the
        similarity model when frames moved), ``"off"`` or a motion model. ``""``, what files
        written before Auto existed hold for the old default (off), reads as ``"auto"``.
    align_interpolation : str
        Resampling kernel of the alignment (``"linear"``, ``"cubic"``, ...).
    align_crop : bool
        Crop aligned frames to their common area (``False``: keep the full size).
    channel : str
        Multi-channel stacks: the channel the depth map comes from, ``"sum"`` (default) or a
        1-based number (as ``mffgui fuse --channel``); a file with fewer channels uses the sum.
    theme : str
        ``"dark"`` or ``"light"``.
    layout : str
        Result views ``"side"`` (side by side) or ``"stacked"``.
    params : dict
        Last parameter values per method name (plain JSON values).
    report_folder : str
        Folder the last compare report was exported into ("" = none yet).
    """

    geometry: str = ""
    window_state: str = ""
    last_folder: str = ""
    recent: list[list[str]] = field(default_factory=list)
    method: str = ""
    device: str = "auto"
    align: str = "auto"
    align_interpolation: str = "linear"
    align_crop: bool = True
    channel: str = "sum"
    theme: str = "dark"
    layout: str = "side"
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_folder: str = ""

    def add_recent(self, paths: list[str]) -> None:
        """Put ``paths`` (opened together) first in the recent list, without duplicates."""
        entry = [str(p) for p in paths]
        if not entry:
            return
        self.recent = [entry] + [r for r in self.recent if r != entry]
        del self.recent[MAX_RECENT:]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppSettings:
        """Build from a parsed JSON object; unknown keys and wrongly typed values are ignored."""
        out = cls()
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            default = getattr(out, f.name)
            if isinstance(default, str) and isinstance(value, str):
                setattr(out, f.name, value)
            elif isinstance(default, bool) and isinstance(value, bool):
                setattr(out, f.name, value)
            elif f.name == "recent" and isinstance(value, list):
                out.recent = [[str(p) for p in r] for r in value if isinstance(r, list) and r][
                    :MAX_RECENT
                ]
            elif f.name == "params" and isinstance(value, dict):
                out.params = {str(k): dict(v) for k, v in value.items() if isinstance(v, dict)}
        if out.theme not in ("dark", "light"):
            out.theme = "dark"
        if out.layout not in ("side", "stacked"):
            out.layout = "side"
        if not (out.channel == "sum" or out.channel.isdigit()):
            out.channel = "sum"
        if out.align in ("", "none"):
            out.align = "auto" if out.align == "" else "off"
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        return dataclasses.asdict(self)


def start_folder(remembered: str, paths: Sequence[str | os.PathLike[str]] = ()) -> str:
    """Where a folder dialog should open: ``remembered`` if it still exists, else the folder
    of the first of ``paths`` (e.g. the stack's first frame) that exists, else ``""``."""
    if remembered and Path(remembered).is_dir():
        return str(remembered)
    for p in paths:
        folder = Path(p) if Path(p).is_dir() else Path(p).parent
        if str(p) and folder.is_dir():
            return str(folder)
    return ""


def settings_path(folder: Path | None = None) -> Path:
    """Path of the settings file in ``folder`` (default :func:`config_dir`)."""
    return (folder if folder is not None else config_dir()) / SETTINGS_FILE


def load_settings(path: Path | None = None) -> AppSettings:
    """Read the settings; a missing or damaged file gives the defaults (never raises)."""
    path = path if path is not None else settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return AppSettings()
    if not isinstance(data, dict):
        return AppSettings()
    return AppSettings.from_dict(data)


def save_settings(settings: AppSettings, path: Path | None = None) -> bool:
    """Write the settings atomically (temporary file + rename).

    Returns
    -------
    bool
        False when the folder is not writable (the app keeps running without saving).
    """
    path = path if path is not None else settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, settings.to_dict(), default=str)
    except OSError:
        return False
    return True
