"""Write fused images and maps: PNG/TIFF at 8 or 16 bits, JPEG; metadata carried; atomic.

Every file is first written to a temporary file in the destination folder and then moved into
place with :func:`os.replace`, so a failed or interrupted export never leaves a partial file and
never clobbers an existing one with garbage. Source files are never overwritten.

Metadata: the ICC profile goes into PNG (``iCCP``), TIFF (tag 34675) and JPEG (APP2); EXIF goes
into PNG (``eXIf``), JPEG (APP1) and TIFF (the descriptive tags, e.g. Make, Model, DateTime and
Orientation, in the image directory, and the Exif sub-directory, tag 34665, appended to the
file). Pixels keep their stored order, so viewers apply the orientation as for the sources.
A 16-bit gray TIFF keeps the ImageJ display range (``min``/``max``) of its source.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile
from PIL import Image

from mffgui.errors import ExportError
from mffgui.io.atomic import atomic_write
from mffgui.types import FusionResult, ImageMeta, PhysicalSize

__all__ = [
    "EXPORT_FORMATS",
    "OME_SUFFIXES",
    "check_export_target",
    "export_format",
    "to_uint",
    "write_height_map",
    "write_image",
    "write_maps",
    "write_ome_tiff",
]

EXPORT_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
}
"""File extension -> export format (``name.ome.tif``/``.ome.tiff`` -> ``OME-TIFF``)."""

OME_SUFFIXES = (".ome.tif", ".ome.tiff")
"""Names ending in these are written as OME-TIFF (physical sizes, channel names)."""


def export_format(path: str | Path) -> str:
    """The export format chosen by the extension of ``path`` (``PNG``, ``TIFF``, ``OME-TIFF``
    for ``*.ome.tif``, or ``JPEG``).

    Raises
    ------
    ExportError
        For an extension mffgui does not write.
    """
    p = Path(path)
    if p.is_dir():
        raise ExportError("is a folder; give a file name such as fused.png", p)
    if p.name.lower().endswith(OME_SUFFIXES):
        return "OME-TIFF"
    fmt = EXPORT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"cannot export to {p.suffix or 'a file without extension'!r}; use .png, .tif or .jpg",
            p,
        )
    return fmt


def to_uint(img: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float ``[0, 1]`` -> uint8/uint16 by ``round(x * (2**bits - 1))``, clipped.

    Parameters
    ----------
    img : ndarray, float
        Any shape; values outside ``[0, 1]`` are clipped.
    bit_depth : {8, 16}

    Returns
    -------
    ndarray, uint8 or uint16
        Exact inverse of the readers' ``v / 255`` or ``v / 65535``.
    """
    scale = 255.0 if bit_depth == 8 else 65535.0
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    x = np.asarray(img, dtype=np.float32) * np.float32(scale)
    np.clip(x, 0, scale, out=x)
    return np.rint(x).astype(dtype)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_export_target(path: Path, sources: Iterable[str | os.PathLike[str] | None]) -> None:
    """Raise :class:`ExportError` if ``path`` is one of ``sources``, a folder, or its folder is
    missing (call before long work so the user learns early)."""
    for s in sources:
        if s is None:
            continue
        sp = Path(s)
        same = path.resolve() == sp.resolve() or (
            path.exists() and sp.exists() and _same_file(path, sp)
        )
        if same:
            raise ExportError(
                "refusing to overwrite a source image of the stack; choose another file name", path
            )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"the folder {folder} does not exist", path)
    if path.is_dir():
        raise ExportError("is a folder; give a file name such as fused.png", path)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """:func:`mffgui.io.atomic.atomic_write` with the encoder's extension kept on the temporary
    (encoders pick the format from it) and every failure turned into :class:`ExportError`."""
    folder = path.parent if str(path.parent) else Path(".")
    started = False

    def checked(tmp: Path) -> None:
        nonlocal started
        started = True
        write(tmp)
        if os.path.getsize(tmp) == 0:
            raise OSError("the encoder wrote nothing")

    try:
        atomic_write(path, checked, suffix=f".part{path.suffix}")
    except ExportError:
        raise
    except Exception as err:
        if not started and isinstance(err, OSError):
            raise ExportError(f"cannot write into {folder} ({err.strerror or err})", path) from None
        raise ExportError(f"could not be written ({err})", path) from err


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_with_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert ``iCCP``/``eXIf`` chunks right after IHDR (the PNG spec requires before IDAT)."""
    if not icc and not exif:
        return png
    ihdr_end = 8 + 4 + 4 + 13 + 4
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        raw = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += _png_chunk(b"eXIf", raw)
    return png[:ihdr_end] + extra + png[ihdr_end:]


def _as_hwc(img: np.ndarray, path: Path) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ExportError(f"cannot export an array of shape {a.shape}; expected (H, W, 1|3)", path)
    if not np.issubdtype(a.dtype, np.floating):
        raise ExportError(f"expected a float image in [0, 1], got {a.dtype}", path)
    return a


def write_image(
    path: str | Path,
    img: np.ndarray,
    *,
    bit_depth: int | None = None,
    quality: int = 95,
    meta: ImageMeta | None = None,
    sources: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Export an image atomically; the format comes from the extension.

    Parameters
    ----------
    path : str or Path
        Destination ``.png``, ``.tif``/``.tiff`` or ``.jpg``/``.jpeg``.
    img : ndarray, (H, W, C) or (H, W) float
        Values in ``[0, 1]`` (clipped); C = 1 or 3.
    bit_depth : {8, 16}, optional
        Default: ``meta.bit_depth`` (the source's), else 8. JPEG is always 8-bit (asking for 16
        is an error; a 16-bit default becomes 8).
    quality : int
        JPEG quality 1..100 (4:4:4 chroma from 90 up).
    meta : ImageMeta, optional
        Source metadata; its ICC profile and EXIF are embedded where the format allows.
    sources : sequence of paths
        Files the export must not overwrite (the stack's sources).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ExportError
        Bad extension/bit depth/quality, a source would be overwritten, the folder is missing or
        not writable, or encoding failed. No partial file is left behind.
    """
    p = Path(path)
    fmt = export_format(p)
    a = _as_hwc(img, p)
    depth = bit_depth if bit_depth is not None else (meta.bit_depth if meta else 8)
    if depth not in (8, 16):
        raise ExportError(f"bit depth must be 8 or 16, not {depth}", p)
    if fmt == "JPEG":
        if bit_depth == 16:
            raise ExportError("JPEG stores 8 bits only; export PNG or TIFF for 16 bits", p)
        depth = 8
        if not 1 <= int(quality) <= 100:
            raise ExportError(f"JPEG quality must be 1..100, not {quality}", p)
    check_export_target(p, [*sources, meta.path if meta else None])
    if fmt == "OME-TIFF":
        return write_ome_tiff(
            p, a, bit_depth=depth, meta=meta, rgb=a.shape[2] == 3, sources=sources
        )
    data = to_uint(a, depth)
    icc = meta.icc_profile if meta else None
    exif = meta.exif if meta else None

    if fmt == "PNG":

        def write(tmp: Path) -> None:
            bgr = data[:, :, ::-1] if data.shape[2] == 3 else data[:, :, 0]
            ok, buf = cv2.imencode(
                ".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 6]
            )
            if not ok:
                raise OSError("PNG encoder failed")
            tmp.write_bytes(_png_with_metadata(buf.tobytes(), icc, exif))
    elif fmt == "TIFF":

        def write(tmp: Path) -> None:
            arr = data if data.shape[2] == 3 else data[:, :, 0]
            ifd0, sub = _tiff_exif_parts(exif)
            extratags = [
                (tag, "H", 1, value, True) if tag == _ORIENTATION else (tag, "s", 0, value, True)
                for tag, value in ifd0.items()
            ]
            ij = _imagej_display(meta, arr)
            tifffile.imwrite(
                tmp,
                arr,
                photometric="rgb" if arr.ndim == 3 else "minisblack",
                compression="zlib",
                compressionargs={"level": 6},
                iccprofile=icc,
                software="mffgui",
                imagej=ij is not None,
                metadata=ij,
                bigtiff=False,
                extratags=extratags,
            )
            if sub:
                _append_exif_ifd(tmp, sub)
    else:

        def write(tmp: Path) -> None:
            arr = data if data.shape[2] == 3 else data[:, :, 0]
            im = Image.fromarray(arr, mode=None)
            kwargs: dict[str, object] = {"quality": int(quality), "optimize": True}
            if arr.ndim == 3 and quality >= 90:
                kwargs["subsampling"] = 0
            if icc:
                kwargs["icc_profile"] = icc
            if exif:
                kwargs["exif"] = exif
            im.save(tmp, format="JPEG", **kwargs)

    _atomic_write(p, write)
    return p


def _imagej_display(meta: ImageMeta | None, arr: np.ndarray) -> dict[str, Any] | None:
    """ImageJ metadata keeping the source's display range, for a 16-bit gray TIFF export.

    ``None`` (plain TIFF) when the source had no display range or the export is 8-bit or RGB
    (ImageJ has no 16-bit RGB; an 8-bit export's levels no longer match the range).
    """
    rng = meta.display_range if meta is not None else None
    if rng is None or arr.ndim != 2 or arr.dtype != np.uint16:
        return None
    lo, hi = float(rng[0]), float(rng[1])
    return {"min": lo, "max": hi, "Ranges": (lo, hi)}


def _ome_metadata(
    axes: str, physical: PhysicalSize | None, channel_names: Sequence[str] = ()
) -> dict[str, Any]:
    md: dict[str, Any] = {"axes": axes}
    if physical is not None:
        for ax in "XYZ":
            v = getattr(physical, ax.lower())
            if v is not None:
                md[f"PhysicalSize{ax}"] = float(v)
                md[f"PhysicalSize{ax}Unit"] = "µm"
    if channel_names and any(channel_names):
        md["Channel"] = {"Name": list(channel_names)}
    return md


def write_ome_tiff(
    path: str | Path,
    img: np.ndarray,
    *,
    bit_depth: int | None = None,
    meta: ImageMeta | None = None,
    physical: PhysicalSize | None = None,
    channel_names: Sequence[str] | None = None,
    rgb: bool = False,
    sources: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Export an image with any number of channels as OME-TIFF, atomically.

    Parameters
    ----------
    path : str or Path
        Destination (``*.ome.tif`` by convention).
    img : ndarray, (H, W) or (H, W, C) float
        Values in ``[0, 1]`` (clipped); any ``C`` (fluorescence channels are never mixed).
    bit_depth : {8, 16}, optional
        Default: ``meta.bit_depth``, else 16.
    meta : ImageMeta, optional
        Source metadata: physical sizes and channel names unless given explicitly.
    physical : PhysicalSize, optional
        ``PhysicalSizeX/Y/Z`` in µm written into the OME-XML (Z: the stack's z-step).
    channel_names : sequence of str, optional
        One name per channel.
    rgb : bool
        Store 3 channels as RGB samples (``YXS``) instead of separate channel planes (``CYX``).
    sources : sequence of paths
        Files the export must not overwrite.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ExportError
        Bad bit depth or shape, a source would be overwritten, or the write failed.
    """
    p = Path(path)
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or not np.issubdtype(a.dtype, np.floating):
        raise ExportError(f"expected a float (H, W, C) image, got {a.dtype} {a.shape}", p)
    depth = bit_depth if bit_depth is not None else (meta.bit_depth if meta else 16)
    if depth not in (8, 16):
        raise ExportError(f"bit depth must be 8 or 16, not {depth}", p)
    check_export_target(p, [*sources, meta.path if meta else None])
    phys = physical if physical is not None else (meta.physical if meta else None)
    names = (
        tuple(channel_names) if channel_names is not None else (meta.channel_names if meta else ())
    )
    if len(names) != a.shape[2]:
        names = ()
    data = to_uint(a, depth)
    if rgb and a.shape[2] == 3:
        arr, axes, photometric = data, "YXS", "rgb"
    else:
        arr, axes, photometric = np.ascontiguousarray(np.moveaxis(data, -1, 0)), "CYX", "minisblack"
        if arr.shape[0] == 1:
            arr, axes = arr[0], "YX"
    md = _ome_metadata(axes, phys, names)

    def write(tmp: Path) -> None:
        tifffile.imwrite(
            tmp,
            arr,
            ome=True,
            photometric=photometric,
            compression="zlib",
            compressionargs={"level": 6},
            software="mffgui",
            metadata=md,
        )

    _atomic_write(p, write)
    return p


def write_height_map(
    path: str | Path,
    height: np.ndarray,
    *,
    physical: PhysicalSize | None = None,
    sources: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Write a height map as a 32-bit float TIFF (µm), with OME physical sizes when known.

    Parameters
    ----------
    path : str or Path
        ``.tif``/``.tiff`` (``.ome.tif`` alike).
    height : ndarray, (H, W) float
        Height in µm per pixel.
    physical : PhysicalSize, optional
        Pixel pitch (and z-step) in µm, recorded in the OME-XML.
    sources : sequence of paths
        Files that must not be overwritten.

    Returns
    -------
    Path

    Raises
    ------
    ExportError
        Not a TIFF name, wrong shape, a source would be overwritten, or the write failed.
    """
    p = Path(path)
    if export_format(p) not in ("TIFF", "OME-TIFF"):
        raise ExportError("a height map is a 32-bit float TIFF; name it .tif", p)
    h = np.asarray(height, dtype=np.float32)
    if h.ndim != 2:
        raise ExportError(f"a height map is (H, W), got {h.shape}", p)
    check_export_target(p, sources)
    md = _ome_metadata("YX", physical)

    def write(tmp: Path) -> None:
        tifffile.imwrite(
            tmp,
            h,
            ome=True,
            photometric="minisblack",
            compression="zlib",
            software="mffgui",
            metadata=md,
        )

    _atomic_write(p, write)
    return p


_EXIF_IFD_TAG = 0x8769
_ORIENTATION = 0x0112
_TIFF_ASCII_TAGS = (0x010E, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298)
"""ImageDescription, Make, Model, DateTime, Artist, Copyright: copied into a TIFF's IFD0."""


def _tiff_exif_parts(exif: bytes | None) -> tuple[dict[int, Any], dict[int, object]]:
    """``(ifd0 ascii tags, Exif sub-IFD tags)`` of an EXIF block; empty when unreadable.

    The IFD0 dict may also hold the Orientation tag (274) as an int.
    """
    if not exif:
        return {}, {}
    try:
        ex = Image.Exif()
        ex.load(exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
        ifd0: dict[int, Any] = {
            t: str(ex[t]).replace("\x00", "")
            for t in _TIFF_ASCII_TAGS
            if isinstance(ex.get(t), str) and ex[t].strip("\x00 ")
        }
        if isinstance(ex.get(_ORIENTATION), int) and 1 <= ex[_ORIENTATION] <= 8:
            ifd0[_ORIENTATION] = int(ex[_ORIENTATION])
        sub = {
            int(k): v for k, v in ex.get_ifd(_EXIF_IFD_TAG).items() if int(k) not in (0xA005,)
        }  # no interoperability sub-IFD pointer
        return ifd0, sub
    except Exception:  # metadata is optional: never fail an export over it
        return {}, {}


def _append_exif_ifd(path: Path, tags: dict[int, object]) -> None:
    """Add an Exif sub-IFD holding ``tags`` to the single-page classic little-endian TIFF at
    ``path``.

    tifffile does not write the ExifIFD pointer (tag 34665), so the Exif IFD and a copy of IFD0
    with that pointer added are appended, and the header is pointed at the new IFD0. Entries are
    copied verbatim: their out-of-line values keep their absolute offsets. Anything unexpected
    leaves the file as tifffile wrote it.
    """
    from PIL import TiffImagePlugin

    with open(path, "r+b") as fh:
        head = fh.read(8)
        if head[:4] != b"II*\x00":
            return
        (ifd0,) = struct.unpack("<I", head[4:8])
        fh.seek(ifd0)
        (count,) = struct.unpack("<H", fh.read(2))
        entries = [fh.read(12) for _ in range(count)]
        (next_ifd,) = struct.unpack("<I", fh.read(4))
        if any(struct.unpack("<H", e[:2])[0] == _EXIF_IFD_TAG for e in entries):
            return
        end = fh.seek(0, os.SEEK_END)
        exif_at = end + (end % 2)  # IFDs start on a word boundary
        sub = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
        for tag, value in tags.items():
            try:
                sub[tag] = value
            except (TypeError, ValueError):
                continue
        try:
            block = sub.tobytes(exif_at)
        except Exception:  # an odd value type: keep the image without the Exif IFD
            return
        ifd0_at = exif_at + len(block)
        ifd0_at += ifd0_at % 2
        pointer = struct.pack("<HHII", _EXIF_IFD_TAG, 4, 1, exif_at)  # LONG, count 1
        entries = sorted([*entries, pointer], key=lambda e: struct.unpack("<H", e[:2])[0])
        fh.write(b"\x00" * (exif_at - end) + block + b"\x00" * (ifd0_at - exif_at - len(block)))
        fh.write(struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", next_ifd))
        fh.seek(4)
        fh.write(struct.pack("<I", ifd0_at))


MAP_KINDS = ("index", "decision", "focus")
"""Maps :func:`write_maps` can export."""


def write_maps(
    result: FusionResult,
    folder: str | Path,
    stem: str,
    *,
    which: Sequence[str] = MAP_KINDS,
    sources: Sequence[str | os.PathLike[str]] = (),
) -> list[Path]:
    """Export the maps of a fusion result as 16-bit PNGs in ``folder``.

    Written files (each atomically):

    * ``{stem}_index.png`` — source index per pixel (raw values ``0..N-1``, uint16), the depth
      map for N > 2;
    * ``{stem}_decision.png`` — pairs: the weight of the first image (0..65535); N > 2: the
      index map scaled to the full range, for viewing;
    * ``{stem}_focus_{i:03d}.png`` — per-source focus map, ``i`` counted from 1.

    Parameters
    ----------
    result : FusionResult
    folder : str or Path
        Existing, writable folder.
    stem : str
        File-name prefix, e.g. the fused image's stem.
    which : sequence of {"index", "decision", "focus"}
    sources : sequence of paths
        Files that must not be overwritten.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ExportError
        Unknown map kind, missing or unwritable folder, or an encoding failure.
    """
    out_dir = Path(folder)
    bad = [w for w in which if w not in MAP_KINDS]
    if bad:
        raise ExportError(f"unknown map kind(s) {bad}; choose from {list(MAP_KINDS)}", out_dir)
    if not out_dir.is_dir():
        raise ExportError("the maps folder does not exist", out_dir)
    if not os.access(out_dir, os.W_OK):
        raise ExportError("the maps folder is not writable", out_dir)
    written: list[Path] = []
    if "index" in which:
        idx = np.asarray(result.index_map).astype(np.uint16)
        written.append(_write_uint16_png(out_dir / f"{stem}_index.png", idx, sources))
    if "decision" in which:
        written.append(
            write_image(
                out_dir / f"{stem}_decision.png", result.decision_map, bit_depth=16, sources=sources
            )
        )
    if "focus" in which:
        for i in range(len(result.focus_maps)):
            fm = np.clip(np.asarray(result.focus_maps[i], dtype=np.float32), 0.0, 1.0)
            written.append(
                write_image(
                    out_dir / f"{stem}_focus_{i + 1:03d}.png", fm, bit_depth=16, sources=sources
                )
            )
    return written


def _write_uint16_png(path: Path, data: np.ndarray, sources: Sequence) -> Path:
    check_export_target(path, sources)

    def write(tmp: Path) -> None:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(data))
        if not ok:
            raise OSError("PNG encoder failed")
        tmp.write_bytes(buf.tobytes())

    _atomic_write(path, write)
    return path
