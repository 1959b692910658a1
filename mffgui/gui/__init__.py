"""The PySide6 desktop app (the only package besides :mod:`mffgui.app` that imports Qt).

Importing this package also guards against a reference-counting defect seen with PySide6
6.12 on CPython 3.11: every call of a Qt method that returns ``None`` or a ``bool`` drops one
reference to ``None``/``True``/``False`` without having taken it. CPython 3.12+ makes these
objects immortal, so the defect is harmless there; on 3.11 the counts reach zero after some
ten thousand calls (minutes of normal use) and the interpreter aborts with "deallocating None".
:func:`guard_singletons` detects the defect once and, only when present, gives the three
objects a count so large that it cannot run out (what CPython 3.12 does for every process).
"""

from __future__ import annotations

import sys

_GUARD = 1 << 40


def _qt_drops_none_references() -> bool:
    """Whether a void Qt call lowers ``None``'s reference count (the PySide6 defect)."""
    from PySide6.QtCore import QObject

    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        obj.setObjectName("probe")
    return sys.getrefcount(None) < before - 32


def guard_singletons() -> bool:
    """Make ``None``, ``True`` and ``False`` effectively immortal if PySide6 needs it.

    Returns
    -------
    bool
        True when the defect was found and the guard applied (CPython < 3.12 only).
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if sys.getrefcount(None) > _GUARD // 2:  # already guarded
        return True
    if not _qt_drops_none_references():
        return False
    import ctypes

    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython 3.11 object.
        ctypes.c_ssize_t.from_address(id(obj)).value += _GUARD
    return True


SINGLETONS_GUARDED = guard_singletons()
