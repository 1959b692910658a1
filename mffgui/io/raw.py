"""Camera RAW and DNG frames through ``rawpy`` (LibRaw), the optional extra ``raw``.

Frames are demosaiced (AHD) to 16-bit RGB with the camera's white balance and without automatic
brightening, so every frame of a stack gets the same exposure scaling. ``mode="srgb"`` (the
default) gives sRGB primaries with the sRGB tone curve; ``mode="linear"`` sRGB primaries with a
linear response (values proportional to the sensor's). Frames keep the sensor's pixel order
(the orientation flag is not applied, like EXIF orientation for other formats). The EXIF of
TIFF-based RAW files (DNG, CR2, NEF, ARW...) — Make, Model, date and the Exif sub-directory —
is kept for exports; other RAW containers carry none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from mffgui.errors import CorruptImage, MissingExtra, UnsupportedImage
from mffgui.types import ImageMeta

__all__ = ["RAW_MODES", "is_tiff_raw", "probe_raw", "read_raw", "sniff_raw"]

RAW_MODES = ("srgb", "linear")
"""Tone curves :func:`read_raw` offers."""

_EXIF_IFD = 0x8769
_IFD0_EXIF_TAGS = (0x010E, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298)


def sniff_raw(head: bytes) -> bool:
    """Whether the first 16 bytes are those of a non-TIFF camera RAW (CR3, RAF, ORF, RW2) or a
    CR2 (a TIFF with the ``CR`` marker)."""
    return (
        head[4:12] == b"ftypcrx "
        or head.startswith(b"FUJIFILMCCD-RAW")
        or head[:4] in (b"IIRO", b"IIRS", b"MMOR", b"IIU\x00")
        or (head[:4] == b"II*\x00" and head[8:10] == b"CR")
    )


def is_tiff_raw(path: str | Path) -> bool:
    """Whether a TIFF-structured file is a camera RAW: a DNG (DNGVersion tag), CFA or
    LinearRaw data in IFD0 or in one of its SubIFDs (a maker's RAW such as NEF or ARW)."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            tags = page.tags
            if 50706 in tags:
                return True
            if 262 in tags and int(tags[262].value) in (32803, 34892):
                return True
            if 330 not in tags:
                return False
            # A maker's RAW (NEF, ARW, ...): IFD0 is a preview, the sensor data (CFA or
            # LinearRaw) sits in a SubIFD. An ordinary TIFF with SubIFDs is not a RAW.
            subs = page.pages if isinstance(page, tifffile.TiffPage) else None
            return any(
                isinstance(sub, tifffile.TiffPage) and int(sub.photometric) in (32803, 34892)
                for sub in subs or ()
            )
    except Exception:  # not ours to judge: the TIFF reader reports damage
        return False


def _rawpy(path: Path) -> Any:
    try:
        import rawpy
    except ImportError:
        raise MissingExtra("raw", "camera RAW and DNG files", path) from None
    return rawpy


def _open(path: Path) -> Any:
    rawpy = _rawpy(path)
    try:
        return rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise UnsupportedImage("this RAW format is not supported by LibRaw", path) from None
    except (rawpy.LibRawError, OSError, ValueError) as err:
        raise CorruptImage(f"damaged or truncated RAW file ({err})", path) from None


def probe_raw(path: str | Path) -> ImageMeta:
    """Header of a RAW file: the demosaiced size (16-bit RGB) and its EXIF.

    Raises
    ------
    MissingExtra
        ``rawpy`` is not installed (``pip install "mffgui[raw]"``).
    UnsupportedImage, CorruptImage
        A file LibRaw cannot read.
    """
    p = Path(path)
    with _open(p) as raw:
        s = raw.sizes
        w, h = int(s.width), int(s.height)
    if w <= 0 or h <= 0:
        raise CorruptImage(f"RAW image of size {w}x{h}", p)
    return ImageMeta(
        path=p,
        page=None,
        width=w,
        height=h,
        channels=3,
        bit_depth=16,
        format="RAW",
        exif=_raw_exif(p),
        notes=("RAW demosaiced to 16-bit RGB",),
    )


def read_raw(path: str | Path, mode: str = "srgb") -> tuple[np.ndarray, ImageMeta]:
    """Demosaic a RAW/DNG file.

    Parameters
    ----------
    path : str or Path
        Camera RAW or DNG.
    mode : {"srgb", "linear"}
        sRGB tone curve, or linear response (both sRGB primaries).

    Returns
    -------
    image : ndarray, (H, W, 3) float32 in ``[0, 1]``
        16-bit samples ``v / 65535``; camera white balance, no auto-brightening.
    meta : ImageMeta
        ``format="RAW"``, ``bit_depth=16``, EXIF where the file is TIFF-based.
    """
    p = Path(path)
    if mode not in RAW_MODES:
        raise ValueError(f"RAW mode must be one of {RAW_MODES}, not {mode!r}")
    meta = probe_raw(p)
    rawpy = _rawpy(p)
    gamma = (1.0, 1.0) if mode == "linear" else (2.4, 12.92)
    with _open(p) as raw:
        try:
            rgb = raw.postprocess(
                use_camera_wb=True,
                output_bps=16,
                no_auto_bright=True,
                gamma=gamma,
                user_flip=0,
                output_color=rawpy.ColorSpace.sRGB,
            )
        except MemoryError:
            raise UnsupportedImage("not enough memory to demosaic this RAW file", p) from None
        except Exception as err:
            raise CorruptImage(f"RAW data cannot be decoded ({err})", p) from None
    if rgb.shape[:2] != (meta.height, meta.width):
        meta = ImageMeta(**{**meta.__dict__, "height": rgb.shape[0], "width": rgb.shape[1]})
    out = np.empty(rgb.shape, np.float32)
    np.divide(rgb, np.float32(65535.0), out=out, dtype=np.float32)
    return out, meta


def _raw_exif(path: Path) -> bytes | None:
    """EXIF block (``Exif\\0\\0`` + TIFF) of a TIFF-based RAW: IFD0's descriptive tags and the
    Exif sub-directory; ``None`` when there is none or it cannot be read."""
    try:
        from PIL import Image, TiffImagePlugin

        with tifffile.TiffFile(path) as tif:
            tags = tif.pages.first.tags
            out = Image.Exif()
            for tag in _IFD0_EXIF_TAGS:
                if tag in tags and isinstance(tags[tag].value, str):
                    out[tag] = tags[tag].value.strip("\x00")
            sub: dict[int, Any] = {}
            if _EXIF_IFD in tags and isinstance(tags[_EXIF_IFD].value, dict):
                registry = tifffile.TIFF.TAGS
                for name, value in tags[_EXIF_IFD].value.items():
                    code = registry.get(name, None) if isinstance(name, str) else name
                    if not isinstance(code, int):
                        continue
                    if (
                        isinstance(value, tuple)
                        and len(value) == 2
                        and all(isinstance(v, int) for v in value)
                        and value[1]
                    ):
                        value = TiffImagePlugin.IFDRational(value[0], value[1])
                    if isinstance(value, str | int | float | TiffImagePlugin.IFDRational):
                        sub[code] = value
            if sub:
                out[_EXIF_IFD] = sub
            if not len(out):
                return None
            data = out.tobytes()
            return data if data.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + data
    except Exception:  # metadata is optional; pixels still read
        return None
