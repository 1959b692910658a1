"""``benchmarks/bit_identity.py``: the pixel comparison, and one real base-vs-tree run.

The run fuses one Lytro pair with ``laplacian`` through the CLI of the base revision (a
temporary git worktree) and of this tree; it is skipped where the base commit or the shared
data is not available (a shallow clone, a user's clone without ``../shared``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, shared_path

SCRIPT = REPO / "benchmarks" / "bit_identity.py"


@pytest.fixture(scope="module")
def bit_identity():
    spec = importlib.util.spec_from_file_location("bit_identity", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bit_identity"] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bit_identity", None)


def test_compare_counts_pixels_not_channels(bit_identity):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert bit_identity.compare(a, a.copy()) == (True, 0, 0)
    b = a.copy()
    b[2, 3, 0] ^= 0x10  # one pixel, one channel: |d| = 16
    b[5, 1, :] = 255 - a[5, 1, :]  # one pixel, all channels
    d_max = int(np.abs(b.astype(int) - a.astype(int)).max())
    assert bit_identity.compare(a, b) == (False, d_max, 2)
    gray16 = rng.integers(0, 65536, (4, 5), dtype=np.uint16)
    other = gray16.copy()
    other[0, 0] = gray16[0, 0] ^ 1
    assert bit_identity.compare(gray16, other) == (False, 1, 1)


def test_compare_and_hash_tell_shape_and_dtype_apart(bit_identity):
    a = np.zeros((4, 6), np.uint8)
    same, _, n = bit_identity.compare(a, np.zeros((6, 4), np.uint8))
    assert not same
    assert n == 24
    assert not bit_identity.compare(a, a.astype(np.uint16))[0]
    hashes = {
        bit_identity.pixel_sha256(x)
        for x in (a, a.reshape(6, 4), a.astype(np.uint16)[:, :3], a.copy())
    }
    assert len(hashes) == 3  # the copy hashes like the original


def _have_base(rev: str) -> bool:
    proc = subprocess.run(
        ["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True
    )
    return proc.returncode == 0


@pytest.mark.shared
@pytest.mark.slow
def test_one_lytro_pair_is_identical_to_the_base(bit_identity, capsys, monkeypatch, tmp_path):
    shared_path("data", "lytro", "lytro_01")
    if not _have_base(bit_identity.DEFAULT_BASE):
        pytest.skip(f"base commit {bit_identity.DEFAULT_BASE} not in this clone")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(bit_identity.tempfile, "mkdtemp", lambda **_: str(scratch))
    rc = bit_identity.main(["--lytro", "1", "--no-v4", "--methods", "laplacian"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"base {bit_identity.DEFAULT_BASE} ({scratch}" in out  # the base ran from scratch
    row = next(line for line in out.splitlines() if line.startswith("laplacian"))
    assert row.split()[1:3] == ["lytro_01", "identical"]
    base_sha, head_sha = row.split()[5:7]
    assert base_sha == head_sha
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert str(scratch) not in listed  # the temporary worktree is gone
    assert not scratch.exists()
