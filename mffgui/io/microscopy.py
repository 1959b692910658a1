"""Microscopy z-stacks: OME-TIFF (and ImageJ/plain TIFF volumes) via tifffile; CZI, ND2 and LIF
via the optional ``bioio`` readers (extra ``microscopy``).

A microscopy file is read whole into a :class:`~mffgui.types.Volume` ``(Z, C, Y, X)`` with its
physical pixel sizes and z-step in µm (OME ``PhysicalSizeX/Y/Z``, ImageJ ``spacing``) and its
channel names. Of a time series the first time point is used (noted); other axes than Z, C,
Y, X and RGB samples are not supported.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from mffgui.errors import CorruptImage, MissingExtra, UnsupportedImage
from mffgui.types import ImageMeta, PhysicalSize, Volume

__all__ = [
    "BIOIO_FORMATS",
    "UNITS_UM",
    "imagej_physical",
    "ome_physical",
    "probe_bioio",
    "read_bioio_plane",
    "read_volume",
    "sniff_microscopy",
    "volume_channels",
]

BIOIO_FORMATS = ("CZI", "ND2", "LIF")
"""Formats read through the optional ``bioio`` plugins (extra ``microscopy``)."""

_BIOIO_PLUGIN = {"CZI": "bioio-czi", "ND2": "bioio-nd2", "LIF": "bioio-lif"}

UNITS_UM: dict[str, float] = {
    "µm": 1.0,
    "um": 1.0,
    "μm": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "\\u00B5m": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "Å": 1e-4,
    "pm": 1e-6,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "m": 1e6,
    "meter": 1e6,
}
"""Length unit -> micrometres per unit (OME ``PhysicalSize*Unit``, ImageJ ``unit``)."""


def sniff_microscopy(head: bytes) -> str | None:
    """``"CZI"``, ``"ND2"`` or ``"LIF"`` from a file's first 16 bytes, else ``None``."""
    if head.startswith(b"ZISRAWFILE"):
        return "CZI"
    if head.startswith(b"\xda\xce\xbe\x0a"):
        return "ND2"
    if len(head) > 8 and head[:4] == b"\x70\x00\x00\x00" and head[8] == 0x2A:
        return "LIF"
    return None


def _to_um(value: str | float | None, unit: str | None) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(v) or v <= 0:
        return None
    factor = UNITS_UM.get((unit or "µm").strip(), None)
    return None if factor is None else v * factor


def ome_physical(xml: str | None) -> tuple[PhysicalSize | None, tuple[str, ...]]:
    """Physical sizes (µm) and channel names of the first image of an OME-XML document.

    Parameters
    ----------
    xml : str or None
        OME-XML (``TiffFile.ome_metadata``).

    Returns
    -------
    physical : PhysicalSize or None
        ``None`` when the document sets none of ``PhysicalSizeX/Y/Z``.
    channel_names : tuple of str
        ``Name`` of each ``Channel`` (``""`` where unnamed); empty when none is named.
    """
    if not xml:
        return None, ()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None, ()
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None, ()
    sizes = {
        ax: _to_um(pixels.get(f"PhysicalSize{ax}"), pixels.get(f"PhysicalSize{ax}Unit"))
        for ax in "XYZ"
    }
    phys = PhysicalSize(sizes["X"], sizes["Y"], sizes["Z"])
    names = tuple(ch.get("Name", "") for ch in pixels if ch.tag.rsplit("}", 1)[-1] == "Channel")
    return (phys if phys.known else None), (names if any(names) else ())


def imagej_physical(tif: tifffile.TiffFile) -> PhysicalSize | None:
    """Pixel pitch (XResolution/YResolution) and z-step (``spacing``) of an ImageJ hyperstack."""
    md = tif.imagej_metadata or {}
    unit = str(md.get("unit", "µm")).replace("\\u00B5", "µ")
    page = tif.pages.first
    sizes: list[float | None] = []
    for code in (282, 283):  # XResolution, YResolution: pixels per unit
        tag = page.tags.get(code)
        px = None
        if tag is not None:
            num, den = tag.value if isinstance(tag.value, tuple) else (tag.value, 1)
            if num and den and num / den not in (1.0, 72.0):
                px = _to_um(den / num, unit)
        sizes.append(px)
    z = _to_um(md.get("spacing"), unit)
    phys = PhysicalSize(sizes[0], sizes[1], z)
    return phys if phys.known else None


def imagej_display_range(tif: tifffile.TiffFile) -> tuple[float, float] | None:
    """ImageJ display range ``(min, max)`` of the first channel, in stored sample units.

    Read from the description's ``min``/``max`` or the IJMetadata ``Ranges`` (one pair per
    channel); ``None`` when neither is present or the pair is not increasing.
    """
    md = tif.imagej_metadata or {}
    pair: tuple[object, object] | None = None
    if "min" in md and "max" in md:
        pair = (md["min"], md["max"])
    else:
        ranges = md.get("Ranges")
        if isinstance(ranges, list | tuple) and len(ranges) >= 2:
            pair = (ranges[0], ranges[1])
    if pair is None:
        return None
    try:
        lo, hi = float(pair[0]), float(pair[1])  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) and lo < hi else None


def _tiff_series_zcyx(series: Any, path: Path) -> tuple[tuple[Any, ...], list[str]]:
    """Index into ``series.asarray()`` and axis order turning it into (Z, C, Y, X)."""
    axes = str(series.axes).upper()
    shape = tuple(int(s) for s in series.shape)
    index: list[Any] = []
    kept: list[str] = []
    z_axis = "Z" if "Z" in axes else next((a for a in "IQ" if a in axes), None)
    for ax, n in zip(axes, shape, strict=True):
        if ax in "YX" or ax == z_axis or ax in "CS":
            index.append(slice(None))
            kept.append(ax)
        elif n == 1 or ax == "T":
            index.append(0)
        else:
            raise UnsupportedImage(
                f"TIFF series with axes {axes} {shape} is not a focus stack (expected Z, C, Y, X)",
                path,
            )
    if "C" in kept and "S" in kept:
        raise UnsupportedImage(
            f"TIFF series with both channels and RGB samples ({axes}) is not supported", path
        )
    return tuple(index), kept


def volume_channels(path: str | Path) -> int:
    """Channels of a microscopy file without reading its pixels (1 for a plain stack).

    RGB samples count as 3 channels. Returns 0 for a file that is not a TIFF volume or a
    microscopy format (the caller then treats it as ordinary images).
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return 0
    fmt = sniff_microscopy(head)
    if fmt is not None:
        img = _bioio_image(p, fmt)
        return int(getattr(img.dims, "C", 1))
    if head[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return 0
    try:
        with tifffile.TiffFile(p) as tif:
            if not (tif.is_ome or tif.is_imagej):
                return 0
            series = tif.series[0]
            axes = str(series.axes).upper()
            for ax in "CS":
                if ax in axes:
                    return int(series.shape[axes.index(ax)])
            return 1
    except Exception:  # not our business here: the ordinary reader reports damage
        return 0


def read_volume(path: str | Path) -> Volume:
    """Read a microscopy z-stack as ``(Z, C, Y, X)`` with its physical sizes.

    Parameters
    ----------
    path : str or Path
        OME-TIFF, ImageJ or plain multi-page TIFF; CZI, ND2 or LIF with the ``microscopy``
        extra installed.

    Returns
    -------
    Volume
        ``data`` uint8 or uint16 ``(Z, C, Y, X)``; ``meta.physical`` in µm where the file
        records it; ``meta.channel_names``.

    Raises
    ------
    UnsupportedImage
        Not a volume mffgui reads (sample type, axes).
    CorruptImage
        A damaged file.
    MissingExtra
        CZI/ND2/LIF without the ``microscopy`` extra.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        raise UnsupportedImage("file not found", p) from None
    except OSError as err:
        raise UnsupportedImage(f"cannot be opened ({err.strerror or err})", p) from None
    fmt = sniff_microscopy(head)
    if fmt is not None:
        return _read_bioio(p, fmt)
    return _read_tiff_volume(p)


def _read_tiff_volume(p: Path) -> Volume:
    try:
        tif = tifffile.TiffFile(p)
    except Exception as err:
        raise CorruptImage(f"not a readable TIFF ({err})", p) from None
    with tif:
        try:
            series = tif.series[0]
            index, kept = _tiff_series_zcyx(series, p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = np.asarray(series.asarray())[index]
        except UnsupportedImage:
            raise
        except MemoryError:
            raise UnsupportedImage("not enough memory to read this volume", p) from None
        except Exception as err:
            raise CorruptImage(f"damaged TIFF volume ({err})", p) from None
        axes = str(series.axes).upper()
        notes = (
            [f"time point 1 of {series.shape[axes.index('T')]} used"]
            if "T" in axes and series.shape[axes.index("T")] > 1
            else []
        )
        if tif.is_ome:
            phys, names = ome_physical(tif.ome_metadata)
            fmt = "OME-TIFF"
        elif tif.is_imagej:
            phys, names, fmt = imagej_physical(tif), (), "TIFF"
        else:
            phys, names, fmt = None, (), "TIFF"
        photometric = int(tif.pages.first.photometric)
    return _make_volume(
        data, kept, p, fmt, phys, names, rgb="S" in kept and photometric == 2, notes=notes
    )


def _make_volume(
    data: np.ndarray,
    kept: list[str],
    p: Path,
    fmt: str,
    phys: PhysicalSize | None,
    names: tuple[str, ...],
    *,
    rgb: bool,
    notes: list[str],
) -> Volume:
    order = [a if a != "S" else "C" for a in kept]
    z_axis = next((a for a in order if a not in "CYX"), None)
    if z_axis is None:
        data = data[None]
        order = ["Z", *order]
        z_axis = "Z"
    if "C" not in order:
        data = data[..., None]
        order = [*order, "C"]
    perm = [order.index(a) for a in (z_axis, "C", "Y", "X")]
    zcyx = np.ascontiguousarray(np.transpose(data, perm))
    if zcyx.dtype not in (np.uint8, np.uint16):
        raise UnsupportedImage(
            f"{zcyx.dtype} samples are not supported (use 8- or 16-bit unsigned integers)", p
        )
    z, c, h, w = zcyx.shape
    if z < 1 or h < 1 or w < 1:
        raise CorruptImage(f"empty volume {zcyx.shape}", p)
    if c == 4 and rgb:  # RGBA: drop alpha
        zcyx, c = zcyx[:, :3], 3
    meta = ImageMeta(
        path=p,
        page=None,
        width=w,
        height=h,
        channels=c,
        bit_depth=8 if zcyx.dtype == np.uint8 else 16,
        format=fmt,
        physical=phys,
        channel_names=names[:c] if len(names) >= c else (),
        notes=tuple(notes),
    )
    return Volume(zcyx, meta, rgb=rgb and c == 3, notes=tuple(notes))


def _bioio_image(p: Path, fmt: str) -> Any:
    """A ``bioio.BioImage`` of ``p``, or :class:`MissingExtra` naming the extra."""
    try:
        from bioio import BioImage
    except ImportError:
        raise MissingExtra("microscopy", f"{fmt} files", p) from None
    try:
        return BioImage(p)
    except ImportError as err:
        raise MissingExtra(
            "microscopy", f"{fmt} files (reader plugin {_BIOIO_PLUGIN[fmt]}: {err})", p
        ) from None
    except Exception as err:
        if "plugin" in str(err).lower() or "Unsupported" in type(err).__name__:
            raise MissingExtra(
                "microscopy", f"{fmt} files (reader plugin {_BIOIO_PLUGIN[fmt]})", p
            ) from None
        raise CorruptImage(f"{fmt} file cannot be read ({err})", p) from None


def probe_bioio(path: str | Path, fmt: str) -> list[ImageMeta]:
    """One :class:`ImageMeta` per z-plane of a CZI/ND2/LIF file (its first channel and time
    point; ``page`` = the plane), without reading pixels."""
    p = Path(path)
    img = _bioio_image(p, fmt)
    dims = img.dims
    z, c = int(getattr(dims, "Z", 1)), int(getattr(dims, "C", 1))
    h, w = int(dims.Y), int(dims.X)
    pps = img.physical_pixel_sizes
    phys = PhysicalSize(*(float(v) if v else None for v in (pps.X, pps.Y, pps.Z)))
    bits = 8 if np.dtype(img.dtype) == np.uint8 else 16
    names = tuple(str(n) for n in (img.channel_names or ()))
    note = (f"channel 1 of {c} used; `mffgui fuse --channel` fuses every channel",) if c > 1 else ()
    return [
        ImageMeta(
            path=p,
            page=k,
            width=w,
            height=h,
            channels=1,
            bit_depth=bits,
            format=fmt,
            physical=phys if phys.known else None,
            channel_names=names,
            notes=note if k == 0 else (),
        )
        for k in range(z)
    ]


def read_bioio_plane(path: str | Path, fmt: str, z: int) -> np.ndarray:
    """Plane ``z`` of the first channel and time point: ``(Y, X)`` uint8 or uint16."""
    p = Path(path)
    plane = np.asarray(_bioio_image(p, fmt).get_image_data("YX", Z=z, C=0, T=0))
    if plane.dtype not in (np.uint8, np.uint16):
        raise UnsupportedImage(f"{plane.dtype} samples are not supported", p)
    return plane


def _read_bioio(p: Path, fmt: str) -> Volume:
    img = _bioio_image(p, fmt)
    try:
        dims = img.dims
        n_t = int(getattr(dims, "T", 1))
        data = np.asarray(img.get_image_data("ZCYX", T=0))
        pps = img.physical_pixel_sizes
        phys = PhysicalSize(*(float(v) if v else None for v in (pps.X, pps.Y, pps.Z)))
        names = tuple(str(n) for n in (img.channel_names or ()))
    except MemoryError:
        raise UnsupportedImage("not enough memory to read this volume", p) from None
    except Exception as err:
        raise CorruptImage(f"{fmt} file cannot be read ({err})", p) from None
    notes = [f"time point 1 of {n_t} used"] if n_t > 1 else []
    return _make_volume(
        data,
        ["Z", "C", "Y", "X"],
        p,
        fmt,
        phys if phys.known else None,
        names,
        rgb=False,
        notes=notes,
    )
