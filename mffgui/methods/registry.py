"""Registry of fusion methods: ``register_method``, ``get_method``, ``list_methods``."""

from __future__ import annotations

from mffgui.errors import UnknownMethod
from mffgui.methods.base import FusionMethod, MethodInfo

_REGISTRY: dict[str, type] = {}

DEFAULT_METHOD = "halofree"
"""The method the app, ``mffgui fuse``, batch and the napari widget use unless told otherwise
(issue 17's acceptance bar, docs/BENCHMARKS.md; ``depthmap`` was the default before)."""


def register_method(cls: type) -> type:
    """Class decorator registering a :class:`FusionMethod` under ``cls.info.name``."""
    info: MethodInfo = cls.info  # type: ignore[attr-defined]
    if info.name in _REGISTRY and _REGISTRY[info.name] is not cls:
        raise ValueError(f"method already registered: {info.name!r}")
    _REGISTRY[info.name] = cls
    return cls


def unregister_method(name: str) -> None:
    """Remove the method registered as ``name`` (tests and plug-ins that unload)."""
    _REGISTRY.pop(name.lower(), None)


def _ensure_builtin() -> None:
    # Importing the package registers the built-in methods.
    import mffgui.methods  # noqa: F401


def get_method(name: str) -> FusionMethod:
    """A new instance of the method registered as ``name``.

    Raises
    ------
    UnknownMethod
        With the list of known methods.
    """
    _ensure_builtin()
    try:
        return _REGISTRY[name.lower()]()
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownMethod(f"unknown method {name!r}; available: {known}") from None


def list_methods() -> list[MethodInfo]:
    """Infos of every registered method, classical ones first, then by name."""
    _ensure_builtin()
    infos = [c.info for c in _REGISTRY.values()]  # type: ignore[attr-defined]
    return sorted(infos, key=lambda i: (i.kind != "classical", i.name))


def default_method_name() -> str:
    """:data:`DEFAULT_METHOD` when registered, else the first classical method, else the first.

    Raises
    ------
    UnknownMethod
        When no method is registered at all.
    """
    infos = list_methods()
    names = [i.name for i in infos]
    if DEFAULT_METHOD in names:
        return DEFAULT_METHOD
    classical = [i.name for i in infos if i.kind == "classical"]
    if classical:
        return classical[0]
    if names:
        return names[0]
    raise UnknownMethod("no fusion methods are registered")
