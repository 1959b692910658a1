"""Architecture rules: the core never imports Qt, and torch is imported lazily."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import mffgui

GUI_PREFIXES = ("mffgui.gui", "mffgui.app")


def _non_gui_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(mffgui.__path__, prefix="mffgui."):
        if info.name.startswith(GUI_PREFIXES) or info.name == "mffgui.__main__":
            continue
        names.append(info.name)
    return names


def _imports_in_fresh_interpreter(modules: list[str], forbidden: list[str]) -> list[str]:
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(' '.join(f for f in {forbidden!r} if f in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_core_never_imports_qt():
    modules = _non_gui_modules()
    assert "mffgui.types" in modules  # the walk found the package
    assert _imports_in_fresh_interpreter(modules, ["PySide6", "qimage2ndarray"]) == []


def test_methods_io_cli_do_not_import_torch():
    light = ["mffgui.methods", "mffgui.io", "mffgui.cli", "mffgui.batch", "mffgui.types"]
    assert _imports_in_fresh_interpreter(light, ["torch"]) == []
