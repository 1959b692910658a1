"""The registry of mffgui's networks: one :class:`NetworkSpec` per architecture.

Everything that differs between networks outside their own modules is read from here: the
method that runs the network (the method panel's trained-weights choice), how a checkpoint
becomes a model (:mod:`mffgui.models.runtime`), the bundled weights file
(:func:`mffgui.models.weights.bundled_weights`), the training task and how the Train dialog
offers it (:func:`mffgui.training.trainable_networks`), and the title the weights library shows.

Callables are named by lazy ``"module:attr"`` strings, so importing this module imports neither
torch nor the training package (the models layer never imports training). A new network is
registered with :func:`register_network`; see ``docs/ADDING_A_NETWORK.md``.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from mffgui.errors import MffError

__all__ = [
    "NetworkSpec",
    "get_spec",
    "network_specs",
    "register_network",
    "resolve",
    "spec_for_method",
    "unregister_network",
]

_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class NetworkSpec:
    """What mffgui needs to know about one network architecture.

    Attributes
    ----------
    arch : str
        Architecture id: checkpoint ``arch``, weights-index key, ``python -m mffgui.training``
        sub-command (``"gacn"``).
    title : str
        Short name in lists and messages (``"GACN"``); the weights library shows it.
    method : str
        Name of the registered fusion method that runs the network.
    builder : str
        ``"module:function"``; ``function(checkpoint) -> torch.nn.Module`` builds the network
        on the CPU from a :class:`~mffgui.models.weights.Checkpoint` (strict load, eval mode).
    bundled_weights : str or None
        File name in ``resources/weights`` recorded in ``weights.json`` under ``arch``; ``None``
        when the project ships no weights for it.
    training_task : str or None
        ``"module:Class"`` of the trainer's task (a
        :class:`mffgui.training.common.TrainTask`; its ``defaults`` fill the Train dialog);
        ``None`` = not trainable in the app.
    train_title : str
        The Train dialog's choice (``"GACN (supervised, synthetic pairs)"``); empty = ``title``.
    pair_only : bool
        Trains only on synthetic pairs made from sharp images (``--data``); ``False`` = also
        on the user's focus stacks and pairs (``--pairs``).
    channels_last : bool
        Run the network in ``torch.channels_last`` memory format (faster convolutions on the
        CPU for GACN; the results are the same).
    missing_weights : str
        The error message when no weights are given and none are bundled (how to get some).
    """

    arch: str
    title: str
    method: str
    builder: str
    bundled_weights: str | None = None
    training_task: str | None = None
    train_title: str = ""
    pair_only: bool = True
    channels_last: bool = False
    missing_weights: str = ""

    def __post_init__(self) -> None:
        for name in ("builder", "training_task"):
            ref = getattr(self, name)
            if ref is not None and not _REF.match(ref):
                raise ValueError(f"{self.arch}: {name} must be 'module:attr', got {ref!r}")

    @property
    def trainable(self) -> bool:
        """Whether the app can train this network (it names a training task)."""
        return self.training_task is not None

    def build(self, checkpoint: Any) -> Any:
        """The network of ``checkpoint`` on the CPU (``builder`` imported on first use)."""
        return resolve(self.builder)(checkpoint)

    def task_class(self) -> Any:
        """The training task class (imports the trainer module, hence torch).

        Raises
        ------
        MffError
            The network is not trainable.
        """
        if self.training_task is None:
            raise MffError(f"{self.title} cannot be trained in mffgui")
        return resolve(self.training_task)


def resolve(ref: str) -> Any:
    """The object named by a ``"module:attr"`` string."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_SPECS: dict[str, NetworkSpec] = {}


def register_network(spec: NetworkSpec) -> NetworkSpec:
    """Add ``spec`` to the registry (registering the same spec again is a no-op).

    Raises
    ------
    ValueError
        Another spec is registered under the same arch, or another arch names the same method.
    """
    old = _SPECS.get(spec.arch)
    if old is not None and old != spec:
        raise ValueError(f"network already registered: {spec.arch!r}")
    for other in _SPECS.values():
        if other.arch != spec.arch and other.method == spec.method:
            raise ValueError(f"method {spec.method!r} already runs network {other.arch!r}")
    _SPECS[spec.arch] = spec
    return spec


def unregister_network(arch: str) -> None:
    """Remove ``arch`` from the registry (tests and plug-ins that unload)."""
    _SPECS.pop(arch, None)


def network_specs() -> list[NetworkSpec]:
    """Every registered network, in registration order (the built-in ones first)."""
    return list(_SPECS.values())


def get_spec(arch: str) -> NetworkSpec:
    """The spec of ``arch``.

    Raises
    ------
    MffError
        Unknown architecture (the message lists the known ones).
    """
    try:
        return _SPECS[arch]
    except KeyError:
        known = ", ".join(_SPECS) or "none"
        raise MffError(f"unknown network {arch!r} (known: {known})") from None


def spec_for_method(method: str) -> NetworkSpec | None:
    """The spec of the network that method ``method`` runs, or ``None`` (a classical method)."""
    return next((s for s in _SPECS.values() if s.method == method), None)


register_network(
    NetworkSpec(
        arch="gacn",
        title="GACN",
        method="gacn",
        builder="mffgui.models.gacn:load_gacn",
        bundled_weights="gacn.pt",
        training_task="mffgui.training.gacn:GACNTask",
        train_title="GACN (supervised, synthetic pairs)",
        pair_only=True,
        channels_last=True,
        missing_weights="GACN needs network weights and none are bundled with this "
        "installation yet: pass --weights FILE (e.g. the official GACN.pkl) "
        "or choose a weights file in the method settings",
    )
)
register_network(
    NetworkSpec(
        arch="fusion2void",
        title="Fusion2Void",
        method="fusion2void",
        builder="mffgui.models.fusion2void:fusionnet_from_checkpoint",
        bundled_weights="fusion2void.pt",
        training_task="mffgui.training.fusion2void:Fusion2VoidTask",
        train_title="Fusion2Void (unsupervised, your stacks and/or sharp images)",
        pair_only=False,
        missing_weights="no Fusion2Void weights: the bundled resources/weights/fusion2void.pt "
        "is not installed; pass weights=FILE or train one with `python -m mffgui.training "
        "fusion2void --data DIR --out FILE`",
    )
)
