"""Multi-channel microscopy stacks in the app (Qt-free): which channel guides the depth map.

A multi-channel OME-TIFF or ImageJ hyperstack ``(Z, C, Y, X)`` opens as one source per z-plane
(the planes of its first channel, see :mod:`mffgui.io.readers`). When every included source
comes from one such file, :func:`channel_info` describes its channels and the main window
shows the channel selector; the fusion then reads the whole volume
(:func:`read_source_volume`) and fuses it with :func:`mffgui.pipeline.fuse_volume`: one depth
map from the chosen channel (or the sum), applied to every channel.

The choice is kept in the settings as the CLI's ``--channel`` text: ``"sum"`` or a 1-based
channel number (:func:`channel_text`, :func:`choice_for`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mffgui.core.channels import GuideChannel, parse_channel
from mffgui.errors import StackMismatch
from mffgui.types import ImageMeta, Volume

if TYPE_CHECKING:
    from mffgui.gui.sources import Source

__all__ = [
    "ChannelInfo",
    "channel_info",
    "channel_label",
    "channel_text",
    "choice_for",
    "read_source_volume",
]


@dataclass(frozen=True)
class ChannelInfo:
    """The channels of the multi-channel file the included sources come from.

    Attributes
    ----------
    path : Path
        The file.
    count : int
        Number of channels ``C`` (at least 2).
    names : tuple of str
        One name per channel from the OME metadata (``()`` when the file names none).
    """

    path: Path
    count: int
    names: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        """``"1: DAPI"``, ``"2: GFP"`` … (``"channel 1"`` … without names), one per channel."""
        return [channel_label(k, self.names) for k in range(self.count)]


def channel_label(k: int, names: Sequence[str] = ()) -> str:
    """The label of 0-based channel ``k``: ``"2: GFP"``, or ``"channel 2"`` without a name."""
    name = names[k] if k < len(names) and names[k] else ""
    return f"{k + 1}: {name}" if name else f"channel {k + 1}"


def channel_info(
    sources: Sequence[Source], cache: dict[Path, int] | None = None
) -> ChannelInfo | None:
    """The channels of the included sources when they are planes of one multi-channel file.

    Parameters
    ----------
    sources : sequence of Source
        The session's sources (only the usable ones count).
    cache : dict, optional
        ``{path: channel count}`` of files already looked at (filled in here), so the file is
        opened once per session, not on every change of the source list.

    Returns
    -------
    ChannelInfo or None
        ``None`` for ordinary photos (RGB or gray frames), several files, or a one-channel
        z-stack.
    """
    used = [s for s in sources if s.usable and s.meta is not None]
    if not used or len({s.path for s in used}) != 1:
        return None
    meta: ImageMeta = used[0].meta  # type: ignore[assignment]
    if meta.channels != 1 or meta.format not in ("OME-TIFF", "TIFF"):
        return None  # RGB planes are colour photos; only gray planes can be channel planes
    path = used[0].path
    if cache is not None and path in cache:
        count = cache[path]
    else:
        from mffgui.io.microscopy import volume_channels

        count = volume_channels(path)
        if cache is not None:
            cache[path] = count
    if count < 2:
        return None
    names = tuple(meta.channel_names) if len(meta.channel_names) == count else ()
    return ChannelInfo(path, count, names)


def choice_for(text: str, info: ChannelInfo) -> GuideChannel:
    """The saved choice (``"sum"`` or a 1-based number) for ``info``'s file; ``"sum"`` when the
    saved channel does not exist there."""
    try:
        return parse_channel(text, info.count)
    except ValueError:
        return "sum"


def channel_text(channel: GuideChannel) -> str:
    """``"sum"`` or the 1-based channel number, as the settings and the CLI spell it."""
    return "sum" if channel == "sum" else str(int(channel) + 1)


def read_source_volume(path: Path, pages: Sequence[int | None]) -> Volume:
    """Read the volume of ``path`` restricted to the z-planes of the given source pages.

    Parameters
    ----------
    path : Path
        A multi-channel OME-TIFF / ImageJ TIFF.
    pages : sequence of int or None
        The TIFF pages of the included sources (first-channel planes), in stack order: the
        app lets the user exclude and reorder planes.

    Returns
    -------
    Volume
        ``(len(pages), C, Y, X)`` with the file's metadata.

    Raises
    ------
    StackMismatch
        A page that is not one of the file's planes (the file changed since it was opened).
    """
    from mffgui.io import probe
    from mffgui.io.microscopy import read_volume

    volume = read_volume(path)
    planes = [0 if m.page is None else m.page for m in probe(path)]
    if len(planes) != volume.shape[0]:
        raise StackMismatch(
            f"{len(planes)} planes listed but {volume.shape[0]} read; open the file again", path
        )
    z_of = {page: z for z, page in enumerate(planes)}
    try:
        zs = [z_of[0 if p is None else p] for p in pages]
    except KeyError as err:
        raise StackMismatch(f"page {err.args[0]} is not a plane of this file", path) from None
    return Volume(np.ascontiguousarray(volume.data[zs]), volume.meta, volume.rgb, volume.notes)
