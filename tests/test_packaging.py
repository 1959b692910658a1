"""Packaging: a regular (non-editable) install ships resources/ and finds it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tracked_resources() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "resources"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot list the tracked resources")
    return sorted(out)


def test_every_tracked_resource_is_declared_as_a_data_file():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = conf["tool"]["setuptools"]["data-files"]
    declared = set()
    for dest, patterns in data_files.items():
        assert dest.startswith("share/mffgui/resources")
        for pat in patterns:
            for f in glob.glob(str(ROOT / pat)):
                rel = Path(f).relative_to(ROOT).as_posix()
                # the install path mirrors the source path below resources/
                assert f"share/mffgui/{Path(rel).parent.as_posix()}" == dest, rel
                declared.add(rel)
    missing = [f for f in _tracked_resources() if f not in declared]
    assert not missing, f"resources not shipped by a wheel: {missing}"


def test_wheel_install_finds_the_sample_stack_and_weights(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is needed to copy the tracked tree")
    src = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"the wheel does not build: {build.stderr.strip()[-2000:]}"
    (whl,) = wheels.glob("mffgui-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert any(n.endswith("data/share/mffgui/resources/weights/gacn.pt") for n in names)
    # Install by hand into a prefix, as an installer lays a wheel out (purelib into
    # site-packages, .data/data/* into the prefix): `pip install --prefix` would uninstall the
    # environment's own (editable) mffgui first.
    prefix = tmp_path / "prefix"
    site_pkgs = (
        prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    )
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            head, _, rest = name.partition("/")
            if head.endswith(".data"):
                kind, _, rel = rest.partition("/")
                dest = (prefix if kind == "data" else site_pkgs) / rel
            else:
                dest = site_pkgs / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(z.read(name))
    code = (
        "import mffgui, mffgui.resources as r; print(mffgui.__file__); "
        "print(r.sample_stack_dir()); print(r.weights_dir())"
    )
    env = {**os.environ, "PYTHONPATH": str(site_pkgs), "PYTHONNOUSERSITE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    pkg, samples, weights = (Path(x) for x in out[:3])
    assert prefix in pkg.parents  # the installed copy, not the checkout
    assert prefix in samples.parents
    assert sorted(p.name for p in samples.glob("frame_*.png")) == sorted(
        Path(f).name for f in files if f.startswith("resources/samples/sample-stack/frame_")
    )
    assert (weights / "gacn.pt").read_bytes() == (ROOT / "resources/weights/gacn.pt").read_bytes()
