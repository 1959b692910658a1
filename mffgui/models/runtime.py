"""The one runtime of mffgui's network methods: weights, model cache, threads, memory, tiles, OOM.

Every network method (GACN, Fusion2Void, a new one registered with a
:class:`~mffgui.models.specs.NetworkSpec`) runs its network through these pieces:

- :func:`weights_path`: the file given by the user, or the network's bundled weights;
- :class:`ModelCache` (:data:`MODEL_CACHE`, :func:`load_model`): the built network per
  (arch, weights file and its mtime/size, device), loaded once under a lock, so concurrent
  fusions (app worker, compare worker, batch threads) share one model and never load it twice;
  one model at a time, since GPU memory is the scarce resource;
- :func:`torch_threads`: the torch CPU thread count for the duration of a run;
- :func:`memory_budget` / :func:`auto_tile`: the working-memory budget (given, or 40 % of the
  available RAM up to 8 GiB; on CUDA at most 70 % of the free memory) and the largest tile core
  that fits it (:func:`mffgui.core.tiling.tile_for_budget`);
- :func:`map_tiles`: a network step run over overlapping tiles, cores stitched;
- :func:`run_with_fallback`: a run retried on CUDA/MPS out-of-memory with half-size tiles down
  to a minimum, then on the CPU (a :class:`Placement` carries device, tile and notes).

torch is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mffgui.core.progress import NEVER, CancelToken
from mffgui.core.tiling import Tile, plan_tiles, tile_for_budget
from mffgui.errors import WeightsError
from mffgui.models.specs import NetworkSpec, get_spec

__all__ = [
    "MODEL_CACHE",
    "LoadedModel",
    "ModelCache",
    "Placement",
    "auto_budget",
    "auto_tile",
    "load_model",
    "map_tiles",
    "memory_budget",
    "run_with_fallback",
    "to_tensor",
    "torch_threads",
    "weights_path",
]

T = TypeVar("T")


# -- weights and the model cache ---------------------------------------------------------------


def weights_path(spec: NetworkSpec | str, weights: str | None) -> Path:
    """The checkpoint to use: ``weights`` (``~`` expanded) or the network's bundled file.

    Raises
    ------
    WeightsError
        ``weights`` names no file, or it is empty and no weights are bundled
        (``spec.missing_weights`` says how to get some).
    """
    from mffgui.models.weights import bundled_weights

    spec = get_spec(spec) if isinstance(spec, str) else spec
    if weights:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise WeightsError(f"{spec.title} weights file not found", p)
        return p
    found = bundled_weights(spec.arch)
    if found is None:
        raise WeightsError(spec.missing_weights or f"no {spec.title} weights are installed")
    return found


@dataclass(frozen=True)
class LoadedModel:
    """A network ready for inference, and where it came from.

    Attributes
    ----------
    model : torch.nn.Module
        In eval mode, on ``device`` (channels-last when the spec asks for it).
    arch : str
    device : torch.device
    path : Path
        The weights file.
    sha256 : str
        Of the weights file.
    model_args : dict
        The checkpoint's builder arguments.
    """

    model: Any
    arch: str
    device: Any
    path: Path
    sha256: str
    model_args: dict[str, Any] = field(default_factory=dict)


class ModelCache:
    """Thread-safe cache of built networks, keyed by arch, weights file (path, mtime, size) and
    device; holds at most ``capacity`` models (the oldest is dropped).

    Parameters
    ----------
    capacity : int
        Models kept at once (default 1: weights are small, GPU memory is not).
    """

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = max(1, capacity)
        self.loads = 0
        """How many times a model was built (not served from the cache)."""
        self._models: dict[tuple[Any, ...], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, spec: NetworkSpec | str, path: str | Path, device: Any) -> LoadedModel:
        """The network of ``spec`` with the weights of ``path`` on ``device``.

        A file rewritten since it was loaded (other mtime or size) is loaded again. Callers
        that ask for the same key at the same time get the same object; it is built once.

        Raises
        ------
        WeightsError
            Missing or unreadable file, a checkpoint of another arch, or tensors that do not
            fit the network.
        """
        spec = get_spec(spec) if isinstance(spec, str) else spec
        p = Path(path)
        if not p.is_file():
            raise WeightsError("weights file not found", p)
        st = p.stat()
        key = (spec.arch, str(p.resolve()), st.st_mtime_ns, st.st_size, str(device))
        with self._lock:
            hit = self._models.get(key)
            if hit is not None:
                return hit
            loaded = self._build(spec, p, device)
            while len(self._models) >= self.capacity:
                self._models.pop(next(iter(self._models)))
            self._models[key] = loaded
            self.loads += 1
            return loaded

    @staticmethod
    def _build(spec: NetworkSpec, path: Path, device: Any) -> LoadedModel:
        import torch

        from mffgui.models.weights import load_checkpoint

        ckpt = load_checkpoint(path, spec.arch)
        model = spec.build(ckpt)
        if spec.channels_last:
            model = model.to(device=device, memory_format=torch.channels_last)
        else:
            model = model.to(device)
        return LoadedModel(model, spec.arch, device, path, ckpt.sha256, dict(ckpt.model_args))

    def clear(self) -> None:
        """Drop every cached model (frees its device memory once no run holds it)."""
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


MODEL_CACHE = ModelCache()
"""The cache every network method shares."""


def load_model(spec: NetworkSpec | str, path: str | Path, device: Any) -> LoadedModel:
    """:meth:`ModelCache.get` of :data:`MODEL_CACHE`."""
    return MODEL_CACHE.get(spec, path, device)


# -- threads and memory ------------------------------------------------------------------------


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU thread count set to ``n`` inside the block (``n <= 0``: left as it is)."""
    if n <= 0:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def auto_budget() -> float:
    """40 % of the available RAM in bytes, at most 8 GiB (2 GiB when the OS does not say)."""
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2.0 * 2**30
    return min(0.4 * avail, 8.0 * 2**30)


def memory_budget(device: Any, memory_mb: int) -> float:
    """Working-memory budget in bytes: ``memory_mb`` MiB, or :func:`auto_budget` when 0; on a
    CUDA device at most 70 % of its free memory."""
    budget = memory_mb * 2**20 if memory_mb else auto_budget()
    if device.type == "cuda":
        import torch

        with contextlib.suppress(Exception):
            free, _ = torch.cuda.mem_get_info(device)
            budget = min(budget, 0.7 * free)
    return float(budget)


def auto_tile(
    device: Any,
    shape: tuple[int, int],
    memory_mb: int,
    bytes_per_pixel: float,
    halo: int,
    min_tile: int,
) -> int:
    """Largest tile core (0 = the whole image) whose read region of ``bytes_per_pixel`` fits
    :func:`memory_budget`; see :func:`mffgui.core.tiling.tile_for_budget`."""
    budget = memory_budget(device, memory_mb)
    return tile_for_budget(shape, bytes_per_pixel, budget, halo, min_tile)


# -- tiles -------------------------------------------------------------------------------------


def to_tensor(image: np.ndarray, device: Any) -> Any:
    """``(h, w, C)`` or ``(h, w)`` numpy -> ``(1, C, h, w)`` float32 tensor on ``device``."""
    import torch

    a = image[:, :, None] if image.ndim == 2 else image
    chw = np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(chw)[None].to(device)


def map_tiles(
    step: Callable[[Tile], Any],
    shape: tuple[int, int],
    channels: int,
    tile: int,
    halo: int,
    cancel: CancelToken = NEVER,
) -> np.ndarray:
    """Run a network step tile by tile and stitch the tiles' cores.

    Parameters
    ----------
    step : callable
        ``step(tile) -> (1, channels, h, w)`` tensor for the tile's read region
        (``tile.read`` of the inputs, ``(h, w) = tile.read_shape``).
    shape : (int, int)
        Image ``(H, W)``.
    channels : int
        Channels of the output.
    tile : int
        Largest core side (0 = the whole image at once).
    halo : int
        Margin read around each core; at least the network's receptive-field radius, so the
        result equals the whole-image one up to floating-point rounding.
    cancel : CancelToken
        Checked before every tile.

    Returns
    -------
    ndarray, (H, W, channels) float32
    """
    out = np.empty((*shape, channels), dtype=np.float32)
    for t in plan_tiles(shape, tile, halo):
        cancel.raise_if_cancelled()
        y = step(t)
        ys, xs = t.core_in_read
        out[t.core] = y[0, :, ys, xs].float().cpu().numpy().transpose(1, 2, 0)
    return out


# -- out-of-memory fallback --------------------------------------------------------------------


@dataclass
class Placement:
    """Where a run goes: device and tile size, changed by :func:`run_with_fallback`.

    Attributes
    ----------
    device : torch.device
    tile : int
        Tile core side (0 = the whole image).
    notes : list of str
        What the fallback did, for the result's ``meta["notes"]``.
    """

    device: Any
    tile: int
    notes: list[str] = field(default_factory=list)


def run_with_fallback(
    attempt: Callable[[Placement], T],
    place: Placement,
    side: int,
    min_tile: int,
    cpu_tile: Callable[[Any], int] | None = None,
    cache: ModelCache | None = None,
) -> T:
    """``attempt(place)``, retried on CUDA/MPS out-of-memory with smaller tiles, then on the CPU.

    After an out-of-memory error the device's allocator cache and the model cache are emptied;
    the tile side is halved (a whole-image run starts from ``side``) while the half is at least
    ``min_tile``; below that the run moves to the CPU. Other errors, and any error on the CPU,
    propagate.

    Parameters
    ----------
    attempt : callable
        The run; it reads ``place.device`` and ``place.tile`` (load the model inside it, through
        the cache, so a retry gets a fresh one on the new device).
    place : Placement
        Updated in place (device, tile, notes).
    side : int
        Longer image side (the tile of a whole-image run).
    min_tile : int
        Smallest tile core tried on the accelerator.
    cpu_tile : callable, optional
        ``cpu_tile(cpu_device) -> tile`` for the CPU run (e.g. from the RAM budget); default:
        keep the last tile.
    cache : ModelCache, optional
        Emptied after each out-of-memory error (default :data:`MODEL_CACHE`).

    Returns
    -------
    Whatever ``attempt`` returns.
    """
    import torch

    from mffgui.models.device import is_oom

    cache = MODEL_CACHE if cache is None else cache
    while True:
        try:
            return attempt(place)
        except Exception as exc:
            if place.device.type == "cpu" or not is_oom(exc):
                raise
            kind = place.device.type
            with contextlib.suppress(Exception):
                getattr(torch, kind).empty_cache()
            cache.clear()
            current = place.tile or side
            if current // 2 >= min_tile:
                place.tile = current // 2
                place.notes.append(f"{kind} out of memory: retrying with tiles of {place.tile} px")
            else:
                place.notes.append(
                    f"{kind} out of memory even with {current} px tiles: falling back to the CPU"
                )
                place.device = torch.device("cpu")
                if cpu_tile is not None:
                    place.tile = cpu_tile(place.device)
