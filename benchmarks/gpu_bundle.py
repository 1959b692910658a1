"""Prepare what ``benchmarks/gpu_checklist.sh`` needs on an offline GPU machine.

The lent GPU machines have Python 3.12 with torch, OpenCV, tifffile, SciPy and pytest, but no
PySide6 and no network, and the working tree that travels is limited (64 MiB). This script, run
on a machine with PyPI access, writes (both paths are meant to be git-ignored):

* ``.whl/qtbundle.tar.xz``: PySide6-Essentials trimmed to QtCore/QtGui/QtWidgets/QtTest/QtSvg/
  QtDBus with the offscreen platform plugin, plus shiboken6, qimage2ndarray, platformdirs and
  pytest-qt, and ``syslibs/`` (the X11/GL/fontconfig client libraries Qt links against, copied
  from this machine; the checklist copies only those the GPU machine lacks);
* ``.gpudata/shared/data/``: Lytro pairs 01–20, the V-4 stack and every second image of
  ``train-sharp/color`` (the training data of the GPU recipe's bundled weights).

Usage::

    python benchmarks/gpu_bundle.py [--shared ../shared] [--python-version 3.12]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QT_MODULES = {"QtCore", "QtGui", "QtWidgets", "QtTest", "QtSvg", "QtDBus"}
QT_LIBS = {"Core", "Gui", "Widgets", "Test", "Svg", "DBus", "OpenGL"}
PLUGINS = ("platforms/libqoffscreen", "platforms/libqminimal", "imageformats/", "iconengines/")
SYSTEM = re.compile(r"lib(c|m|stdc\+\+|gcc_s|pthread|dl|rt)\.so|ld-linux")


def _keep_pyside(name: str) -> bool:
    if ".dist-info/" in name or name.startswith(("PySide6/support", "PySide6/scripts")):
        return True
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "PySide6":
        m = re.match(r"(Qt\w+)\.", parts[1])
        if m:
            return m.group(1) in QT_MODULES and not parts[1].endswith(".pyi")
        return parts[1].endswith(".py") or parts[1].startswith("lib")
    if name.startswith("PySide6/Qt/lib/"):
        m = re.match(r"libQt6(\w+?)\.so", parts[-1])
        return bool(m and m.group(1) in QT_LIBS) or parts[-1].startswith("libicu")
    if name.startswith("PySide6/Qt/plugins/"):
        return any(name.startswith("PySide6/Qt/plugins/" + p) for p in PLUGINS)
    return False


def build_qt_bundle(out: Path, python_version: str) -> None:
    """Download the wheels, trim PySide6, add the client libraries, write ``out`` (tar.xz)."""
    import PySide6  # the versions installed here are the ones bundled

    version = PySide6.__version__
    with tempfile.TemporaryDirectory() as tmp:
        wheels, site = Path(tmp) / "wheels", Path(tmp) / "site"
        platforms = [f"manylinux_2_{n}_x86_64" for n in (17, 27, 28, 31, 34)]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "-d",
            str(wheels),
            *[a for p in platforms for a in ("--platform", p)],
            f"PySide6-Essentials=={version}",
            f"shiboken6=={version}",
            "qimage2ndarray",
            "platformdirs",
            "pytest-qt",
        ]
        subprocess.run(cmd, check=True)
        for whl in wheels.glob("*.whl"):
            with zipfile.ZipFile(whl) as z:
                for info in z.infolist():
                    if not whl.name.lower().startswith("pyside6") or _keep_pyside(info.filename):
                        z.extract(info, site)
        for so in (site / "PySide6" / "Qt" / "lib").glob("*.so*"):
            (so.parent / so.name).chmod(0o755)
        libs = set()
        env = {"LD_LIBRARY_PATH": str(site / "PySide6" / "Qt" / "lib")}
        targets = [
            *(site / "PySide6").glob("*.abi3.so"),
            *(site / "PySide6" / "Qt" / "lib").glob("libQt6*.so.6"),
            *(site / "PySide6" / "Qt" / "plugins").rglob("*.so"),
        ]
        for t in targets:
            ldd = subprocess.run(["ldd", str(t)], capture_output=True, text=True, env=env).stdout
            for line in ldd.splitlines():
                parts = line.split("=>")
                if len(parts) == 2 and parts[1].strip().startswith("/"):
                    lib = parts[1].split()[0]
                    if str(site) not in lib and not SYSTEM.search(Path(lib).name):
                        libs.add(lib)
        (site / "syslibs").mkdir()
        for lib in sorted(libs):
            shutil.copy2(Path(lib).resolve(), site / "syslibs" / Path(lib).name)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:xz") as tar:
            for p in sorted(site.iterdir()):
                tar.add(p, arcname=p.name)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {len(libs)} client libraries)")


def copy_data(shared: Path, dest: Path) -> None:
    """The data subset the checklist uses (see the module docstring)."""
    src = shared / "data"
    if dest.exists():
        shutil.rmtree(dest)
    for k in range(1, 21):
        name = f"lytro_{k:02d}"
        shutil.copytree(src / "lytro" / name, dest / "lytro" / name)
    shutil.copytree(
        src / "stacks" / "gacn-v4-chip-microscope", dest / "stacks" / "gacn-v4-chip-microscope"
    )
    colour = sorted((src / "train-sharp" / "color").iterdir())[::2]
    (dest / "train-sharp" / "color").mkdir(parents=True)
    for f in colour:
        shutil.copy2(f, dest / "train-sharp" / "color" / f.name)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"copied the data subset to {dest} ({size / 2**20:.1f} MiB, {len(colour)} sharp images)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--python-version", default="3.12")
    ap.add_argument("--no-qt", action="store_true", help="only copy the data")
    args = ap.parse_args(argv)
    if not args.no_qt:
        build_qt_bundle(REPO / ".whl" / "qtbundle.tar.xz", args.python_version)
    copy_data(args.shared, REPO / ".gpudata" / "shared" / "data")
    print(
        "carry: .gpudata and .whl/qtbundle.tar.xz; run: BUDGET_S=550 bash "
        "benchmarks/gpu_checklist.sh"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
