"""What a training run of the Train dialog is set up from (Qt-free): the networks it offers,
its settings, the trainer's command line, and the dialog's plain-language texts.

:data:`TRAINABLE_NETWORKS` (read from the network specs, :mod:`mffgui.models.specs`) is the
one place with network-specific constants of the dialog.
Everything here is re-exported by :mod:`mffgui.training.session`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mffgui.errors import MffError
from mffgui.models.specs import NetworkSpec
from mffgui.training import api, trainable_networks

__all__ = [
    "TRAINABLE_NETWORKS",
    "RunSettings",
    "TrainableNetwork",
    "command_args",
    "data_hint",
    "duration_text",
    "source_folders",
    "stack_network",
    "stopped_message",
    "task_defaults",
    "trainable_network",
]


# -- the networks the dialog trains (the one place with arch-specific constants) ----------------


@dataclass(frozen=True)
class TrainableNetwork:
    """A network the Train dialog offers (a view of its
    :class:`~mffgui.models.specs.NetworkSpec`).

    Attributes
    ----------
    arch : str
        Sub-command of ``python -m mffgui.training`` and the method/weights arch.
    title : str
        The dialog's choice (``"GACN (supervised, synthetic pairs)"``).
    label : str
        Short name in messages (``"GACN"``).
    uses_stacks : bool
        Also learns from the user's focus stacks/pairs (``--pairs``); else only from sharp
        images (``--data``).
    task : str
        ``"module:Class"`` of the trainer's task; its ``defaults`` fill the dialog.
    """

    arch: str
    title: str
    label: str
    uses_stacks: bool
    task: str

    @classmethod
    def from_spec(cls, spec: NetworkSpec) -> TrainableNetwork:
        """The dialog's view of a trainable spec."""
        title = spec.train_title or spec.title
        return cls(spec.arch, title, spec.title, not spec.pair_only, spec.training_task or "")


class _TrainableNetworks(Mapping[str, TrainableNetwork]):
    """Read-only ``{arch: TrainableNetwork}`` of :func:`mffgui.training.trainable_networks`,
    read anew on every access (a network registered later is offered too)."""

    def _current(self) -> dict[str, TrainableNetwork]:
        return {s.arch: TrainableNetwork.from_spec(s) for s in trainable_networks()}

    def __getitem__(self, arch: str) -> TrainableNetwork:
        return self._current()[arch]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"TRAINABLE_NETWORKS({list(self)})"


TRAINABLE_NETWORKS: Mapping[str, TrainableNetwork] = _TrainableNetworks()
"""The dialog's networks, in the order offered: the trainable network specs."""


def trainable_network(arch: str) -> TrainableNetwork:
    """The entry of ``arch`` in :data:`TRAINABLE_NETWORKS` (:class:`MffError` if none)."""
    try:
        return TRAINABLE_NETWORKS[arch]
    except KeyError:
        raise MffError(f"the Train dialog cannot train {arch!r}") from None


def stack_network() -> str:
    """The network a loaded focus stack trains by default (the first that uses stacks)."""
    return next(n.arch for n in TRAINABLE_NETWORKS.values() if n.uses_stacks)


def task_defaults(arch: str) -> dict[str, Any]:
    """The trainer's defaults for ``arch`` (epochs, batch size, patch size, ...)."""
    trainable_network(arch)  # the dialog's error for a network it does not offer
    return api.task_defaults(arch)


# -- plain-language texts ----------------------------------------------------------------------

_REASONS = {
    "stop on stdin": "Stopped by you",
    "interrupt": "Stopped by you",
    "terminate": "Stopped (the trainer was asked to end)",
    "time budget": "Stopped: the time budget is used up",
}


def stopped_message(reason: str | None, epoch: int, step: int | None) -> str:
    """Status line after the trainer's ``stopped`` event.

    Parameters
    ----------
    reason : str or None
        The event's ``reason`` (``"stop on stdin"`` when the user pressed Stop).
    epoch : int
        The epoch the run stopped in (0-based, as in the event).
    step : int or None
        Steps done in that epoch.

    Returns
    -------
    str
        E.g. ``"Stopped by you; resume any time (saved at epoch 2, step 14)."`` or, at the
        end of an epoch, ``"... (saved after epoch 2)."``.
    """
    head = _REASONS.get(str(reason or ""), "Stopped")
    if not step and epoch > 0:
        where = f"after epoch {int(epoch)}"
    else:
        where = f"at epoch {int(epoch) + 1}" + (f", step {step}" if step is not None else "")
    return f"{head}; resume any time (saved {where})."


def data_hint(arch: str, sharp: Sequence[str], stacks: Sequence[str]) -> str:
    """Warning under the data folders when the chosen network cannot use what is listed.

    GACN learns from sharp, in-focus images (it blurs them itself); focus stacks listed under
    *Stacks / pairs* feed the networks that use stacks (Fusion2Void) only. Empty when nothing
    needs saying.
    """
    net = TRAINABLE_NETWORKS.get(arch)
    if net is not None and not net.uses_stacks and stacks and not sharp:
        other = trainable_network(stack_network()).label
        return (
            f"{net.label} learns from sharp, in-focus images only; the focus stacks under "
            f"Stacks / pairs are used by {other}. Add sharp images or choose {other}."
        )
    return ""


# -- settings and the command line --------------------------------------------------------------


@dataclass
class RunSettings:
    """The Train dialog's settings of a run (what :func:`command_args` turns into options)."""

    arch: str
    sharp: list[str] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)
    val: str = ""
    epochs: int = 1
    steps_per_epoch: int = 1
    batch_size: int = 1
    patch_size: int = 64
    init: str = ""
    device: str = "auto"
    minutes: float = 0.0
    threads: int = 0
    log_every: int = 5
    options: str = ""
    name: str = ""
    notes: str = ""
    keep_best: bool = True

    def side_file(self) -> dict[str, Any]:
        """The settings kept in a run's side file (``TrainingRun.settings``)."""
        return {
            "sharp": list(self.sharp),
            "stacks": list(self.stacks),
            "val": self.val,
            "name": self.name,
            "notes": self.notes,
            "keep_best": self.keep_best,
            "device": self.device,
            "minutes": self.minutes,
            "threads": self.threads,
            "log_every": self.log_every,
            "options": self.options,
        }


def command_args(s: RunSettings, out: Path, resume: bool = False) -> list[str]:
    """Arguments after ``python -m mffgui.training`` for the settings ``s``.

    With ``resume`` the checkpoint ``out`` keeps the run's data folders, steps, batch and
    patch size (only the per-invocation options are passed).

    Raises
    ------
    MffError
        No training data, or a missing folder/file.
    """
    net = trainable_network(s.arch)
    sharp, stacks = list(s.sharp), list(s.stacks) if net.uses_stacks else []
    if resume:
        sharp, stacks = [], []
    elif not sharp and not stacks:
        raise MffError(
            "add at least one folder of training images"
            + (" (sharp images or your stacks)" if net.uses_stacks else " (sharp, in-focus images)")
        )
    for p in [*sharp, *stacks]:
        if not Path(p).exists():
            raise MffError("training data folder not found", p)
    val = s.val.strip()
    if val and not Path(val).is_dir():
        raise MffError("validation folder not found", val)
    args = [s.arch]
    for d in sharp:
        args += ["--data", d]
    for d in stacks:
        args += ["--pairs", d]
    args += ["--out", str(out), "--jsonl", "--epochs", str(s.epochs), "--device", s.device]
    args += ["--log-every", str(s.log_every)]
    if resume:
        args.append("--resume")
    else:
        args += ["--steps-per-epoch", str(s.steps_per_epoch), "--batch-size", str(s.batch_size)]
        args += ["--patch-size", str(s.patch_size)]
        if s.init:
            if not Path(s.init).is_file():
                raise MffError("checkpoint to start from not found", s.init)
            args += ["--init", s.init]
    if val:
        args += ["--val", val]
    if s.minutes > 0:
        args += ["--max-minutes", f"{s.minutes:g}"]
    if s.threads > 0:
        args += ["--threads", str(s.threads)]
    try:
        args += shlex.split(s.options)
    except ValueError as err:
        raise MffError(f"trainer options: {err}") from None
    return args


def source_folders(sources: Iterable[Any]) -> list[str]:
    """Folders of ``sources`` (anything with a ``path``), in order; else the bundled sample's.

    The Train dialog's default data when it is opened from the main window.
    """
    out: list[str] = []
    for src in sources:
        path = getattr(src, "path", None)
        if path is not None and str(Path(path).parent) not in out:
            out.append(str(Path(path).parent))
    if not out:
        from mffgui.resources import sample_stack_dir

        try:
            sample = sample_stack_dir()
        except (OSError, MffError):
            return out
        if sample.is_dir():
            out.append(str(sample))
    return out


def duration_text(secs: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    secs = max(0, round(secs))
    if secs < 60:
        return f"{secs} s"
    if secs < 3600:
        return f"{secs // 60} min {secs % 60:02d} s"
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min"
