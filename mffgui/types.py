"""Core data types: image metadata, lazily read stacks and fusion results.

Image convention everywhere outside ``io``: ``float32`` arrays in ``[0, 1]`` of shape
``(H, W, C)`` with ``C`` = 1 (gray) or 3 (RGB). Maps are ``(H, W)``; per-source maps are
``(N, H, W)``.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Image = np.ndarray
"""``(H, W, C)`` float32 in ``[0, 1]``, C in {1, 3}."""


@dataclass(frozen=True)
class PhysicalSize:
    """Physical size of a voxel: pixel pitch in X and Y and the focus (z) step, in micrometres.

    Attributes
    ----------
    x, y : float or None
        Pixel pitch along X (columns) and Y (rows) in µm (OME ``PhysicalSizeX/Y``).
    z : float or None
        Distance between consecutive frames of the focus stack in µm (OME ``PhysicalSizeZ``).
    """

    x: float | None = None
    y: float | None = None
    z: float | None = None

    @property
    def known(self) -> bool:
        """Whether any of the three sizes is set."""
        return any(v is not None for v in (self.x, self.y, self.z))


@dataclass(frozen=True)
class ImageMeta:
    """What is known about one source frame, kept so exports can match the input.

    Attributes
    ----------
    path : Path or None
        The file the frame came from (``None`` for frames made in memory).
    page : int or None
        Page index inside a multi-page file, else ``None``.
    width, height : int
        Frame size in pixels.
    channels : int
        Channels of the internal frame: 1 (gray) or 3 (RGB).
    bit_depth : int
        Bits per sample of the source (8 or 16). Exports default to this.
    format : str
        Source format, e.g. ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"BMP"``.
    had_alpha : bool
        The source had an alpha channel (dropped from the internal frame).
    icc_profile, exif : bytes or None
        Raw ICC profile and EXIF block of the source, carried to exports.
    notes : tuple of str
        Conversions applied on reading (e.g. gray promoted to colour).
    physical : PhysicalSize or None
        Pixel pitch and z-step in µm where the file records them (OME-TIFF, CZI, ND2, LIF).
    channel_names : tuple of str
        Channel names of a microscopy file (e.g. ``("DAPI", "GFP")``), else empty.
    display_range : tuple of (float, float) or None
        ImageJ display range ``(min, max)`` of the (first) channel in stored sample units, where
        the TIFF records one (``min``/``max`` or ``Ranges``); 16-bit gray TIFF exports keep it.
    """

    path: Path | None = None
    page: int | None = None
    width: int = 0
    height: int = 0
    channels: int = 3
    bit_depth: int = 8
    format: str = ""
    had_alpha: bool = False
    icc_profile: bytes | None = field(default=None, repr=False)
    exif: bytes | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    physical: PhysicalSize | None = None
    channel_names: tuple[str, ...] = ()
    display_range: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        """Display name: file name, with ``[page]`` for a page of a multi-page file."""
        base = self.path.name if self.path is not None else "<memory>"
        return f"{base} [{self.page + 1}]" if self.page is not None else base


@dataclass(frozen=True)
class Volume:
    """A microscopy focus stack with any number of channels, held in memory.

    Attributes
    ----------
    data : ndarray, (Z, C, Y, X) uint8 or uint16
        The stored samples: ``Z`` focus planes, ``C`` channels (RGB files have ``C = 3``).
    meta : ImageMeta
        The file's metadata: size, ``channels = C``, bit depth, physical sizes, channel names.
    rgb : bool
        Whether the channels are the samples of an RGB image (else independent channels,
        e.g. fluorescence).
    notes : tuple of str
        What was done on reading (e.g. "time point 1 of 5 used").
    """

    data: np.ndarray
    meta: ImageMeta
    rgb: bool = False
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(Z, C, Y, X)``."""
        z, c, y, x = self.data.shape
        return (int(z), int(c), int(y), int(x))

    def frame(self, z: int) -> np.ndarray:
        """Plane ``z`` as ``(Y, X, C)`` float32 in ``[0, 1]`` (``v / 255`` or ``v / 65535``)."""
        plane = np.moveaxis(self.data[z], 0, -1)
        scale = np.float32(255.0 if self.data.dtype == np.uint8 else 65535.0)
        out = np.empty(plane.shape, np.float32)
        np.divide(plane, scale, out=out, dtype=np.float32)
        return out


FrameLoader = Callable[[], np.ndarray]

ReducedGrayLoader = Callable[[int], "np.ndarray | None"]
"""``(factor) -> (ceil(H / factor), ceil(W / factor)) float32`` luma of one frame decoded at a
reduced size (JPEG's DCT scaling), or ``None`` when the format cannot do that cheaply."""


def _constant(a: np.ndarray) -> Callable[[], np.ndarray]:
    """A frame loader that returns ``a`` itself."""
    return lambda: a


class Stack(Sequence[np.ndarray]):
    """A focus stack of same-size frames, read lazily so memory does not grow with N.

    Frames are produced by loaders (``() -> (H, W, C) float32``); a stack built from arrays keeps
    them in memory, a stack read from files re-reads each frame when asked (see
    :func:`mffgui.io.read_stack`), optionally keeping up to ``cache_bytes`` of decoded frames.

    Parameters
    ----------
    loaders : sequence of callables
        One loader per frame, each returning ``(H, W, C)`` float32 in ``[0, 1]``.
    metas : sequence of ImageMeta
        Metadata per frame; ``height``, ``width`` and ``channels`` must match what loaders return.
    notes : sequence of str
        Stack-level notes for the user (skipped files, conversions).
    cache_bytes : int
        Decoded frames kept in memory up to this many bytes (0 = always re-read).
    reduced : sequence of callables, optional
        One :data:`ReducedGrayLoader` per frame: a cheap reduced-size gray decode used by
        :meth:`small_gray` (alignment); without it frames are decoded fully and resized.
    """

    def __init__(
        self,
        loaders: Sequence[FrameLoader],
        metas: Sequence[ImageMeta],
        notes: Sequence[str] = (),
        cache_bytes: int = 0,
        reduced: Sequence[ReducedGrayLoader] | None = None,
    ) -> None:
        if len(loaders) != len(metas):
            raise ValueError("one ImageMeta per loader is required")
        if reduced is not None and len(reduced) != len(loaders):
            raise ValueError("one reduced loader per loader is required")
        self._loaders = list(loaders)
        self.metas: tuple[ImageMeta, ...] = tuple(metas)
        self.notes: tuple[str, ...] = tuple(notes)
        self._cache: dict[int, np.ndarray] = {}
        self._cache_bytes = cache_bytes
        self._reduced = list(reduced) if reduced is not None else None

    @classmethod
    def from_arrays(cls, frames: Sequence[np.ndarray], names: Sequence[str] | None = None) -> Stack:
        """Build an in-memory stack.

        Parameters
        ----------
        frames : sequence of ndarray
            Each ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; float in ``[0, 1]`` or uint8/uint16.
        names : sequence of str, optional
            Display names (used as ``path`` in the metadata).
        """
        arrays = [as_float_image(f) for f in frames]
        metas = []
        for i, a in enumerate(arrays):
            src = frames[i]
            depth = 16 if np.asarray(src).dtype == np.uint16 else 8
            path = Path(names[i]) if names is not None else None
            metas.append(
                ImageMeta(
                    path=path,
                    width=a.shape[1],
                    height=a.shape[0],
                    channels=a.shape[2],
                    bit_depth=depth,
                    format="memory",
                )
            )
        return cls([_constant(a) for a in arrays], metas)

    def __len__(self) -> int:
        return len(self._loaders)

    def __getitem__(self, i):
        if isinstance(i, slice):
            idx = range(len(self))[i]
            return self.subset(list(idx))
        return self.frame(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.frame(i)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W, C)`` float32 in ``[0, 1]`` (C = :attr:`channels`)."""
        if i < 0:
            i += len(self)
        if i in self._cache:
            return self._cache[i]
        img = self._loaders[i]()
        if img.shape[2] != self.channels and self.channels == 3:
            img = np.repeat(img, 3, axis=2)
        if self._cache_bytes and (len(self._cache) + 1) * img.nbytes <= self._cache_bytes:
            self._cache[i] = img
        return img

    def gray(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W)`` float32 luma (Rec. 709 weights for colour)."""
        return to_gray(self.frame(i))

    def frame_size(self, i: int) -> tuple[int, int]:
        """``(H, W)`` of frame ``i`` as its header says (frames may differ before alignment)."""
        m = self.metas[i]
        return (m.height, m.width)

    @property
    def uniform(self) -> bool:
        """Whether every frame has the same size."""
        return len({(m.width, m.height) for m in self.metas}) <= 1

    def small_gray(self, i: int, max_side: int) -> tuple[np.ndarray, float]:
        """Frame ``i``'s luma with its longest side at most ``max_side`` (never enlarged).

        Uses the stack's reduced-size decoder when it has one (JPEG decodes at 1/2, 1/4 or
        1/8 size for a fraction of a full decode), else decodes fully and resizes (area).

        Returns
        -------
        gray : ndarray, (h, w) float32
            Luma in ``[0, 1]`` (any range for data that is not normalised).
        scale : float
            Its size over the frame's full size (pixel-centre convention of
            :func:`mffgui.core.align_geometry.scale_matrix`).
        """
        import cv2

        h, w = self.frame_size(i)
        longest = max(h, w)
        factor = next((f for f in (1, 2, 4, 8) if longest / f <= max_side), 8)
        if factor > 1 and self._reduced is not None and i not in self._cache:
            small = self._reduced[i](factor)
            if small is not None and small.shape == (-(-h // factor), -(-w // factor)):
                if max(small.shape) <= max_side:
                    return small, 1.0 / factor
                s = max_side / max(small.shape)
                size = (max(1, round(small.shape[1] * s)), max(1, round(small.shape[0] * s)))
                return (
                    cv2.resize(small, size, interpolation=cv2.INTER_AREA),
                    size[0] / small.shape[1] / factor,
                )
        gray = self.gray(i)
        s = min(1.0, max_side / longest)
        if s >= 1.0:
            return gray, 1.0
        size = (max(1, round(w * s)), max(1, round(h * s)))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), size[0] / w

    def subset(self, indices: Sequence[int]) -> Stack:
        """A stack of the frames at ``indices`` (in that order)."""
        return Stack(
            [self._loaders[j] for j in indices],
            [self.metas[j] for j in indices],
            self.notes,
            self._cache_bytes,
            None if self._reduced is None else [self._reduced[j] for j in indices],
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of every frame."""
        m = self.metas[0]
        return (m.height, m.width)

    @property
    def channels(self) -> int:
        """1 when every frame is gray, else 3 (gray frames are promoted)."""
        return 3 if any(m.channels == 3 for m in self.metas) else 1

    @property
    def bit_depth(self) -> int:
        """Largest source bit depth (exports default to it)."""
        return max(m.bit_depth for m in self.metas)

    @property
    def names(self) -> list[str]:
        """Display names of the frames."""
        return [
            m.name if m.path is not None else f"frame {i + 1}" for i, m in enumerate(self.metas)
        ]


REC709 = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
"""Luma weights used for gray conversion (``skimage.color.rgb2gray``)."""


def to_gray(img: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` or ``(H, W)`` float image -> ``(H, W)`` float32 Rec. 709 luma."""
    if img.ndim == 2:
        return img.astype(np.float32, copy=False)
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float32, copy=False)
    r, g, b = (img[:, :, k].astype(np.float32, copy=False) for k in range(3))
    return REC709[0] * r + REC709[1] * g + REC709[2] * b


def as_float_image(a: np.ndarray) -> np.ndarray:
    """Any 2-D/3-D array -> ``(H, W, C)`` float32 in ``[0, 1]``; uint8/uint16 are scaled."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected (H, W), (H, W, 1) or (H, W, 3), got {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / np.float32(65535.0)
    return np.ascontiguousarray(a, dtype=np.float32)


class MapStack(Sequence[np.ndarray]):
    """``N`` per-source maps of shape ``(H, W)`` (weights or focus), kept compactly.

    Small stacks live in a float32 array; stacks over ``memory_limit`` bytes are written to an
    anonymous temporary file (``disk_dtype``, float16 by default) and read back one map at a
    time with ordinary file I/O. The file is not memory-mapped, so written maps do not count
    towards the process's resident memory (they sit in the OS page cache, which the OS may
    evict) and resident memory does not grow with ``N``. ``np.asarray(maps)`` gives the full
    ``(N, H, W)`` float32 array. Reads and writes are thread-safe.

    Parameters
    ----------
    n : int
        Number of maps.
    shape : (int, int)
        ``(H, W)``.
    memory_limit : int
        Bytes (of the float32 maps) above which the maps go to a temporary file; 0 always uses
        the file (unless ``n`` or the shape is 0).
    disk_dtype : numpy dtype
        Sample type in the file: float16 (default; 2 bytes per sample, ~3 significant digits,
        values up to 65504) or float32 (exact).
    """

    def __init__(
        self,
        n: int,
        shape: tuple[int, int],
        memory_limit: int = 512 * 2**20,
        disk_dtype: Any = np.float16,
    ) -> None:
        self.n = n
        self.map_shape = (int(shape[0]), int(shape[1]))
        full = (n, *self.map_shape)
        nbytes = n * self.map_shape[0] * self.map_shape[1] * 4
        self._file: Any = None
        self._lock = threading.Lock()
        self._disk_dtype = np.dtype(disk_dtype)
        if self._disk_dtype not in (np.dtype(np.float16), np.dtype(np.float32)):
            raise ValueError(f"disk_dtype must be float16 or float32, not {self._disk_dtype}")
        if nbytes <= memory_limit:
            self._data: np.ndarray | None = np.zeros(full, dtype=np.float32)
        else:
            self._data = None
            self._map_bytes = self.map_shape[0] * self.map_shape[1] * self._disk_dtype.itemsize
            # Deleted by the OS when closed (on POSIX it has no name at all).
            self._file = tempfile.TemporaryFile(prefix="mffgui-maps-")
            self._file.truncate(n * self._map_bytes)  # sparse: unwritten maps read as zeros

    @classmethod
    def from_array(cls, a: np.ndarray) -> MapStack:
        """Wrap an ``(N, H, W)`` array (copied to float32, kept in memory)."""
        m = cls(a.shape[0], a.shape[1:3], memory_limit=2**62)
        assert m._data is not None
        m._data[...] = a
        return m

    def __del__(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()

    def __len__(self) -> int:
        return self.n

    def _index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"map index {i} out of range for {self.n} maps")
        return i

    def _read(self, i: int) -> np.ndarray:
        out = np.empty(self.map_shape, dtype=self._disk_dtype)
        with self._lock:
            self._file.seek(i * self._map_bytes)
            got = self._file.readinto(out.data.cast("B"))
        if got != self._map_bytes:
            raise OSError(f"short read of map {i} from the temporary file")
        return out.astype(np.float32, copy=False)

    def __getitem__(self, i):
        if self._data is not None:
            return np.asarray(self._data[i], dtype=np.float32)
        if isinstance(i, slice):
            idx = range(self.n)[i]
            out = np.empty((len(idx), *self.map_shape), dtype=np.float32)
            for k, j in enumerate(idx):
                out[k] = self._read(j)
            return out
        return self._read(self._index(i))

    def __setitem__(self, i: int | slice, value: np.ndarray) -> None:
        if self._data is not None:
            self._data[i] = value
            return
        if isinstance(i, slice):
            idx = range(self.n)[i]
            vals = np.broadcast_to(np.asarray(value, dtype=np.float32), (len(idx), *self.map_shape))
            for k, j in enumerate(idx):
                self[j] = vals[k]
            return
        j = self._index(i)
        buf = np.ascontiguousarray(np.broadcast_to(value, self.map_shape), dtype=self._disk_dtype)
        with self._lock:
            self._file.seek(j * self._map_bytes)
            self._file.write(buf.data.cast("B"))
            self._file.flush()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, H, W)``."""
        return (self.n, *self.map_shape)

    @property
    def on_disk(self) -> bool:
        """Whether the maps are in a temporary file rather than held in RAM."""
        return self._file is not None


@dataclass(frozen=True)
class FusionResult:
    """What every fusion method returns.

    Attributes
    ----------
    fused : ndarray, (H, W, C) float32
        The all-in-focus image in ``[0, 1]``, same channels as the stack.
    index_map : ndarray, (H, W) uint16
        Which source each pixel came from (the depth map for N > 2); values ``< N``.
    weights : ndarray or sequence of ndarray, (N, H, W) float32
        An array, a :class:`MapStack` or a lazy sequence (e.g.
        :class:`mffgui.core.decision.LazyMaps`); ``np.asarray`` gives the full array.
        Soft decision per source, summing to 1 at every pixel. For N = 2, ``weights[0]`` is the
        decision map (weight of the first image).
    focus_maps : ndarray or sequence of ndarray, (N, H, W) float32
        Per-source focus measure normalised to ``[0, 1]``.
    meta : mapping
        Method name, params, device, timings and any notes.
    """

    fused: np.ndarray
    index_map: np.ndarray
    weights: MapStack | Sequence[np.ndarray] | np.ndarray
    focus_maps: MapStack | Sequence[np.ndarray] | np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def decision_map(self) -> np.ndarray:
        """``(H, W)`` float32: weight of source 0 for pairs, else the index map scaled to [0, 1]."""
        n = len(self.weights)
        if n == 2:
            return np.asarray(self.weights[0], dtype=np.float32)
        return self.index_map.astype(np.float32) / max(n - 1, 1)


def strategy_note(meta: dict) -> str:
    """``" (strategy S)"`` for a result whose method reports a stack strategy, else ``""``.

    Network methods fuse stacks of more than two frames with one of several strategies (GACN:
    ``activity``, ``calibration``, ``serial``; Fusion2Void: ``pyramid``, ``tree``); the CLI and the
    app say which one ran.
    """
    strategy = meta.get("strategy") if isinstance(meta, dict) else None
    return f" (strategy {strategy})" if strategy and strategy != "pair" else ""
