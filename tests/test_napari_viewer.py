"""The napari plugin in napari's real viewer, on a virtual X display.

napari draws with OpenGL, which Qt's offscreen platform lacks, so the checks in
``tests/napari_viewer/viewer_check.py`` run in a child pytest under ``xvfb-run`` with the xcb
platform. Skipped, with the reason, when napari or ``xvfb-run`` is missing; ``.ci/run`` installs
both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("napari", reason="napari not installed (pip install -e '.[napari]')")

CHECK = Path(__file__).parent / "napari_viewer" / "viewer_check.py"


@pytest.mark.skipif(
    shutil.which("xvfb-run") is None,
    reason="xvfb-run not found: napari's viewer needs an X display (apt install xvfb)",
)
def test_plugin_in_napari_viewer_matches_the_cli(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, "-m", "pytest"]
    cmd += ["-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"), str(CHECK)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "1 passed" in run.stdout
