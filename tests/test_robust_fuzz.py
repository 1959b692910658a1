"""Property/fuzz tests: whatever bytes a file holds, the readers raise an MffError or give an image.

Random bytes, supported (and unsupported) magic numbers followed by garbage, and mutated real
small PNG/JPEG/TIFF/BMP files are written to disk and thrown at :func:`probe`,
:func:`read_image` and :func:`read_stack`. The only acceptable outcomes are a
:class:`~mffgui.errors.MffError` subclass whose message names the file, or a valid image:
``(H, W, C)`` float32, finite, in ``[0, 1]``, with the size and channels its header announced.
"""

from __future__ import annotations

import io
import itertools
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mffgui.errors import MffError
from mffgui.io import probe, read_image, read_stack

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

_RNG = np.random.default_rng(7)
_RGB = _RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _encode_samples() -> dict[str, bytes]:
    """Small valid files of every supported container (independent encoders)."""
    out: dict[str, bytes] = {}
    for ext in (".png", ".jpg", ".bmp"):
        ok, buf = cv2.imencode(ext, _RGB)
        assert ok
        out[ext] = buf.tobytes()
    ok, buf = cv2.imencode(".png", (_RGB.astype(np.uint16) * 257)[:, :, 0])
    out["png16"] = buf.tobytes()
    for name, arr, kw in (
        ("tif-rgb", _RGB, {"photometric": "rgb"}),
        ("tif-gray16", _RGB[:, :, 0].astype(np.uint16) * 3, {}),
        ("tif-zlib", _RGB, {"photometric": "rgb", "compression": "zlib"}),
    ):
        b = io.BytesIO()
        tifffile.imwrite(b, arr, **kw)
        out[name] = b.getvalue()
    b = io.BytesIO()
    Image.fromarray(_RGB).save(b, format="JPEG", progressive=True)
    out["jpg-progressive"] = b.getvalue()
    return out


SAMPLES = _encode_samples()
MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe0",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",
    b"BM",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"%PDF",
]
_counter = itertools.count()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def good_frame(fuzz_dir) -> Path:
    p = fuzz_dir / "good.png"
    p.write_bytes(SAMPLES[".png"])
    return p


def _write(folder: Path, data: bytes) -> Path:
    p = folder / f"case_{next(_counter):05d}.png"
    p.write_bytes(data)
    return p


def _check_image(img: np.ndarray, meta) -> None:
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.float32
    assert img.ndim == 3
    assert img.shape == (meta.height, meta.width, meta.channels)
    assert np.isfinite(img).all()
    assert img.min() >= 0.0
    assert img.max() <= 1.0


def _names(err: MffError, path: Path) -> bool:
    return err.path is not None and Path(err.path) == path


def _exercise(path: Path, good: Path) -> None:
    """Every reader entry point on ``path``: an MffError naming it, or a valid image."""
    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            metas = probe(path)
            assert metas
            assert all(m.width > 0 and m.height > 0 for m in metas)
        except MffError as err:
            if not _names(err, path):
                failures.append(f"probe: {err!r} does not name the file")
        try:
            img, meta = read_image(path)
            _check_image(img, meta)
        except MffError as err:
            if not _names(err, path):
                failures.append(f"read_image: {err!r} does not name the file")
        try:
            stack = read_stack([good, path], sort=False, cache_bytes=0)
            for i in range(len(stack)):
                stack.frame(i)
        except MffError as err:
            if err.path is None:
                failures.append(f"read_stack: {err!r} names no file")
    assert not failures, failures


@FUZZ
@given(data=st.binary(min_size=0, max_size=2048))
def test_random_bytes(fuzz_dir, good_frame, data):
    _exercise(_write(fuzz_dir, data), good_frame)


@FUZZ
@given(magic=st.sampled_from(MAGICS), tail=st.binary(min_size=0, max_size=1024))
def test_magic_then_garbage(fuzz_dir, good_frame, magic, tail):
    _exercise(_write(fuzz_dir, magic + tail), good_frame)


@st.composite
def _mutated(draw) -> bytes:
    data = bytearray(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "zero-run"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            data = data[:pos]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "zero-run":
            n = draw(st.integers(1, 64))
            data[pos : pos + n] = bytes(len(data[pos : pos + n]))
    return bytes(data)


@FUZZ
@given(data=_mutated())
def test_mutated_real_files(fuzz_dir, good_frame, data):
    _exercise(_write(fuzz_dir, data), good_frame)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_themselves_read(fuzz_dir, name):
    """The seeds are valid (so the mutations start from real files)."""
    img, meta = read_image(_write(fuzz_dir, SAMPLES[name]))
    _check_image(img, meta)
    assert (meta.width, meta.height) == (32, 24)
