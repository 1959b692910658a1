"""The code base stays ruff-clean and ruff-formatted, and the typed packages pass mypy
(configuration in pyproject.toml). ruff and mypy come with the ``test`` extra, so a missing
tool fails rather than skips: CI must enforce all three."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _ruff() -> str:
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff is not installed (pip install -e '.[test]' installs it)"
    return ruff


def test_ruff_check_passes():
    out = subprocess.run(
        [_ruff(), "check", "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_applied():
    out = subprocess.run(
        [_ruff(), "format", "--check", "--no-cache", str(REPO)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, "run `ruff format .`\n" + out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_passes_on_the_typed_packages(tmp_path):
    """``mypy`` with the [tool.mypy] ``files`` (core, io, methods, models, metrics); a fresh
    cache: 15 s on an idle machine, 40 s within the suite (it reads torch's and numpy's stubs)."""
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is not installed (pip install -e '.[test]' installs it)")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout + out.stderr
