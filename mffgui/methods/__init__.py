"""Fusion methods behind one protocol; importing this package registers the built-ins."""

from mffgui.methods.base import FusionMethod, MethodInfo, Params, param
from mffgui.methods.registry import get_method, list_methods, register_method

# Built-in methods register themselves on import. Network adapters import torch lazily.
from mffgui.methods import classical  # noqa: F401  isort: skip
from mffgui.methods import fusion2void  # noqa: F401  isort: skip
from mffgui.methods import gacn  # noqa: F401  isort: skip
from mffgui.methods import halofree  # noqa: F401  isort: skip

__all__ = [
    "FusionMethod",
    "MethodInfo",
    "Params",
    "get_method",
    "list_methods",
    "param",
    "register_method",
]
