"""Read one image file (or one page of a multi-page TIFF) into the internal convention.

Formats are recognised by their content (magic bytes), never by the file name, so a JPEG saved
as ``.png`` still reads. Supported: PNG, JPEG, TIFF (via ``tifffile``) and BMP, 8 or 16 bits per
sample, gray, gray+alpha, RGB or RGBA; camera RAW and DNG through ``rawpy`` (extra ``raw``,
see :mod:`mffgui.io.raw`). Alpha is dropped (recorded in :class:`ImageMeta`). Pixels
become ``(H, W, C)`` float32 in ``[0, 1]`` by ``v / 255`` or ``v / 65535``, which is exactly
invertible with ``round(x * 65535)``, so 16-bit data survive a read/write round trip bit for bit.

JPEG and PNG pixels are decoded with OpenCV (bit-identical to Pillow's libjpeg decode on the
test data, and faster); headers, ICC profiles and EXIF come from Pillow. EXIF orientation is not
applied: frames keep their stored pixel order and exports carry the EXIF tag unchanged.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from mffgui.errors import CorruptImage, MffError, UnsupportedImage
from mffgui.io.microscopy import BIOIO_FORMATS, probe_bioio, read_bioio_plane, sniff_microscopy
from mffgui.io.raw import is_tiff_raw, probe_raw, read_raw, sniff_raw
from mffgui.types import ImageMeta

__all__ = [
    "SUPPORTED_FORMATS",
    "is_image_file",
    "probe",
    "read_gray_reduced",
    "read_image",
    "sniff_format",
]

SUPPORTED_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "RAW", "CZI", "ND2", "LIF")
"""Formats :func:`read_image` reads, as returned by :func:`sniff_format`."""

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)
# Recognised but unsupported, so the error can say what the file is.
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"RIFF", "WebP/RIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"%PDF", "PDF"),
    (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
)

_EXIF_IFD = 0x8769
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)


def sniff_format(path: str | Path) -> str | None:
    """The image format of ``path`` from its first bytes, or ``None`` if not recognised.

    Parameters
    ----------
    path : str or Path
        File to inspect (only the first 16 bytes are read).

    Returns
    -------
    str or None
        One of :data:`SUPPORTED_FORMATS`, or ``None``.

    Raises
    ------
    CorruptImage
        For an empty file.
    UnsupportedImage
        When the file cannot be opened, or is a known but unsupported image format.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except IsADirectoryError:
        raise UnsupportedImage("is a folder, not an image file", p) from None
    except FileNotFoundError:
        raise UnsupportedImage("file not found", p) from None
    except OSError as err:
        raise UnsupportedImage(f"cannot be opened ({err.strerror or err})", p) from None
    if not head:
        raise CorruptImage("the file is empty (0 bytes)", p)
    if sniff_raw(head):
        return "RAW"
    micro = sniff_microscopy(head)
    if micro is not None:
        return micro
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            if fmt == "TIFF" and is_tiff_raw(p):
                return "RAW"
            return fmt
    for magic, fmt in _OTHER_MAGIC:
        if head.startswith(magic):
            if fmt == "WebP/RIFF" and head[8:12] != b"WEBP":
                return None
            raise UnsupportedImage(
                f"{fmt.split('/')[0]} images are not supported "
                f"(use {', '.join(SUPPORTED_FORMATS)})",
                p,
            )
    return None


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` starts like a supported image file (no decoding, never raises)."""
    try:
        return sniff_format(path) is not None
    except MffError:
        return False


def _require_format(path: Path) -> str:
    fmt = sniff_format(path)
    if fmt is None:
        raise UnsupportedImage(
            f"not an image file mffgui can read (supported: {', '.join(SUPPORTED_FORMATS)})", path
        )
    return fmt


# ---------------------------------------------------------------------------------------------
# Probing (header only)


def probe(path: str | Path) -> list[ImageMeta]:
    """Header information of every frame in ``path``, without decoding pixels.

    Parameters
    ----------
    path : str or Path
        An image file; a multi-page TIFF gives one entry per page.

    Returns
    -------
    list of ImageMeta
        One per frame (``page`` is ``None`` for single-frame files, else the page index).

    Raises
    ------
    UnsupportedImage
        Not an image, or a format/bit depth/sample layout mffgui cannot read.
    CorruptImage
        Empty or damaged header.
    """
    p = Path(path)
    fmt = _require_format(p)
    if fmt == "TIFF":
        return _probe_tiff(p)
    if fmt == "RAW":
        return [probe_raw(p)]
    if fmt in BIOIO_FORMATS:
        return probe_bioio(p, fmt)
    return [_probe_pillow(p, fmt)]


def _pillow_open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(path)
    except UnidentifiedImageError:
        raise CorruptImage("the image header is damaged or incomplete", path) from None
    except Image.DecompressionBombError as err:
        raise UnsupportedImage(f"image too large to open safely ({err})", path) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise CorruptImage(f"the image header cannot be read ({err})", path) from None


# Pillow mode -> (internal channels, bit depth, had alpha). Others are unsupported.
_PIL_MODES: dict[str, tuple[int, int, bool]] = {
    "L": (1, 8, False),
    "LA": (1, 8, True),
    "P": (3, 8, False),  # palette: expanded to RGB (alpha from tRNS is checked on decode)
    "PA": (3, 8, True),
    "RGB": (3, 8, False),
    "RGBA": (3, 8, True),
    "RGBX": (3, 8, False),
    "CMYK": (3, 8, False),
    "YCbCr": (3, 8, False),
    "I;16": (1, 16, False),
    "I;16B": (1, 16, False),
    "I;16L": (1, 16, False),
}


def _probe_pillow(path: Path, fmt: str) -> ImageMeta:
    with _pillow_open(path) as im:
        mode = im.mode
        info = dict(im.info)
        w, h = im.size
        bits = _png_bit_depth(path) if fmt == "PNG" else None
        png_color_type = _png_color_type(path) if fmt == "PNG" else None
    exif_bytes = info.get("exif") if isinstance(info.get("exif"), bytes) else None
    if exif_bytes is not None and not exif_bytes.startswith(b"Exif\x00\x00"):
        exif_bytes = b"Exif\x00\x00" + exif_bytes
    if mode == "1" or bits == 1:
        raise UnsupportedImage(
            "1-bit (black and white) images carry no focus information; save the frames as "
            "8- or 16-bit gray or colour",
            path,
        )
    notes: list[str] = []
    if fmt == "PNG" and png_color_type is not None:
        # PNG decoded by OpenCV: channels from the colour type, depth from IHDR.
        depth = 16 if bits == 16 else 8
        if bits is not None and bits < 8:
            notes.append(f"{bits}-bit samples expanded to 8 bits")
        channels = {0: 1, 4: 1}.get(png_color_type, 3)
        had_alpha = png_color_type in (4, 6) or (png_color_type == 3 and "transparency" in info)
        had_alpha = had_alpha or (png_color_type in (0, 2) and "transparency" in info)
    else:
        if mode not in _PIL_MODES:
            raise UnsupportedImage(
                f"{fmt} pixel mode {mode!r} is not supported (use 8- or 16-bit gray or RGB)", path
            )
        channels, depth, had_alpha = _PIL_MODES[mode]
        if mode == "CMYK":
            notes.append("CMYK converted to RGB")
        if mode == "P" and "transparency" in info:
            had_alpha = True
    if had_alpha:
        notes.append("alpha channel dropped")
    return ImageMeta(
        path=path,
        page=None,
        width=w,
        height=h,
        channels=channels,
        bit_depth=depth,
        format=fmt,
        had_alpha=had_alpha,
        icc_profile=info.get("icc_profile") or None,
        exif=exif_bytes,
        notes=tuple(notes),
    )


def _png_ihdr(path: Path) -> bytes | None:
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        return None
    return head[16:29]


def _png_bit_depth(path: Path) -> int | None:
    ihdr = _png_ihdr(path)
    return ihdr[8] if ihdr else None


def _png_color_type(path: Path) -> int | None:
    ihdr = _png_ihdr(path)
    return ihdr[9] if ihdr else None


def _tiff_open(path: Path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except tifffile.TiffFileError as err:
        raise CorruptImage(f"damaged TIFF ({err})", path) from None
    except PermissionError as err:
        raise UnsupportedImage(f"cannot be opened ({err.strerror or err})", path) from None
    except MemoryError:
        raise CorruptImage(
            "damaged TIFF (its header asks for more memory than there is)", path
        ) from None
    except Exception as err:  # tifffile raises TypeError, struct.error... on damaged headers
        raise CorruptImage(f"damaged or truncated TIFF ({err})", path) from None


def _tiff_pages(tif: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    pages = []
    seen: set[int] = set()
    for pg in tif.pages:
        page = pg if isinstance(pg, tifffile.TiffPage) else pg.aspage()
        # A damaged next-page offset can point back at a page: tifffile then yields it forever.
        if page.offset in seen:
            raise ValueError(f"the page directory loops back to offset {page.offset}")
        seen.add(page.offset)
        if int(getattr(page, "subfiletype", 0)) & 1:  # reduced-resolution thumbnail
            continue
        pages.append(page)
    return pages


def _tiff_layout(page: tifffile.TiffPage, path: Path) -> tuple[int, int, int, int, bool]:
    """``(height, width, channels, bit_depth, had_alpha)`` of a page, or UnsupportedImage."""
    dtype = np.dtype(page.dtype) if page.dtype is not None else None
    bps = page.bitspersample
    if dtype is None or dtype.kind == "f":
        raise UnsupportedImage(
            f"{bps}-bit floating-point TIFF is not supported; export the frames as 8- or "
            "16-bit integer images",
            path,
        )
    if bps == 1:
        raise UnsupportedImage(
            "1-bit (black and white) TIFF carries no focus information; use 8 or 16 bits", path
        )
    if dtype.kind != "u" or dtype.itemsize not in (1, 2):
        raise UnsupportedImage(
            f"{bps}-bit {'signed ' if dtype.kind == 'i' else ''}integer TIFF is not supported "
            "(use 8- or 16-bit unsigned)",
            path,
        )
    if bps not in (8, 16):
        raise UnsupportedImage(f"{bps}-bit TIFF samples are not supported (use 8 or 16)", path)
    photometric = int(page.photometric)
    if photometric not in (0, 1, 2):  # miniswhite, minisblack, rgb
        name = getattr(page.photometric, "name", str(photometric))
        raise UnsupportedImage(
            f"TIFF photometric interpretation {name} is not supported (use gray or RGB)", path
        )
    try:
        spp = int(page.samplesperpixel)
        h, w = int(page.imagelength), int(page.imagewidth)
        depth = int(page.imagedepth)
    except (TypeError, ValueError) as err:  # damaged tags can hold tuples or garbage
        raise CorruptImage(f"damaged TIFF page header ({err})", path) from None
    if h <= 0 or w <= 0 or spp <= 0:
        raise CorruptImage(f"damaged TIFF page header (size {w}x{h}, {spp} samples)", path)
    if photometric == 2:
        if spp < 3:
            raise UnsupportedImage(f"RGB TIFF with {spp} samples per pixel", path)
        channels, had_alpha = 3, spp > 3
    else:
        channels, had_alpha = 1, spp > 1
    if depth > 1:
        raise UnsupportedImage("volumetric (SGI image depth) TIFF is not supported", path)
    return h, w, channels, bps, had_alpha


def _probe_tiff(path: Path) -> list[ImageMeta]:
    with _tiff_open(path) as tif:
        try:
            pages = _tiff_pages(tif)
        except MemoryError:
            raise CorruptImage(
                "damaged TIFF page directory (asks for more memory than there is)", path
            ) from None
        except Exception as err:  # tifffile raises TypeError, KeyError... on damaged pages
            raise CorruptImage(f"damaged TIFF page directory ({err})", path) from None
        if not pages:
            raise CorruptImage("TIFF file has no image pages", path)
        try:
            metas = _tiff_metas(path, pages)
            return _with_microscopy_meta(tif, pages, metas, path)
        except MffError:
            raise
        except Exception as err:  # a damaged tag of unexpected type
            raise CorruptImage(f"damaged TIFF page header ({err})", path) from None


def _tiff_metas(path: Path, pages: list[tifffile.TiffPage]) -> list[ImageMeta]:
    icc = _tiff_tag_bytes(pages[0], 34675)
    exif = _tiff_exif(path)
    multi = len(pages) > 1
    metas = []
    for i, page in enumerate(pages):
        h, w, c, depth, alpha = _tiff_layout(page, path)
        notes: tuple[str, ...] = ("alpha channel dropped",) if alpha else ()
        if int(page.photometric) == 0:
            notes += ("min-is-white TIFF inverted",)
        metas.append(
            ImageMeta(
                path=path,
                page=i if multi else None,
                width=w,
                height=h,
                channels=c,
                bit_depth=depth,
                format="TIFF",
                had_alpha=alpha,
                icc_profile=icc,
                exif=exif,
                notes=notes,
            )
        )
    return metas


def _with_microscopy_meta(
    tif: tifffile.TiffFile, pages: list[tifffile.TiffPage], metas: list[ImageMeta], path: Path
) -> list[ImageMeta]:
    """Physical sizes and channel names on the frames of an OME/ImageJ TIFF; of a file with
    several channel planes per z (fluorescence), only the first channel's planes are frames."""
    if not (tif.is_ome or tif.is_imagej):
        return metas
    from mffgui.io.microscopy import imagej_display_range, imagej_physical, ome_physical

    if tif.is_ome:
        phys, names = ome_physical(tif.ome_metadata)
        fmt = "OME-TIFF"
    else:
        phys, names, fmt = imagej_physical(tif), (), "TIFF"
    display = imagej_display_range(tif) if tif.is_imagej else None
    keep = list(range(len(metas)))
    note: tuple[str, ...] = ()
    series = tif.series[0]
    axes = str(series.axes).upper()
    if "C" in axes and series.shape[axes.index("C")] > 1 and len(series.pages) == len(pages):
        planes = [a for a in axes if a not in "YXS"]
        grid = np.arange(len(series.pages)).reshape([series.shape[axes.index(a)] for a in planes])
        sel = tuple(0 if a in "CT" else slice(None) for a in planes)
        offsets = {pg.offset: k for k, pg in enumerate(pages)}
        keep = []
        for j in np.ravel(grid[sel]):
            pg = series.pages[int(j)]
            if pg is None:
                raise CorruptImage(f"TIFF series page {int(j) + 1} is missing", path)
            keep.append(offsets[pg.offset])
        n_c = series.shape[axes.index("C")]
        label = f" ({names[0]})" if names else ""
        note = (
            f"channel 1{label} of {n_c} used as the frames; the app's channel selector and "
            "`mffgui fuse --channel` fuse every channel",
        )
    out = []
    for k in keep:
        m = metas[k]
        out.append(
            dataclasses.replace(
                m,
                page=k,
                format=fmt,
                physical=phys,
                channel_names=names,
                display_range=display,
                notes=m.notes + (note if k == keep[0] else ()),
            )
        )
    return out


def _tiff_tag_bytes(page: tifffile.TiffPage, code: int) -> bytes | None:
    tag = page.tags.get(code)
    if tag is None:
        return None
    val = tag.value
    if isinstance(val, bytes | bytearray):
        return bytes(val)
    if isinstance(val, np.ndarray):
        return val.tobytes()
    return None


def _tiff_exif(path: Path) -> bytes | None:
    """EXIF block (``Exif\\0\\0`` + TIFF structure) of a TIFF: descriptive tags + Exif IFD."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                src = im.getexif()
                sub = src.get_ifd(_EXIF_IFD)
                if not sub:
                    return None
                out = Image.Exif()
                for tag in _TIFF_DESCRIPTIVE_TAGS:
                    if tag in src:
                        out[tag] = src[tag]
                out[_EXIF_IFD] = dict(sub)
                return out.tobytes()
    except Exception:  # metadata is optional; pixels still read
        return None


# ---------------------------------------------------------------------------------------------
# Decoding


def read_image(
    path: str | Path, page: int | None = None, *, raw: str = "srgb"
) -> tuple[np.ndarray, ImageMeta]:
    """Decode one frame into ``(H, W, C)`` float32 in ``[0, 1]``.

    Parameters
    ----------
    path : str or Path
        Image file (PNG, JPEG, TIFF, BMP, camera RAW/DNG; recognised by content).
    page : int, optional
        Page of a multi-page TIFF (default: the first).
    raw : {"srgb", "linear"}
        Tone curve of RAW frames (see :func:`mffgui.io.raw.read_raw`); other formats ignore it.

    Returns
    -------
    image : ndarray, (H, W, C) float32
        ``C`` = 1 for gray, 3 for colour; alpha is dropped. 8-bit values are ``v / 255``,
        16-bit values ``v / 65535``.
    meta : ImageMeta
        Size, channels, source bit depth, format, ICC profile, EXIF and conversion notes.

    Raises
    ------
    UnsupportedImage
        Not an image or an unsupported format/depth/layout.
    CorruptImage
        Empty, truncated or damaged file.
    """
    p = Path(path)
    fmt = _require_format(p)
    if fmt == "TIFF":
        return _read_tiff(p, page)
    if fmt == "RAW":
        if page not in (None, 0):
            raise UnsupportedImage(f"RAW files have a single frame (asked for {page + 1})", p)
        return read_raw(p, raw)
    if fmt in BIOIO_FORMATS:
        metas = probe_bioio(p, fmt)
        idx = 0 if page is None else page
        if not 0 <= idx < len(metas):
            raise UnsupportedImage(f"has {len(metas)} plane(s); plane {idx + 1} does not exist", p)
        return _to_float(read_bioio_plane(p, fmt, idx), metas[idx], p), metas[idx]
    if page not in (None, 0):
        raise UnsupportedImage(f"{fmt} files have a single page (asked for page {page + 1})", p)
    meta = _probe_pillow(p, fmt)
    if fmt in ("PNG", "JPEG"):
        decoded = _decode_cv2(p, fmt, meta)
    else:
        decoded = _decode_pillow(p, meta)
    return _to_float(decoded, meta, p), meta


_REDUCED_GRAY = {
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def read_gray_reduced(path: str | Path, factor: int, meta: ImageMeta) -> np.ndarray | None:
    """Luma of a JPEG decoded at ``1 / factor`` of its size (DCT scaling: a few ms).

    Parameters
    ----------
    path : str or Path
        The file ``meta`` describes.
    factor : {2, 4, 8}
        Size reduction.
    meta : ImageMeta
        Its header (from :func:`probe`).

    Returns
    -------
    ndarray, (ceil(H / factor), ceil(W / factor)) float32 in ``[0, 1]``, or ``None``
        ``None`` for anything but an 8-bit JPEG (the caller then decodes fully), and for a
        file that cannot be decoded this way (the full decode reports the error).
    """
    if (
        meta.format != "JPEG"
        or factor not in _REDUCED_GRAY
        or meta.bit_depth != 8
        or "CMYK converted to RGB" in meta.notes
    ):
        return None
    try:
        data = np.fromfile(Path(path), dtype=np.uint8)
    except OSError:
        return None
    img = cv2.imdecode(data, _REDUCED_GRAY[factor] | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None or img.ndim != 2:
        return None
    return img.astype(np.float32) * np.float32(1.0 / 255.0)


def _decode_cv2(path: Path, fmt: str, meta: ImageMeta) -> np.ndarray:
    if fmt == "JPEG" and meta.channels == 3 and "CMYK converted to RGB" in meta.notes:
        return _decode_pillow(path, meta)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise CorruptImage(f"cannot be read ({err})", path) from None
    flags = cv2.IMREAD_UNCHANGED
    if fmt == "JPEG":
        flags = (
            cv2.IMREAD_GRAYSCALE if meta.channels == 1 else cv2.IMREAD_COLOR
        ) | cv2.IMREAD_IGNORE_ORIENTATION
    if not _complete(path, fmt, data):
        raise CorruptImage(f"the {fmt} data is truncated (file incomplete)", path)
    img = cv2.imdecode(data, flags)
    if img is None:
        raise CorruptImage(f"the {fmt} data is damaged and cannot be decoded", path)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        elif img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)  # contiguous, unlike a [..., ::-1] view
        else:
            img = np.ascontiguousarray(img[:, :, :1])
    return img


def _complete(path: Path, fmt: str, data: np.ndarray) -> bool:
    """Cheap end-of-stream check; OpenCV silently fills truncated JPEG/PNG data with gray."""
    buf = data.tobytes()
    if fmt == "JPEG":
        # An end-of-image marker after the last start-of-scan (markers cannot occur inside
        # entropy-coded data; some writers append data after EOI, so not just at the end).
        sos = buf.rfind(b"\xff\xda")
        return sos != -1 and buf.find(b"\xff\xd9", sos) != -1
    if fmt == "PNG":
        return buf.rfind(b"IEND") > buf.rfind(b"IDAT")
    return True


def _decode_pillow(path: Path, meta: ImageMeta) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.load()
                mode = im.mode
                if mode in ("I;16", "I;16B", "I;16L"):
                    arr = np.asarray(im, dtype=np.uint16)
                elif meta.channels == 1:
                    arr = np.asarray(im.convert("L"))
                else:
                    arr = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:
        raise CorruptImage(f"the image data is damaged or truncated ({err})", path) from None
    return arr


def _read_tiff(path: Path, page: int | None) -> tuple[np.ndarray, ImageMeta]:
    metas = _probe_tiff(path)
    idx = 0 if page is None else page
    # Frames by page index (a multi-channel OME/ImageJ file lists only its first channel's
    # pages, so page numbers need not be 0..N-1).
    by_page = {0 if m.page is None else m.page: m for m in metas}
    if idx not in by_page:
        raise UnsupportedImage(f"has {len(metas)} page(s); page {idx + 1} does not exist", path)
    meta = by_page[idx]
    with _tiff_open(path) as tif:
        pg = _tiff_pages(tif)[idx]
        try:
            raw = pg.asarray()
        except MemoryError:
            raise UnsupportedImage(
                f"not enough memory to decode this {meta.width}x{meta.height} TIFF", path
            ) from None
        except Exception as err:  # codecs raise zlib.error, TypeError... for damaged data
            if "imagecodecs" not in str(err):
                raise CorruptImage(f"damaged or truncated TIFF data ({err})", path) from None
            raw = _tiff_via_pillow(path, idx, meta, err)
    raw = _tiff_to_hwc(raw, pg, meta, path)
    return _to_float(raw, meta, path), meta


def _tiff_via_pillow(path: Path, idx: int, meta: ImageMeta, err: Exception) -> np.ndarray:
    """Pillow fallback for compressions tifffile decodes only with ``imagecodecs`` (LZW...)."""
    codec = str(err).split(">")[0].split(".")[-1].strip("'<\" ") or "this"
    if meta.bit_depth == 16 and meta.channels == 3:
        raise UnsupportedImage(
            f"16-bit colour TIFF with {codec} compression needs the optional 'imagecodecs' "
            "package (pip install imagecodecs), or save it uncompressed/deflate",
            path,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.seek(idx)
                im.load()
                if im.mode in ("I;16", "I;16B", "I;16L"):
                    return np.asarray(im, dtype=np.uint16)
                return np.asarray(im.convert("L" if meta.channels == 1 else "RGB"))
    except (OSError, ValueError, EOFError) as err2:
        raise UnsupportedImage(
            f"TIFF with {codec} compression could not be decoded ({err2}); install "
            "'imagecodecs' or save it uncompressed",
            path,
        ) from None


def _tiff_to_hwc(
    raw: np.ndarray, page: tifffile.TiffPage, meta: ImageMeta, path: Path
) -> np.ndarray:
    a = np.asarray(raw)
    if (
        a.ndim == 3
        and a.shape[0] == int(page.samplesperpixel)
        and a.shape[-1] != a.shape[0]
        and int(page.planarconfig) == 2
    ):
        a = np.moveaxis(a, 0, -1)  # planar (S, Y, X) -> (Y, X, S)
    a = np.squeeze(a) if a.ndim > 3 else a
    if a.ndim == 3 and meta.channels == 1:
        a = a[:, :, 0]
    elif a.ndim == 3:
        a = a[:, :, :3]
    if int(page.photometric) == 0:
        a = (np.iinfo(a.dtype).max - a).astype(a.dtype)
    if a.shape[:2] != (meta.height, meta.width):
        raise CorruptImage(f"TIFF page has unexpected shape {a.shape}", path)
    return a


def _to_float(raw: np.ndarray, meta: ImageMeta, path: Path) -> np.ndarray:
    a: np.ndarray = np.asarray(raw)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype == np.uint16:
        if meta.bit_depth != 16:
            raise CorruptImage("decoded 16-bit data from an 8-bit header", path)
        out: np.ndarray = np.empty(a.shape, np.float32)
        # Division, not multiplication by a reciprocal, so round(x * 65535) gives v back.
        np.divide(a, np.float32(65535.0), out=out, dtype=np.float32)
    elif a.dtype == np.uint8:
        out = np.empty(a.shape, np.float32)
        np.divide(a, np.float32(255.0), out=out, dtype=np.float32)
    else:
        raise UnsupportedImage(f"decoded sample type {a.dtype} is not supported", path)
    if out.shape[2] != meta.channels:
        if meta.channels == 3 and out.shape[2] == 1:
            out = np.repeat(out, 3, axis=2)
        elif meta.channels == 1:
            out = np.ascontiguousarray(out[:, :, :1])  # gray expanded by the decoder
    if out.shape[:2] != (meta.height, meta.width):
        raise CorruptImage(
            f"decoded size {out.shape[1]}x{out.shape[0]} differs from the header "
            f"{meta.width}x{meta.height}",
            path,
        )
    return np.ascontiguousarray(out)
