"""The napari plugin in napari's real viewer, on a virtual X display.

napari draws with OpenGL, which Qt's offscreen platform lacks, so the checks in
``tests/napari_viewer/viewer_check.py`` run in a child pytest under ``xvfb-run`` with the xcb
platform. Skipped, with the reason, when napari or ``xvfb-run`` is missing; ``.ci/run`` installs
both (napari through the ``test`` extra, xvfb and the xcb libraries with apt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "napari", reason="napari not installed (pip install -e '.[test]', or '.[napari]')"
)

CHECK = Path(__file__).parent / "napari_viewer" / "viewer_check.py"


def _xcb_missing() -> list[str]:
    """Shared libraries Qt's xcb platform plugin needs but the system lacks (``ldd``), e.g.
    ``libxcb-cursor.so.0`` when ``apt install libxcb-cursor0`` has not been run."""
    import PySide6

    plugin = next(Path(PySide6.__file__).parent.glob("**/platforms/libqxcb.so"), None)
    if plugin is None or shutil.which("ldd") is None:
        return []
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("xvfb-run") is None,
    reason="xvfb-run not found: napari's viewer needs an X display (apt install xvfb)",
)
def test_plugin_in_napari_viewer_matches_the_cli(tmp_path):
    if missing := _xcb_missing():
        pytest.skip(
            f"Qt's xcb platform lacks {', '.join(missing)} (.ci/run installs the xcb "
            "libraries with apt-get; see docs/microscopy.md)"
        )
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, "-m", "pytest"]
    # -o addopts= : napari's pytest plugins (make_napari_viewer) are off in the main suite
    cmd += ["-q", "-p", "no:cacheprovider", "-o", "addopts=", "--basetemp", str(tmp_path / "t")]
    cmd.append(str(CHECK))
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "1 passed" in run.stdout
