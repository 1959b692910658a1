"""Architecture rules (docs/ARCHITECTURE.md, "Layers").

* the import contracts of ``[tool.importlinter]`` in pyproject.toml hold (layers, the GUI's one
  door into training, metrics independent of methods/models, private modules, no cycles), and
  each of them really fails on a violation of its kind;
* no module imports a ``_private`` name from another package (import-linter sees modules only);
* the core never imports Qt, and torch is imported lazily.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mffgui

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mffgui"

needs_import_linter = pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None,
    reason="import-linter (the test extra) is not installed",
)


def _lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the ``mffgui`` package found in ``root`` (its pyproject.toml)."""
    code = (
        "import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True,"
        f" limit_to_contracts={contracts!r}))\n"
    )
    # -P: no script folder on sys.path; lint_imports puts the cwd (root) first, so the
    # package analysed is root/mffgui
    return subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )


@needs_import_linter
def test_import_contracts_hold():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package's sources and of pyproject.toml, to break on purpose."""
    root = tmp_path_factory.mktemp("layering")
    shutil.copytree(PACKAGE, root / "mffgui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    clean = _lint_imports(root)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the copy itself is clean
    return root


# (contract id, {file: source to add}) -- today's kinds of violation
VIOLATIONS = {
    "core-imports-io": (
        "layers",
        {"core/_bad.py": "def f():\n    from mffgui.io.writers import write_image\n"},
    ),
    "metrics-imports-methods": (
        "metrics-independent",
        {"metrics/bad.py": "from mffgui.methods.registry import get_method\n"},
    ),
    "gui-imports-trainer": (
        "gui-training-api",
        {"gui/bad.py": "def f():\n    from mffgui.training.gacn import GACNTask\n"},
    ),
    "gui-imports-private-module": (
        "no-private-modules",
        {
            "io/_secret.py": "X = 1\n",
            "gui/bad.py": "from mffgui.io._secret import X\n",
        },
    ),
    "cycle-in-a-package": (
        "acyclic",
        {
            "cli/bad_a.py": "def f():\n    from mffgui.cli import bad_b\n",
            "cli/bad_b.py": "from mffgui.cli import bad_a\n",
        },
    ),
}


@needs_import_linter
@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_contract_fails_on_violation(tree_copy: Path, case: str):
    contract, files = VIOLATIONS[case]
    for rel, src in files.items():
        (tree_copy / "mffgui" / rel).write_text(src, encoding="utf-8")
    try:
        out = _lint_imports(tree_copy, contract)
    finally:
        for rel in files:
            (tree_copy / "mffgui" / rel).unlink()
    assert out.returncode != 0, out.stdout + out.stderr
    assert "BROKEN" in out.stdout


def _package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _is_private(dotted: str) -> bool:
    return any(p.startswith("_") and not p.startswith("__") for p in dotted.split("."))


def cross_package_private_imports(module: str, source: str) -> list[str]:
    """``module``'s imports of a ``_private`` module or name of another mffgui package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("mffgui"):
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                target = full if node.module == "mffgui" else node.module
                if _package_of(target) != _package_of(module) and _is_private(full):
                    found.append(full)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if (
                    name.startswith("mffgui.")
                    and _package_of(name) != _package_of(module)
                    and _is_private(name)
                ):
                    found.append(name)
    return found


def test_finder_of_private_imports_finds_them():
    src = "from mffgui.io.stacks import _hidden\nfrom mffgui.metrics import _common\n"
    assert cross_package_private_imports("mffgui.gui.x", src) == [
        "mffgui.io.stacks._hidden",
        "mffgui.metrics._common",
    ]
    # inside one package, private names are fine
    assert cross_package_private_imports("mffgui.io.readers", src) == ["mffgui.metrics._common"]


def test_no_private_names_imported_across_packages():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(parts)
        for name in cross_package_private_imports(module, path.read_text(encoding="utf-8")):
            bad.append(f"{path.relative_to(ROOT)}: {name}")
    assert bad == []


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
