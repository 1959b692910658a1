"""Errors a user can cause, each with a message that names the file and the problem.

Every error derives from :class:`MffError`, so the CLI and the GUI can catch one type,
show ``str(err)`` and never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MffError(Exception):
    """Base class of every error mffgui reports to a user.

    Parameters
    ----------
    message : str
        What went wrong and, where it helps, what to do about it.
    path : str or Path, optional
        The file concerned; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class UnsupportedImage(MffError):
    """A file that is not an image, or an image format/bit depth mffgui cannot read."""


class CorruptImage(MffError):
    """An image file that is damaged, truncated or empty."""


class StackMismatch(MffError):
    """Frames of one stack that cannot be fused together (e.g. different sizes)."""


class TooFewImages(MffError):
    """A stack needs at least two frames."""


class ExportError(MffError):
    """An export that could not be written (nothing partial is left behind)."""


class WeightsError(MffError):
    """A network checkpoint that is missing, corrupt or does not fit the network."""


class ParamsError(MffError):
    """A method parameter that is unknown or out of range."""


class UnknownMethod(MffError):
    """A fusion method name that is not registered."""


class AlignmentError(MffError):
    """Frames that cannot be aligned, or a saved alignment that is unreadable or does not fit."""


class MissingExtra(MffError):
    """An optional extra (``raw``, ``microscopy``, ``napari``) is needed but not installed.

    Parameters
    ----------
    extra : str
        The extra's name; the message says ``pip install "mffgui[extra]"``.
    what : str
        What needs it, e.g. ``"camera RAW files"``.
    path : str or Path, optional
        The file concerned.
    """

    def __init__(self, extra: str, what: str, path: str | Path | None = None) -> None:
        self.extra = extra
        super().__init__(
            f"{what} need the optional extra '{extra}': pip install \"mffgui[{extra}]\"", path
        )


class Cancelled(MffError):
    """The user cancelled the running work."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
