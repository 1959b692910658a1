"""Qt-free logic of the napari plugin: layer data -> stack -> fusion result -> layer tuples.

Nothing here imports napari or Qt, so it is tested without them. A napari layer data tuple is
``(data, kwargs, layer_type)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mffgui.core.channels import GuideChannel, fuse_channels, guide_stack
from mffgui.core.height import fractional_index
from mffgui.core.progress import NEVER, CancelToken, ProgressFn, noop_progress
from mffgui.errors import MffError, ParamsError
from mffgui.types import ImageMeta, PhysicalSize, Stack, Volume

__all__ = [
    "FusionOutput",
    "LayerData",
    "fuse_layer_data",
    "method_choices",
    "napari_get_reader",
    "params_form",
    "parse_params",
    "read_focus_stack",
    "result_layers",
    "volume_from_layer",
]

LayerData = tuple[Any, dict[str, Any], str]
"""napari's ``(data, kwargs, layer_type)``."""


def method_choices() -> list[tuple[str, str]]:
    """``(title, name)`` of every registered fusion method, classical first."""
    from mffgui.methods.registry import list_methods

    return [(i.title, i.name) for i in list_methods()]


def params_form(method: str) -> list[dict[str, Any]]:
    """The parameter form of ``method``: one dict per field (name, type, default, help, min,
    max, choices, step), from the method's :class:`~mffgui.methods.base.Params` metadata."""
    from mffgui.methods import get_method

    return get_method(method).info.params.describe()


def _to_uint16(data: np.ndarray) -> tuple[np.ndarray, int]:
    """Any numeric array -> uint8/uint16 samples and their bit depth (floats and other
    integers are scaled by their maximum to 16 bits)."""
    a = np.asarray(data)
    if a.dtype in (np.uint8, np.uint16):
        return a, 8 if a.dtype == np.uint8 else 16
    a = a.astype(np.float64)
    lo = float(np.nanmin(a)) if a.size else 0.0
    hi = float(np.nanmax(a)) if a.size else 1.0
    if lo >= 0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    span = hi - lo if hi > lo else 1.0
    return np.rint(np.clip((np.nan_to_num(a, nan=lo) - lo) / span, 0, 1) * 65535).astype(
        np.uint16
    ), 16


def volume_from_layer(
    data: Any, *, rgb: bool = False, name: str = "layer", scale: Sequence[float] | None = None
) -> Volume:
    """An Image layer's data as a :class:`Volume`.

    Parameters
    ----------
    data : array-like, (Z, Y, X) or (Z, Y, X, C)
        The layer data (a dask array is computed). ``C`` = 3 or 4 with ``rgb`` is colour
        (alpha dropped); other ``C`` are independent channels.
    rgb : bool
        The layer's ``rgb`` flag.
    name : str
        Layer name (for messages and metadata).
    scale : sequence of float, optional
        The layer's scale ``(z, y, x)``: z-step and pixel pitch (µm, by convention).

    Raises
    ------
    MffError
        For data that is not a focus stack.
    """
    a = np.asarray(data)
    if a.ndim == 3 and rgb:
        raise MffError(f"layer {name!r} is a single RGB image, not a focus stack")
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise MffError(
            f"layer {name!r} has shape {a.shape}; a focus stack is (Z, Y, X) or (Z, Y, X, C)"
        )
    if rgb and a.shape[-1] == 4:
        a = a[..., :3]
    if a.shape[0] < 2:
        raise MffError(f"layer {name!r} has {a.shape[0]} plane(s); a focus stack needs two")
    samples, bits = _to_uint16(a)
    zcyx = np.ascontiguousarray(np.moveaxis(samples, -1, 1))
    phys = None
    if scale is not None and len(scale) >= 3:
        z, y, x = (float(v) for v in list(scale)[-3:])
        phys = PhysicalSize(x, y, z)
    meta = ImageMeta(
        path=None,
        width=zcyx.shape[3],
        height=zcyx.shape[2],
        channels=zcyx.shape[1],
        bit_depth=bits,
        format="napari",
        physical=phys,
    )
    return Volume(zcyx, meta, rgb=bool(rgb) and zcyx.shape[1] == 3)


@dataclass(frozen=True)
class FusionOutput:
    """What the dock widget adds to the viewer.

    Attributes
    ----------
    fused : ndarray, (Y, X) or (Y, X, C) float32
        The fused image in ``[0, 1]``; colour as RGB, other channels as the last axis.
    index_map : ndarray, (Y, X) uint16
        The depth (index) map: frame chosen per pixel.
    height : ndarray, (Y, X) float32
        Height: the index map refined between frames, times the z scale.
    rgb : bool
        Whether ``fused`` is RGB.
    method : str
        The method used.
    """

    fused: np.ndarray
    index_map: np.ndarray
    height: np.ndarray
    rgb: bool
    method: str


def fuse_layer_data(
    volume: Volume,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    channel: GuideChannel | None = None,
    progress: ProgressFn = noop_progress,
    cancel: CancelToken = NEVER,
) -> FusionOutput:
    """Fuse a layer's volume with any registered method.

    Colour layers are fused as colour frames; layers with other channel counts get one depth
    map from ``channel`` (default: the sum) applied to every channel.

    Parameters
    ----------
    volume : Volume
        From :func:`volume_from_layer`.
    method : str
        Registry name (``mffgui methods``).
    params : mapping, optional
        Parameter values (strings are parsed as on the command line).
    channel : int or "sum", optional
        Guide channel (0-based) for multi-channel layers.
    progress, cancel
        Progress callback and cancel token (the widget's worker).

    Returns
    -------
    FusionOutput
    """
    from mffgui.methods import get_method
    from mffgui.pipeline import fuse_stack

    m = get_method(method)
    p = m.info.params.from_mapping(dict(params or {}))
    z, c, _, _ = volume.shape
    if volume.rgb or c == 1:  # one channel: nothing to guide
        stack = Stack(
            [(lambda k=k: volume.frame(k)) for k in range(z)],
            [dataclasses.replace(volume.meta, page=k) for k in range(z)],
        )
        guided = False
    else:
        stack = guide_stack(volume, "sum" if channel is None else channel)
        guided = True
    result = fuse_stack(stack, m, p, progress=progress, cancel=cancel)
    fused = fuse_channels(volume, result.weights) if guided else np.asarray(result.fused)
    if fused.shape[-1] == 1:
        fused = fused[..., 0]
    z_step = volume.meta.physical.z if volume.meta.physical and volume.meta.physical.z else 1.0
    height = fractional_index(result.index_map, result.focus_maps) * np.float32(z_step)
    return FusionOutput(
        fused=fused.astype(np.float32),
        index_map=result.index_map,
        height=height.astype(np.float32),
        rgb=volume.rgb,
        method=m.info.name,
    )


def result_layers(
    out: FusionOutput, name: str, scale: Sequence[float] | None = None
) -> list[LayerData]:
    """Layer data tuples for the viewer: fused image, depth (index) map and height map.

    Parameters
    ----------
    out : FusionOutput
    name : str
        The source layer's name (prefix of the new layers' names).
    scale : sequence of float, optional
        The source layer's scale; its last two entries ``(y, x)`` scale the new 2-D layers.
    """
    yx = tuple(float(v) for v in list(scale)[-2:]) if scale is not None else (1.0, 1.0)
    fused_kw: dict[str, Any] = {"name": f"{name} fused ({out.method})", "scale": yx}
    if out.rgb:
        fused_kw["rgb"] = True
        fused = out.fused
    elif out.fused.ndim == 3:
        fused = np.moveaxis(out.fused, -1, 0)  # channels as separate layers
        fused_kw.update(
            channel_axis=0, name=[f"{name} fused ch{c + 1}" for c in range(fused.shape[0])]
        )
    else:
        fused = out.fused
    layers: list[LayerData] = [(fused, fused_kw, "image")]
    layers.append(
        (
            out.index_map,
            {"name": f"{name} depth map", "scale": yx, "colormap": "viridis", "visible": False},
            "image",
        )
    )
    layers.append(
        (
            out.height,
            {
                "name": f"{name} height",
                "scale": yx,
                "colormap": "viridis",
                "metadata": {"unit": "z scale units"},
            },
            "image",
        )
    )
    return layers


def read_focus_stack(path: str | Path) -> list[LayerData]:
    """A folder of images, a multi-page TIFF or an OME-TIFF as one Image layer
    ``(Z, Y, X[, C])``, scaled by the file's physical sizes where recorded."""
    from mffgui.io.microscopy import read_volume, volume_channels
    from mffgui.io.stacks import read_stack

    p = Path(path)
    name = p.stem[:-4] if p.stem.lower().endswith(".ome") else p.stem
    if p.is_file() and volume_channels(p) > 0:
        vol = read_volume(p)
        data = np.moveaxis(vol.data, 1, -1)
        rgb = vol.rgb
        meta = vol.meta
    else:
        stack = read_stack(p)
        frames = [stack.frame(i) for i in range(len(stack))]
        data = np.stack(frames)
        rgb = stack.channels == 3
        meta = stack.metas[0]
    if data.shape[-1] == 1:
        data = data[..., 0]
    kw: dict[str, Any] = {"name": name, "rgb": bool(rgb)}
    if not rgb and data.ndim == 4:
        kw["channel_axis"] = 3
        names = meta.channel_names
        kw["name"] = [
            f"{name} {names[c]}" if names else f"{name} ch{c + 1}" for c in range(data.shape[3])
        ]
    phys = meta.physical
    if phys is not None:
        kw["scale"] = (phys.z or 1.0, phys.y or 1.0, phys.x or 1.0)
    return [(data, kw, "image")]


def napari_get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """npe2 reader hook: a reader for a focus-stack folder or a multi-page TIFF, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_dir():
        from mffgui.io.readers import is_image_file

        if sum(1 for f in p.iterdir() if f.is_file() and is_image_file(f)) < 2:
            return None
    elif p.suffix.lower() in (".tif", ".tiff"):
        from mffgui.io.readers import probe

        try:
            if len(probe(p)) < 2:
                return None
        except MffError:
            return None
    else:
        return None

    def reader(target: Any) -> list[LayerData]:
        return read_focus_stack(p)

    return reader


def parse_params(method: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate widget values against the method's Params (raises ParamsError)."""
    from mffgui.methods import get_method

    cls = get_method(method).info.params
    try:
        return cls.from_mapping(dict(values)).to_dict()
    except ParamsError:
        raise
