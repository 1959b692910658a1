"""The main window's background work: frozen requests and the plain functions serving them.

The functions (:func:`run_fusion`, :func:`run_export`, :func:`run_height_export`,
:func:`height_of`, :func:`load_thumbnail`) are plain Python taking ``progress`` and ``cancel``;
:class:`mffgui.gui.tasks.TaskWorker` runs one of them in a ``QThread`` and turns its outcome
into signals (:class:`ThumbnailWorker` emits each thumbnail as soon as it is made). Only
immutable objects cross threads.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage

from mffgui.core.progress import CancelToken
from mffgui.errors import MffError
from mffgui.gui.tasks import ProgressCb, TaskWorker, post
from mffgui.types import FusionResult, ImageMeta, Stack, Volume

if TYPE_CHECKING:  # importing mffgui.methods loads every method: not before the window shows
    from mffgui.core.align import AlignmentReport
    from mffgui.core.channels import GuideChannel
    from mffgui.methods.base import Params

log = logging.getLogger(__name__)

FrameKey = tuple[Path, int | None]
"""One source frame: its file and page (``None`` for single-image files)."""


@dataclass(frozen=True)
class FusionRequest:
    """Everything one fusion run needs, frozen on the main thread.

    Attributes
    ----------
    generation : int
        Increases with every run; results of an older generation are dropped.
    frames : tuple of (Path, int or None)
        The included source frames in stack order.
    metas : tuple of ImageMeta
        Their headers, read when the sources were added (one per frame).
    method : str
        Registry name of the method.
    params : Params
        Validated parameters of that method.
    device : str
        ``auto``/``cpu``/``cuda``/``mps`` (used by network methods).
    align : str
        Alignment before fusing (:func:`mffgui.core.align_auto.align_for_fusion`): ``"auto"``
        (check for motion, align with the similarity model if the frames moved), ``"off"``
        (``""`` too) or a motion model.
    overlay_source : int
        Source whose focus overlay is prepared with the result.
    align_interpolation : str
        Resampling kernel of the alignment (:data:`mffgui.core.align.INTERPOLATIONS`).
    align_crop : bool
        Crop the aligned frames to their common area; ``False`` keeps the full size and fusion
        ignores each frame's invalid border (:mod:`mffgui.core.align_fuse`).
    channel : int, "sum" or None
        The frames are the planes of one multi-channel file: the depth map comes from this
        0-based channel (or the sum of all), every channel is fused
        (:func:`mffgui.pipeline.fuse_volume`, no alignment). ``None``: ordinary frames.
    """

    generation: int
    frames: tuple[FrameKey, ...]
    metas: tuple[ImageMeta, ...]
    method: str
    params: Params
    device: str = "auto"
    align: str = "auto"
    overlay_source: int = 0
    align_interpolation: str = "linear"
    align_crop: bool = True
    channel: GuideChannel | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        """The distinct files to read, in order of first use."""
        return tuple(dict.fromkeys(p for p, _ in self.frames))


@dataclass(frozen=True)
class OverlayImages:
    """Ready-to-show layers of the focus overlay of one source (made off the GUI thread).

    Attributes
    ----------
    source : int
        0-based index of the source in the fused stack.
    base : QImage
        The source frame (display levels applied).
    heat : QImage
        Its focus map in colour (ARGB32), alpha following the focus.
    outline : QImage
        Outline (ARGB32) of the regions where this source was chosen.
    share : float
        Fraction of pixels taken from this source.
    """

    source: int
    base: QImage
    heat: QImage
    outline: QImage
    share: float


@dataclass(frozen=True)
class DisplayImages:
    """Ready-to-show images of a result, made on the worker thread so the GUI never stalls.

    Attributes
    ----------
    levels : (float, float) or None
        Display stretch of dim images (see :func:`mffgui.gui.convert.display_levels`).
    fused : QImage
        The fused image with ``levels`` applied.
    decision : ndarray or QImage
        Pairs: ``(H, W)`` uint8 weight of frame 1 (0..255), coloured by the chosen map on
        display; N > 2: the frame colours as a QImage.
    overlay : OverlayImages or None
        The focus overlay of the source selected when the run started.
    """

    levels: tuple[float, float] | None
    fused: QImage
    decision: np.ndarray | QImage
    overlay: OverlayImages | None = None


_MAPS_LOCK = threading.Lock()
"""Serialises reads of a result's per-source maps: lazily computed maps are not thread-safe."""


def source_maps(maps: Any, source: int) -> np.ndarray:
    """``maps[source]`` as ``(H, W)`` float32, read under :data:`_MAPS_LOCK` (worker threads)."""
    with _MAPS_LOCK:
        return np.asarray(maps[source], dtype=np.float32)


def prepare_overlay(
    result: FusionResult, stack: Stack, source: int, levels: tuple[float, float] | None
) -> OverlayImages:
    """Make the focus-overlay layers of ``source`` (reads that frame from disk)."""
    from mffgui.gui.convert import apply_levels, heat_rgba, outline_rgba, to_qimage, to_uint8

    frame = stack.frame(source)
    mask = result.index_map == source
    # QImages (not QPixmaps) may be made off the GUI thread; only the upload is left to it.
    return OverlayImages(
        source,
        to_qimage(to_uint8(apply_levels(frame, levels))),
        to_qimage(heat_rgba(source_maps(result.focus_maps, source))),
        to_qimage(outline_rgba(mask)),
        float(mask.mean()),
    )


def prepare_display(
    result: FusionResult, stack: Stack, overlay_source: int | None = 0
) -> DisplayImages:
    """Make every image the result panel shows first (runs on the worker thread)."""
    from mffgui.gui.convert import (
        apply_levels,
        colorize_index,
        composite,
        display_levels,
        to_index_u8,
        to_qimage,
    )

    if "channels" in result.meta:  # a multi-channel volume: each channel in its own colour
        fused = to_qimage(composite(result.fused))
        levels = display_levels(stack.frame(min(max(overlay_source or 0, 0), len(stack) - 1)))
    else:
        levels = display_levels(result.fused)
        fused = to_qimage(to_index_u8(apply_levels(result.fused, levels)))
    n = len(stack)
    decision = (
        to_index_u8(source_maps(result.weights, 0))
        if n == 2
        else to_qimage(colorize_index(result.index_map, n))
    )
    overlay = None
    if overlay_source is not None:
        overlay = prepare_overlay(result, stack, min(max(overlay_source, 0), n - 1), levels)
    return DisplayImages(levels, fused, decision, overlay)


@dataclass(frozen=True)
class FusionOutcome:
    """A finished fusion: the result, the (lazy) stack it was made from, images to show.

    ``alignment`` is the per-frame alignment report (one entry per requested frame, in the
    order of ``request.frames``) when the run aligned the frames, else ``None``;
    ``align_summary`` says what Align did (Auto: what the motion check found), ``""`` for off.
    Its height map is made on demand (:func:`height_of`; reading every focus map costs about
    as much as the fusion, so it is not made for every run).
    A multi-channel run (``request.channel`` set) has ``result.fused`` ``(H, W, C)``, the
    file's metadata (physical sizes, channel names) in ``stack.metas`` (the guide stack) and
    the included planes of every channel in ``volume``.
    """

    request: FusionRequest
    result: FusionResult
    stack: Stack
    seconds: float
    notes: tuple[str, ...] = ()
    display: DisplayImages | None = None
    alignment: AlignmentReport | None = None
    align_summary: str = ""
    volume: Volume | None = None

    def source_frame(self, k: int) -> np.ndarray:
        """Source frame ``k`` with every channel ``(H, W, C)`` (what retouching paints from):
        the volume's plane for a multi-channel result, else the stack's frame."""
        return self.volume.frame(k) if self.volume is not None else self.stack.frame(k)

    @property
    def z_step(self) -> float | None:
        """Distance between the frames in µm (the file's ``PhysicalSizeZ``), else ``None``."""
        phys = self.stack.metas[0].physical if self.stack.metas else None
        return phys.z if phys is not None and phys.z else None

    @property
    def channels(self) -> int:
        """Channels of a multi-channel result (``0`` for an ordinary gray/RGB result)."""
        return int(self.result.meta.get("channels", 0)) if self.request.channel is not None else 0

    @property
    def metas(self) -> tuple[ImageMeta, ...]:
        """Metadata of the fused frames, in stack order."""
        return self.stack.metas


@dataclass(frozen=True)
class ExportRequest:
    """One export: the fused image and, optionally, maps beside it.

    Attributes
    ----------
    path : Path
        Output file; its suffix matches ``fmt``.
    fmt : str
        ``"TIFF"``, ``"OME-TIFF"`` (any channel count, physical sizes), ``"PNG"`` or ``"JPEG"``.
    bit_depth : int
        8 or 16 (JPEG: 8).
    quality : int
        JPEG quality 1..100.
    maps : tuple of str
        Names of maps to write beside the image (see :func:`mffgui.io.write_maps`).
    keep_metadata : bool
        Carry ICC profile and EXIF of the first source.
    """

    path: Path
    fmt: str = "TIFF"
    bit_depth: int = 8
    quality: int = 95
    maps: tuple[str, ...] = ()
    keep_metadata: bool = True


@dataclass(frozen=True)
class ExportOutcome:
    """Files an export wrote."""

    request: ExportRequest
    written: tuple[Path, ...] = field(default_factory=tuple)


def run_fusion(request: FusionRequest, progress: ProgressCb, cancel: CancelToken) -> FusionOutcome:
    """Read the requested frames and fuse them (runs on the worker thread).

    Raises
    ------
    MffError
        Unreadable or mismatching files (the message names the file), bad parameters.
    Cancelled
        When ``cancel`` was set.
    """
    from mffgui.io import Discovery
    from mffgui.pipeline import AlignSettings, fuse_files

    t0 = time.perf_counter()
    if request.channel is not None:
        fused, volume = _fuse_channels(request, progress, cancel)
        return _outcome(request, fused, time.perf_counter() - t0, progress, volume)
    # The frames were discovered (and probed) when added; keep their order and page choice.
    # Frames of another size are aligned onto the reference frame unless alignment is off; an
    # uncropped aligned stack has each frame's invalid border left out of the fusion
    # (mffgui.pipeline: the same read -> align -> fuse as `mffgui fuse`).
    fused = fuse_files(
        Discovery(frames=list(request.frames), metas=list(request.metas)),
        request.method,
        request.params,
        align=AlignSettings(
            request.align or "off", request.align_interpolation, request.align_crop
        ),
        progress=progress,
        cancel=cancel,
    )
    # A run that finished despite a cancel still returns: the controller drops it by
    # generation (superseded) or by its cancelled token.
    return _outcome(request, fused, time.perf_counter() - t0, progress)


def _fuse_channels(
    request: FusionRequest, progress: ProgressCb, cancel: CancelToken
) -> tuple[Any, Volume]:
    """Fuse the planes of one multi-channel file with the requested guide channel; returns the
    pipeline's output and the volume of the included planes."""
    from mffgui.gui.channels import read_source_volume
    from mffgui.pipeline import fuse_volume

    progress(0.0, 1.0, "Reading the volume")
    volume = read_source_volume(request.frames[0][0], [page for _p, page in request.frames])
    cancel.raise_if_cancelled()
    assert request.channel is not None
    out = fuse_volume(
        volume,
        request.method,
        request.params,
        channel=request.channel,
        progress=progress,
        cancel=cancel,
    )
    # The guide stack's planes carry their TIFF pages, so the views name them as the source
    # list does (a plane's page is not its z index when channel planes are interleaved).
    guide = out.stack
    metas = [
        dataclasses.replace(m, page=page)
        for m, (_p, page) in zip(guide.metas, request.frames, strict=True)
    ]
    named = Stack(
        [functools.partial(guide.frame, k) for k in range(len(guide))], metas, guide.notes
    )
    return dataclasses.replace(out, stack=named, source=named), volume


def _outcome(
    request: FusionRequest,
    fused: Any,
    seconds: float,
    progress: ProgressCb,
    volume: Volume | None = None,
) -> FusionOutcome:
    """The outcome of a finished run, with its display images made here (worker thread)."""
    stack, result = fused.stack, fused.result
    progress(1.0, 1.0, "Preparing the views")
    display = prepare_display(result, stack, request.overlay_source)
    report = fused.report
    alignment = report.align.report if report.align is not None else None
    return FusionOutcome(
        request,
        result,
        stack,
        seconds,
        report.alignment_messages,
        display,
        alignment,
        report.align_summary,
        volume,
    )


def height_of(outcome: FusionOutcome) -> np.ndarray:
    """The height map of ``outcome`` (worker thread): ``(H, W)`` float32, µm when the stack
    records its z-step (else frames), refined between frames by the focus measure
    (:func:`mffgui.core.height.height_map`)."""
    from mffgui.core.height import height_map

    with _MAPS_LOCK:  # maps computed on demand are not thread-safe
        return height_map(
            outcome.result.index_map, outcome.result.focus_maps, outcome.z_step or 1.0
        )


def run_export(
    outcome: FusionOutcome, request: ExportRequest, progress: ProgressCb, cancel: CancelToken
) -> ExportOutcome:
    """Write the fused image (and maps) of ``outcome`` as ``request`` asks (worker thread)."""
    from mffgui.io import write_image, write_maps
    from mffgui.io.writers import write_ome_tiff

    sources = [m.path for m in outcome.metas if m.path is not None]
    meta = outcome.metas[0] if request.keep_metadata and outcome.metas else None
    progress(0.0, 1.0, "Writing image")
    if outcome.channels:
        # Every channel as its own plane (never an RGB picture), with the physical sizes and
        # channel names, which are measurement data rather than optional metadata.
        first = outcome.metas[0] if outcome.metas else None
        written = [
            write_ome_tiff(
                request.path,
                outcome.result.fused,
                bit_depth=request.bit_depth,
                meta=first,
                sources=sources,
            )
        ]
    else:
        written = [
            write_image(
                request.path,
                outcome.result.fused,
                bit_depth=request.bit_depth,
                quality=request.quality,
                meta=meta,
                sources=sources,
            )
        ]
    cancel.raise_if_cancelled()
    if request.maps:
        progress(0.5, 1.0, "Writing maps")
        with _MAPS_LOCK:  # maps computed on demand are not thread-safe
            maps = write_maps(
                outcome.result,
                request.path.parent,
                request.path.stem,
                which=request.maps,
                sources=sources,
            )
        written.extend(maps or [])
    progress(1.0, 1.0, "Done")
    return ExportOutcome(request, tuple(Path(p) for p in written if p is not None))


def run_height_export(
    outcome: FusionOutcome,
    path: Path,
    progress: ProgressCb,
    cancel: CancelToken,
    height: np.ndarray | None = None,
) -> ExportOutcome:
    """Write the height map of ``outcome`` (32-bit float TIFF: µm when the stack records its
    z-step, else frames) and its viridis preview ``<stem>_preview.png`` (worker thread);
    ``height`` is the map when already made (else made here)."""
    from mffgui.core.height import height_preview
    from mffgui.io import write_image
    from mffgui.io.writers import write_height_map

    sources = [m.path for m in outcome.metas if m.path is not None]
    phys = outcome.metas[0].physical if outcome.metas else None
    if height is None:
        progress(0.0, 1.0, "Computing the height map")
        height = height_of(outcome)
        cancel.raise_if_cancelled()
    progress(0.5, 1.0, "Writing the height map")
    written = [write_height_map(path, height, physical=phys, sources=sources)]
    cancel.raise_if_cancelled()
    stem = path.name[: -len(".ome.tif")] if path.name.lower().endswith(".ome.tif") else path.stem
    preview = path.with_name(stem + "_preview.png")
    written.append(write_image(preview, height_preview(height), bit_depth=8, sources=sources))
    progress(1.0, 1.0, "Done")
    return ExportOutcome(ExportRequest(path, fmt="TIFF"), tuple(written))


def load_thumbnail(path: Path, page: int | None, size: int = 96) -> np.ndarray:
    """A small uint8 preview of one source frame (dim 16-bit frames stretched).

    Returns
    -------
    ndarray, (h, w) or (h, w, 3) uint8
        Longer side at most ``size`` pixels.
    """
    from mffgui.gui.convert import thumbnail
    from mffgui.io import read_image

    return thumbnail(read_image(path, page)[0], size)


class ThumbnailWorker(TaskWorker):
    """Makes source thumbnails one by one, emitting each as soon as it is ready."""

    thumbnailReady = Signal(int, int)
    """source id, mailbox key of the ``(h, w[, 3])`` uint8 thumbnail."""

    def __init__(
        self, jobs: Sequence[tuple[int, Path, int | None]], generation: int, cancel: CancelToken
    ) -> None:
        super().__init__(self._make, generation, cancel, "making thumbnails")
        self._jobs = tuple(jobs)

    def _make(self, progress: ProgressCb, cancel: CancelToken) -> int:
        done = 0
        for sid, path, page in self._jobs:
            cancel.raise_if_cancelled()
            try:
                thumb = load_thumbnail(path, page)
            except (MffError, OSError, ValueError) as err:
                log.debug("no thumbnail for %s: %s", path, err)
                continue
            self.thumbnailReady.emit(sid, post(thumb))
            done += 1
        return done
