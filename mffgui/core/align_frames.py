"""Registration data of the frames of a stack, decoded ahead in threads, and pair registration.

:class:`FrameReader` turns frame ``i`` into :class:`FrameData`: its luma at registration size
(a reduced JPEG decode where possible, see :meth:`mffgui.types.Stack.small_gray`), put onto the
reference frame's canvas when its size differs, with the pyramids registration needs. Frames are
prepared in a thread pool (decoding and OpenCV release the GIL) while earlier ones register.

:func:`register_pair` registers two frames: Lucas-Kanade (:mod:`mffgui.core.align_lk`) for the
translation and similarity models, with ECC + SIFT (:func:`mffgui.core.align_register.register`)
as the fallback when that cannot tell or correlates poorly, and for the other models.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from mffgui.core.align_geometry import scale_matrix
from mffgui.core.align_lk import LK_MODELS, LKPyramid, build_lk_pyramid, register_lk
from mffgui.core.align_register import PairResult, Pyramid, build_pyramid, register
from mffgui.types import Stack

__all__ = ["FrameData", "FrameReader", "canvas_transform", "register_pair"]

LK_TRUST = 0.8
"""Lucas-Kanade correlation from which its result is kept without trying ECC + SIFT."""


def canvas_transform(size: tuple[int, int], ref_size: tuple[int, int]) -> np.ndarray:
    """``(3, 3)`` map from a frame's pixels to the reference frame's, before registration.

    Parameters
    ----------
    size, ref_size : (int, int)
        ``(H, W)`` of the frame and of the reference frame.

    Returns
    -------
    ndarray, (3, 3) float64
        Identity for equal sizes. A frame of the same aspect ratio (within 1 %) is taken to be
        the same view at another resolution and scaled to the reference size; otherwise it is
        taken to be another crop at the same resolution and centred on the reference frame.
    """
    (h, w), (rh, rw) = size, ref_size
    if (h, w) == (rh, rw):
        return np.eye(3)
    if abs((w / h) / (rw / rh) - 1.0) <= 0.01:
        s = 0.5 * (rw / w + rh / h)
        return np.linalg.inv(scale_matrix(1.0 / s)) if s < 1 else scale_matrix(s)
    return np.array([[1.0, 0.0, (rw - w) / 2.0], [0.0, 1.0, (rh - h) / 2.0], [0.0, 0.0, 1.0]])


@dataclass
class FrameData:
    """One frame ready to register.

    Attributes
    ----------
    gray : ndarray, (h, w) float32
        Luma at ``scale`` times the reference frame's size, on the reference frame's canvas.
    scale : float
        Size of ``gray`` over the reference frame's size.
    full_shape : (int, int)
        ``(H, W)`` of the reference frame.
    canvas : ndarray, (3, 3) float64
        Frame pixels -> reference-canvas pixels (:func:`canvas_transform`).
    lk : LKPyramid or None
        Lucas-Kanade pyramid (translation and similarity models only).
    """

    gray: np.ndarray
    scale: float
    full_shape: tuple[int, int]
    canvas: np.ndarray
    lk: LKPyramid | None
    max_size: int
    _ecc: Pyramid | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ecc(self) -> Pyramid:
        """ECC pyramid, built on first use (only fallbacks and the other models need it)."""
        with self._lock:
            if self._ecc is None:
                self._ecc = build_pyramid(self.gray, self.max_size, self.scale, self.full_shape)
            return self._ecc

    @property
    def flat(self) -> bool:
        """Whether the frame has (almost) no contrast to align on."""
        return self.lk.flat if self.lk is not None else self.ecc.flat


class FrameReader:
    """Prepares :class:`FrameData` for the frames of ``stack`` in a thread pool.

    Parameters
    ----------
    stack : Stack
        The frames (sizes may differ).
    reference : int
        Index of the reference frame (its size is the canvas).
    model : str
        Motion model (decides whether Lucas-Kanade pyramids are built).
    max_size : int
        Longest side of the finest registration level.
    workers : int
        Threads preparing frames.
    """

    def __init__(
        self, stack: Stack, reference: int, model: str, max_size: int, workers: int = 2
    ) -> None:
        self.stack = stack
        self.ref_size = stack.frame_size(reference)
        self.model = model
        self.max_size = max_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mffgui-align")
        self._futures: dict[int, Future[FrameData]] = {}
        self._lock = threading.Lock()

    def prefetch(self, i: int) -> None:
        """Start preparing frame ``i`` (no-op when started already)."""
        with self._lock:
            if i not in self._futures:
                self._futures[i] = self._pool.submit(self._prepare, i)

    def get(self, i: int) -> FrameData:
        """Frame ``i``'s data (prepared now if not prefetched); the reader forgets it."""
        self.prefetch(i)
        with self._lock:
            fut = self._futures.pop(i)
        return fut.result()

    def close(self) -> None:
        """Stop the threads (pending preparations are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, i: int) -> FrameData:
        rh, rw = self.ref_size
        gray, s_frame = self.stack.small_gray(i, self.max_size)
        gray = np.ascontiguousarray(gray, dtype=np.float32)
        s = s_frame
        canvas = canvas_transform(self.stack.frame_size(i), self.ref_size)
        if not np.allclose(canvas, np.eye(3)):
            # Resample onto the reference frame's canvas at the registration scale.
            s = min(1.0, self.max_size / max(rh, rw))
            size = (max(8, round(rw * s)), max(8, round(rh * s)))
            s = size[0] / rw
            m = scale_matrix(s) @ canvas @ np.linalg.inv(scale_matrix(s_frame))
            gray = cv2.warpAffine(
                gray, m[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        lk = build_lk_pyramid(gray, s, self.ref_size) if self.model in LK_MODELS else None
        return FrameData(gray, s, self.ref_size, canvas, lk, self.max_size)


def register_pair(
    template: FrameData,
    moving: FrameData,
    model: str,
    init: np.ndarray | None = None,
    *,
    min_correlation: float = 0.5,
) -> PairResult:
    """Register ``moving`` to ``template`` (warp: template -> moving canvas pixels, full size).

    Lucas-Kanade first for translation and similarity; ECC with phase-correlation and SIFT
    starts when that cannot tell or correlates below :data:`LK_TRUST`, and for the other models.
    """
    lk: PairResult | None = None
    if template.lk is not None and moving.lk is not None:
        lk = register_lk(template.lk, moving.lk, model, init)
        if lk is not None and lk.warp is not None and lk.correlation >= LK_TRUST:
            return lk
    ecc = register(template.ecc, moving.ecc, model, init=init, min_correlation=min_correlation)
    if (
        lk is not None
        and lk.warp is not None
        and (ecc.warp is None or lk.correlation >= ecc.correlation)
    ):
        return lk
    return ecc
