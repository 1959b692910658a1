"""Named parameter presets for the compare view: built-in ones per method, and the user's own.

Built-in presets are documented alternatives of a method's :class:`~mffgui.methods.base.Params`
(e.g. GACN's serial strategy instead of decision calibration); each only names the fields that
differ from the defaults. User presets are the parameters of the compare window's editor saved
under a name; they are kept as JSON (``compare-presets.json``) in the app's config folder
(:func:`mffgui.settings.config_dir`, ``$MFFGUI_CONFIG_DIR`` in tests), next to
``settings.json``. This module is Qt-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mffgui.errors import MffError
from mffgui.io.atomic import write_json_atomic

PRESETS_FILE = "compare-presets.json"


@dataclass(frozen=True)
class Preset:
    """A named set of parameter values for one method.

    Attributes
    ----------
    method : str
        Registry name of the method.
    name : str
        Display name, unique per method.
    values : dict
        Field name -> value; fields not named keep their defaults.
    builtin : bool
        Shipped with the app (cannot be deleted).
    description : str
        One line saying what the preset changes and when to use it.
    """

    method: str
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    builtin: bool = False
    description: str = ""

    def params(self, params_type: type) -> Any:
        """The validated Params of ``params_type`` with this preset's values.

        Raises
        ------
        ParamsError
            A value the method does not accept (e.g. a preset saved by an older version).
        """
        return params_type.from_mapping(self.values)


def _p(method: str, name: str, description: str, **values: Any) -> Preset:
    return Preset(method, name, dict(values), True, description)


BUILTIN_PRESETS: tuple[Preset, ...] = (
    _p(
        "laplacian",
        "max-abs",
        "Burt–Adelson selection: single-coefficient activity, no "
        "consistency filter (activity_radius=0, consistency=1)",
        activity_radius=0,
        consistency=1,
    ),
    _p(
        "laplacian",
        "smooth choice",
        "Larger activity window and majority filter: fewer "
        "isolated wrong choices, softer detail (activity_radius=2, consistency=5)",
        activity_radius=2,
        consistency=5,
    ),
    _p(
        "gff",
        "colour guide",
        "Colour guided filter of He et al. instead of the luma guide (guide=color; slower)",
        guide="color",
    ),
    _p(
        "depthmap",
        "energy of Laplacian",
        "Energy-of-Laplacian focus measure instead of sum-modified-Laplacian (focus=eol)",
        focus="eol",
    ),
    _p(
        "depthmap",
        "hard selection",
        "No soft transition: every output pixel is an exact source pixel (blend_sigma=0)",
        blend_sigma=0.0,
    ),
    _p(
        "depthmap",
        "noisy images",
        "Stronger pre-smoothing and depth-map median filter for "
        "noisy or JPEG stacks (presmooth=2, smoothing=11)",
        presmooth=2.0,
        smoothing=11,
    ),
    _p(
        "gacn",
        "calibration",
        "Decision calibration against the first frame (the paper's "
        "strategy; strategy=calibration, reference=0)",
        strategy="calibration",
        reference=0,
    ),
    _p(
        "gacn",
        "calibration, middle reference",
        "Decision calibration against the middle frame (reference=-1)",
        strategy="calibration",
        reference=-1,
    ),
    _p(
        "gacn",
        "serial",
        "One-by-one serial fusion of the stack (strategy=serial)",
        strategy="serial",
    ),
)
"""Presets shipped with the app (fields of each method's Params with documented meanings)."""


def builtin_presets(method: str) -> list[Preset]:
    """The built-in presets of ``method`` (possibly none)."""
    return [p for p in BUILTIN_PRESETS if p.method == method]


def presets_path(folder: Path | None = None) -> Path:
    """Path of the user-presets file in ``folder`` (default :func:`mffgui.settings.config_dir`)."""
    from mffgui.settings import config_dir

    return (folder if folder is not None else config_dir()) / PRESETS_FILE


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class PresetStore:
    """The user's presets, read from and written to :func:`presets_path` at every change.

    Parameters
    ----------
    path : Path, optional
        The JSON file; default :func:`presets_path`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else presets_path()

    def _read(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            obj = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        presets = obj.get("presets") if isinstance(obj, dict) else None
        if not isinstance(presets, dict):
            return {}
        return {
            str(m): {str(n): dict(v) for n, v in by.items() if isinstance(v, dict)}
            for m, by in presets.items()
            if isinstance(by, dict)
        }

    def _write(self, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, {"version": 1, "presets": data})
        except OSError as err:
            raise MffError(
                f"could not save the presets: {err.strerror or err}", self.path
            ) from None

    def user_presets(self, method: str) -> list[Preset]:
        """The user's presets of ``method``, in saving order."""
        return [
            Preset(method, name, values) for name, values in self._read().get(method, {}).items()
        ]

    def presets(self, method: str) -> list[Preset]:
        """Built-in, then user presets of ``method``."""
        return [*builtin_presets(method), *self.user_presets(method)]

    def save(self, method: str, name: str, values: dict[str, Any]) -> Preset:
        """Save (or replace) the user preset ``name`` of ``method``.

        Raises
        ------
        MffError
            Empty name, the name of a built-in preset, or an unwritable config folder.
        """
        name = name.strip()
        if not name:
            raise MffError("a preset needs a name")
        if any(p.name == name for p in builtin_presets(method)):
            raise MffError(f"“{name}” is a built-in preset of {method}; choose another name")
        data = self._read()
        clean = {str(k): _jsonable(v) for k, v in values.items()}
        data.setdefault(method, {})[name] = clean
        self._write(data)
        return Preset(method, name, clean)

    def delete(self, method: str, name: str) -> None:
        """Delete the user preset ``name`` of ``method``.

        Raises
        ------
        MffError
            No such user preset (built-in presets cannot be deleted).
        """
        data = self._read()
        if name not in data.get(method, {}):
            raise MffError(f"no preset “{name}” of {method} to delete")
        del data[method][name]
        if not data[method]:
            del data[method]
        self._write(data)


__all__ = [
    "BUILTIN_PRESETS",
    "PRESETS_FILE",
    "Preset",
    "PresetStore",
    "builtin_presets",
    "presets_path",
]
