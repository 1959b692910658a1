"""CLI bit-identity of the classical methods between a base revision and the current tree.

For every classical method (every registered method whose kind is not ``network``) this runs
``python -m mffgui fuse A B -o OUT.png -m METHOD`` (the CLI's default options, alignment
included) on the 20 Lytro pairs and the 65-frame V-4 stack, once with a base revision
(default ``4234207``, the last commit before issue 15's redesign) checked out in a temporary
``git worktree`` and once with the current tree, decodes both PNGs and compares the pixel
arrays exactly.

Each side runs in its own subprocess with ``cwd`` and ``PYTHONPATH`` at that side's tree, so
each imports its own ``mffgui``. The current side is this checkout's working tree,
uncommitted changes included, unless ``--head REV`` names a revision (then it gets a
temporary worktree too; useful to bisect a difference).

A method the base does not register is reported ``not at base``; a method whose output changed
on purpose is listed in :data:`CHANGED_ON_PURPOSE` with the commit that changed it and is
reported ``changed on purpose`` (not a failure). Methods whose default parameters differ
between the sides are flagged, with the commits since the base that touched the method's
module.

Exit status: 0 when every compared output is identical (or changed on purpose), 1 on any
other difference or a failed run, 2 on bad usage (no base revision, no data).

Usage::

    nice -n 5 python benchmarks/bit_identity.py [--base 4234207] [--head REV]
        [--methods gff,laplacian] [--lytro 20] [--no-v4] [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MFFGUI_SHARED", REPO.parent / "shared")) / "data"
LYTRO = DATA / "lytro"
V4 = DATA / "stacks" / "gacn-v4-chip-microscope"
DEFAULT_BASE = "4234207"

CHANGED_ON_PURPOSE: dict[str, tuple[str, str]] = {
    "halofree": (
        "86188e4",
        "(merge of issue 17's third round; the blend from 35aa350/948c56b): sparse band "
        "blend with the two most active frames per pyramid band (core/band_blend.py), "
        "69.5 dB from the earlier output on the sample stack; issue 17 is still tuning it",
    ),
}
"""Method -> (commit, why) for outputs that changed on purpose since the base."""

_LIST_METHODS = """
import dataclasses, inspect, json
import mffgui
from mffgui.methods.registry import list_methods, _REGISTRY
out = {"__package__": mffgui.__file__}
for info in list_methods():
    cls = _REGISTRY[info.name]
    defaults = {f.name: repr(f.default) for f in dataclasses.fields(info.params)}
    out[info.name] = {"kind": info.kind, "defaults": defaults,
                      "file": inspect.getsourcefile(cls)}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Side:
    """One tree to run: a label for the table and its root directory."""

    label: str
    root: Path

    def env(self) -> dict[str, str]:
        """The subprocess environment: this side's tree first on ``sys.path``."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.root)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        return env

    def run(self, args: Sequence[str], timeout: float = 3600.0) -> subprocess.CompletedProcess:
        """``python ARGS`` in this side's tree (output captured)."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def methods(self) -> dict[str, dict]:
        """Registered methods: ``name -> {"kind", "defaults", "file"}``."""
        proc = self.run(["-c", _LIST_METHODS])
        if proc.returncode != 0:
            raise RuntimeError(f"{self.label}: listing the methods failed:\n{proc.stderr}")
        listed = json.loads(proc.stdout)
        where = Path(listed.pop("__package__")).resolve()
        if not where.is_relative_to(self.root.resolve()):
            raise RuntimeError(f"{self.label}: imported mffgui from {where}, not {self.root}")
        return listed


@dataclass(frozen=True)
class Case:
    """One input stack: a name for the table and its input files."""

    name: str
    inputs: tuple[Path, ...]


@dataclass
class Outcome:
    """The comparison of one method on one stack."""

    method: str
    stack: str
    status: str  # identical | DIFFERENT | changed on purpose | not at base | FAILED
    max_abs_diff: int = 0
    n_pixels_differing: int = 0
    sha256: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # side -> wall s
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # side -> user + system s
    note: str = ""


def lytro_cases(count: int) -> list[Case]:
    """The first ``count`` Lytro pairs ``lytro_01`` ... (A, B)."""
    cases = []
    for k in range(1, count + 1):
        name = f"lytro_{k:02d}"
        cases.append(Case(name, (LYTRO / name / f"{name}_A.jpg", LYTRO / name / f"{name}_B.jpg")))
    return cases


def v4_case() -> Case:
    """The 65-frame V-4 stack (sorted frame files; the CLI aligns it by default)."""
    return Case("V-4", tuple(sorted(V4.glob("V*.jpg"))))


def git(*args: str) -> str:
    """``git ARGS`` in this repository; stdout stripped."""
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def worktree(rev: str, parent: Path) -> Iterator[Path]:
    """A temporary detached ``git worktree`` of ``rev`` under ``parent``, removed afterwards."""
    path = parent / f"tree-{rev[:12]}"
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=REPO, capture_output=True
        )
        shutil.rmtree(path, ignore_errors=True)
        git("worktree", "prune")


def pixels(path: Path) -> np.ndarray:
    """The decoded pixels of an output file, (H, W[, C]) uint8/uint16 as stored."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RuntimeError(f"{path}: cannot decode")
    return img


def pixel_sha256(img: np.ndarray) -> str:
    """sha256 over shape, dtype and the C-ordered pixel bytes."""
    h = hashlib.sha256(f"{img.shape}{img.dtype.str}".encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()


def compare(a: np.ndarray, b: np.ndarray) -> tuple[bool, int, int]:
    """``(identical, max |a - b|, pixels where any channel differs)``.

    Different shapes or dtypes count as different everywhere (``max`` -1).
    """
    if a.shape != b.shape or a.dtype != b.dtype:
        return False, -1, int(max(a.shape[0] * a.shape[1], b.shape[0] * b.shape[1]))
    diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
    per_pixel = diff if diff.ndim == 2 else diff.max(axis=2)
    n = int(np.count_nonzero(per_pixel))
    return n == 0, int(diff.max(initial=0)), n


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def fuse(side: Side, method: str, case: Case, out: Path, reuse: bool) -> tuple[float, float]:
    """Run ``mffgui fuse`` for one case on one side.

    Returns
    -------
    (float, float)
        Wall and CPU (user + system) seconds of the process; ``(0, 0)`` when reused.
    """
    if reuse and out.exists():
        return 0.0, 0.0
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ["-m", "mffgui", "fuse", *map(str, case.inputs), "-o", str(out), "-m", method]
    t0, c0 = time.perf_counter(), _children_cpu_s()
    proc = side.run(args)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{side.label}: mffgui fuse -m {method} on {case.name} exited {proc.returncode}:\n"
            + proc.stderr[-2000:]
        )
    return time.perf_counter() - t0, _children_cpu_s() - c0


def module_commits(base: str, head: str, file: str | None) -> str:
    """Commits in ``base..head`` that touched ``file`` (short hashes, newest first)."""
    if not file:
        return ""
    try:
        rel = Path(file).resolve().relative_to(REPO)
    except ValueError:
        rel = Path("mffgui", *Path(file).parts[-2:])
    log = git("log", "--format=%h", f"{base}..{head}", "--", str(rel))
    return " ".join(log.split())


def run_method(
    method: str,
    cases: Sequence[Case],
    sides: tuple[Side, Side],
    out_dir: Path,
    reuse: bool,
) -> Iterator[Outcome]:
    """Fuse every case with ``method`` on both sides and compare."""
    for case in cases:
        res = Outcome(method, case.name, "identical")
        imgs = []
        try:
            for side in sides:
                out = out_dir / side.label / method / f"{case.name}.png"
                wall, cpu = fuse(side, method, case, out, reuse)
                res.seconds[side.label], res.cpu_seconds[side.label] = round(wall, 2), round(cpu, 2)
                img = pixels(out)
                res.sha256[side.label] = pixel_sha256(img)
                imgs.append(img)
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            res.status, res.note = "FAILED", str(err)
            yield res
            continue
        same, res.max_abs_diff, res.n_pixels_differing = compare(*imgs)
        if not same:
            res.status = "changed on purpose" if method in CHANGED_ON_PURPOSE else "DIFFERENT"
            if method in CHANGED_ON_PURPOSE:
                res.note = " ".join(CHANGED_ON_PURPOSE[method])
        yield res


def print_row(r: Outcome, labels: Sequence[str]) -> None:
    """One line of the table on stdout (flushed: the runs are long)."""
    shas = " ".join(r.sha256.get(lab, "-")[:12] for lab in labels)
    secs = " ".join(
        f"{r.seconds.get(lab, 0.0):6.1f} ({r.cpu_seconds.get(lab, 0.0):5.1f})" for lab in labels
    )
    diff = "-" if r.status == "not at base" else f"{r.max_abs_diff:5d} {r.n_pixels_differing:8d}"
    print(f"{r.method:10s} {r.stack:9s} {r.status:19s} {diff:>14s}  {shas}  {secs}", flush=True)
    if r.note:
        print(f"    {r.note}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=DEFAULT_BASE, help="base revision (default %(default)s)")
    ap.add_argument("--head", default=None, help="revision to compare (default: this work tree)")
    ap.add_argument("--methods", default=None, help="comma list (default: every classical one)")
    ap.add_argument("--lytro", type=int, default=20, help="Lytro pairs 1..N (default 20)")
    ap.add_argument("--no-v4", action="store_true", help="skip the V-4 stack")
    ap.add_argument("--out", type=Path, default=None, help="keep the outputs in this folder")
    ap.add_argument("--reuse", action="store_true", help="with --out: reuse existing outputs")
    ap.add_argument("--json", type=Path, default=None, help="write every outcome as JSON")
    args = ap.parse_args(argv)

    try:
        base = git("rev-parse", "--short", f"{args.base}^{{commit}}")
        head = git("rev-parse", "--short", f"{args.head}^{{commit}}") if args.head else None
    except subprocess.CalledProcessError as err:
        print(f"bit_identity: unknown revision: {err.stderr.strip()}", file=sys.stderr)
        return 2
    cases = lytro_cases(args.lytro) + ([] if args.no_v4 else [v4_case()])
    missing = [p for c in cases for p in c.inputs if not p.is_file()]
    if missing or (not args.no_v4 and not cases[-1].inputs):
        print(f"bit_identity: missing input data, e.g. {missing[:1] or V4}", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="bit_identity_"))
    out_dir = args.out if args.out is not None else tmp / "out"
    outcomes: list[Outcome] = []
    try:
        with worktree(base, tmp) as base_root, _head_tree(head, tmp) as head_root:
            sides = (Side(f"base-{base}", base_root), Side(head or "current", head_root))
            labels = [s.label for s in sides]
            listed = [s.methods() for s in sides]
            names = (
                args.methods.split(",")
                if args.methods
                else [m for m, v in listed[1].items() if v["kind"] != "network"]
            )
            print(f"base {base} ({base_root}) vs {labels[1]} ({head_root})")
            print(f"load average at start: {_loadavg()}")
            print(f"methods: {', '.join(names)}; stacks: {len(cases)}")
            print(
                f"{'method':10s} {'stack':9s} {'result':19s} {'max|d| n_px':>14s}  "
                f"{'sha256 ' + labels[0]:12s} {'sha256 ' + labels[1]:12s}  wall s (CPU s) per side"
            )
            for name in names:
                if name not in listed[0]:
                    r = Outcome(name, "all", "not at base")
                    outcomes.append(r)
                    print_row(r, labels)
                    continue
                if listed[0][name]["defaults"] != listed[1][name]["defaults"]:
                    commits = module_commits(base, head or "HEAD", listed[1][name]["file"])
                    print(f"    {name}: default parameters differ; commits since base: {commits}")
                for r in run_method(name, cases, sides, out_dir, args.reuse):
                    outcomes.append(r)
                    print_row(r, labels)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    bad = [r for r in outcomes if r.status in ("DIFFERENT", "FAILED")]
    same = sum(r.status == "identical" for r in outcomes)
    print(f"load average at end: {_loadavg()}")
    print(f"{same} identical, {len(bad)} different or failed, {len(outcomes)} compared")
    if args.json is not None:
        args.json.write_text(json.dumps([r.__dict__ for r in outcomes], indent=1))
    return 1 if bad else 0


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


@contextmanager
def _head_tree(head: str | None, parent: Path) -> Iterator[Path]:
    """The current side's root: this work tree, or a temporary worktree of ``head``."""
    if head is None:
        yield REPO
    else:
        with worktree(head, parent) as path:
            yield path


if __name__ == "__main__":
    sys.exit(main())
