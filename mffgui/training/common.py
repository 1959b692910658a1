"""Network-independent training machinery shared by every ``python -m mffgui.training`` sub-command.

A sub-command describes its network with a :class:`TrainTask` and hands it to
:func:`run_training`, which owns everything else:

* device choice (:func:`mffgui.models.device.pick_device`), thread count, seeding and
  deterministic algorithms;
* the epoch/step loop, learning-rate schedule, validation after every epoch;
* checkpoints in the app's format (:func:`mffgui.models.weights.save_checkpoint`, atomic)
  after every epoch, with model, optimizer, epoch/step, config, metrics, ``model_args`` and RNG
  state, plus a weights-only copy of the best epoch; ``--resume`` continues exactly;
* clean stops: Ctrl-C, a ``stop`` line on stdin or the ``--max-minutes`` budget end the run
  after the current step, with a checkpoint; a stop during the last step of an epoch or its
  validation skips that validation (tasks poll :func:`check_stop` between batches), so Stop
  takes effect within a step or a validation batch;
* divergence: a non-finite loss, gradient or updated weight stops the run before that step
  is applied or saved, with an ``error`` event; the last good checkpoint stays in ``--out``
  untouched (a SIGKILL likewise leaves the last one written, as writes are atomic);
* progress events, as JSON lines with ``--jsonl`` (one object per line on stdout) or as text.

Batches must be a pure function of ``(seed, epoch, step)`` (see
:class:`mffgui.training.datasets.SyntheticPairs`), which is what makes resuming exact.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import random
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

import numpy as np

from mffgui.errors import MffError, WeightsError
from mffgui.models.weights import best_path
from mffgui.training import events

#: Hyper-parameters every task has (``None`` on the command line = task default or resumed).
COMMON_KEYS = (
    "epochs",
    "batch_size",
    "patch_size",
    "lr",
    "steps_per_epoch",
    "seed",
    "lr_decay",
    "lr_step",
    "val_count",
)


@dataclass(frozen=True)
class TrainDefaults:
    """The defaults every task declares: :data:`COMMON_KEYS` and the validation hold-out.

    ``TrainDefaults(...).with_options(**own)`` is a task's ``defaults`` dict.
    """

    epochs: int
    batch_size: int
    patch_size: int
    lr: float
    lr_decay: float
    lr_step: int
    val_count: int
    steps_per_epoch: int = 100
    seed: int = 0
    holdout: float = 0.05

    def with_options(self, **options: Any) -> dict[str, Any]:
        """These defaults followed by the task's own options (``name=default``)."""
        return {**asdict(self), **options}


#: Keys that may change when resuming (they do not alter the trajectory already taken).
RESUME_MUTABLE = {"epochs", "max_minutes", "device", "threads", "jsonl", "log_every", "val"}
#: Settings of one invocation only: never inherited from the checkpoint being resumed.
PER_INVOCATION = {"max_minutes", "device", "threads", "jsonl", "log_every", "resume", "init", "out"}


class TrainTask(Protocol):
    """What a network contributes to :func:`run_training`.

    Attributes
    ----------
    arch : str
        Checkpoint architecture name (``"gacn"``).
    defaults : dict
        Defaults of :data:`COMMON_KEYS` and of the task's own options.
    score_key : str
        Validation metric that picks the best epoch (higher is better).
    """

    arch: str
    defaults: dict[str, Any]
    score_key: str

    def setup(self, config: dict[str, Any], device: Any, log: EventLog) -> None:
        """Load data (train and validation sets) for ``config``."""

    def build_model(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """A fresh network and its builder ``model_args``."""

    def load_init(self, model: Any, path: str) -> dict[str, Any]:
        """Load initial weights into ``model`` (``--init``); returns provenance."""

    def batch(self, epoch: int, step: int) -> tuple[Any, ...]:
        """The training batch at ``(epoch, step)`` as tensors on the device."""

    def loss(self, model: Any, batch: tuple[Any, ...]) -> dict[str, Any]:
        """Loss terms; ``"loss"`` is back-propagated, the rest are logged."""

    def validate(self, model: Any) -> dict[str, float]:
        """Validation metrics of ``model`` (in eval mode, gradients off)."""


# -- events ------------------------------------------------------------------------------------


class EventLog:
    """Progress events: JSON lines on ``stream`` or short human-readable lines.

    The schema (one typed class per kind) and both output forms live in
    :mod:`mffgui.training.events`; the app parses the same lines with
    :func:`mffgui.training.events.parse_event`.

    Parameters
    ----------
    jsonl : bool
        One JSON object per event (``{"event": ..., ...}``) instead of text.
    stream : file, optional
        Defaults to ``sys.stdout``.
    """

    def __init__(self, jsonl: bool = False, stream: Any = None) -> None:
        self.jsonl = jsonl
        self.stream = stream if stream is not None else sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event of kind ``event`` (``time`` is added, UTC ISO 8601); fields its
        class does not name are written as given (:func:`~mffgui.training.events.make_event`)."""
        self.write(events.make_event(event, time=events.now_utc(), **fields))

    def write(self, event: events.Event) -> None:
        """Write one typed event (its ``time`` is set to now when missing)."""
        if event.time is None:
            event.time = events.now_utc()
        line = events.to_json(event) if self.jsonl else events.to_text(event)
        print(line, file=self.stream, flush=True)


# -- stopping ----------------------------------------------------------------------------------


class StopRequested(Exception):
    """Raised by :func:`check_stop` when a stop was asked for during validation."""


_ACTIVE: list[StopSignal] = []


def check_stop() -> None:
    """Tasks call this between validation batches: a pending stop ends the validation at once
    (the run then saves its checkpoint without this epoch's scores).

    Raises
    ------
    StopRequested
        A stop (Stop button, Ctrl-C, SIGTERM, time budget) is pending.
    """
    if _ACTIVE and _ACTIVE[-1].requested:
        raise StopRequested(_ACTIVE[-1].reason)


class StopSignal:
    """Set by Ctrl-C (SIGINT), SIGTERM or a ``stop`` line on stdin; polled between steps and
    between validation batches (:func:`check_stop`).

    A second Ctrl-C raises :class:`KeyboardInterrupt` as usual.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Ask the loop to stop after the current step."""
        if self.reason is None:
            self.reason = reason

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.reason is not None:
            raise KeyboardInterrupt
        self.request("interrupt" if signum == signal.SIGINT else "terminate")

    @contextlib.contextmanager
    def installed(self, watch_stdin: bool = True) -> Iterator[StopSignal]:
        """Install the signal handlers (main thread only) and the stdin watcher."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._on_signal)
        if watch_stdin:
            threading.Thread(target=self._watch_stdin, name="stop-on-stdin", daemon=True).start()
        _ACTIVE.append(self)
        try:
            yield self
        finally:
            _ACTIVE.remove(self)
            for sig, old in self._old.items():
                signal.signal(sig, old)
            self._old.clear()

    def _watch_stdin(self) -> None:
        try:
            for line in sys.stdin:
                if line.strip().lower() in ("stop", "q", "quit"):
                    self.request("stop on stdin")
                    return
        except (OSError, ValueError):  # no usable stdin (captured, closed)
            return


# -- reproducibility ---------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic algorithms."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - for third-party code using the global RNG
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def lr_at(config: dict[str, Any], epoch: int) -> float:
    """Step schedule: ``lr · lr_decay ** (epoch // lr_step)`` (the GACN code's schedule)."""
    step = max(1, int(config.get("lr_step") or 1))
    return float(config["lr"]) * float(config.get("lr_decay") or 1.0) ** (epoch // step)


# -- arguments ---------------------------------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every training sub-command."""
    g = parser.add_argument_group("data and output")
    g.add_argument(
        "--data",
        action="append",
        metavar="DIR",
        help="folder of sharp training images (repeatable; searched recursively)",
    )
    g.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="checkpoint written after every epoch (the best epoch also goes to "
        "FILE with .best before the suffix)",
    )
    g.add_argument(
        "--init",
        metavar="FILE",
        help="initial weights (fine-tuning): a checkpoint, or 'bundled' for the "
        "project's bundled weights",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out exactly where it stopped",
    )
    g.add_argument(
        "--val",
        metavar="DIR",
        help="folder of real pairs/stacks scored with Q^{AB/F} after every epoch",
    )
    h = parser.add_argument_group("schedule")
    h.add_argument("--epochs", type=int, help="total number of epochs")
    h.add_argument("--steps-per-epoch", type=int, dest="steps_per_epoch")
    h.add_argument("--batch-size", type=int, dest="batch_size")
    h.add_argument("--patch-size", type=int, dest="patch_size")
    h.add_argument("--lr", type=float, help="Adam learning rate")
    h.add_argument(
        "--lr-decay",
        type=float,
        dest="lr_decay",
        help="learning-rate factor applied every --lr-step epochs",
    )
    h.add_argument("--lr-step", type=int, dest="lr_step")
    h.add_argument(
        "--val-count",
        type=int,
        dest="val_count",
        help="number of held-out synthetic validation pairs",
    )
    h.add_argument("--seed", type=int, help="random seed (runs with equal seeds are identical)")
    h.add_argument(
        "--max-minutes",
        type=float,
        dest="max_minutes",
        help="stop cleanly (with a checkpoint) after this much wall time",
    )
    r = parser.add_argument_group("runtime")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    r.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)"
    )
    r.add_argument("--jsonl", action="store_true", help="print one JSON object per progress event")
    r.add_argument(
        "--log-every",
        type=int,
        default=10,
        dest="log_every",
        help="emit a step event every N steps",
    )


def resolve_config(
    task: TrainTask, args: argparse.Namespace, saved: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """Effective configuration: CLI values over the resumed config over the task defaults.

    When resuming, only :data:`RESUME_MUTABLE` keys may change; other CLI values that differ
    from the saved run are ignored (reported in the returned warnings).
    """
    cli = {
        k: v
        for k, v in vars(args).items()
        if k not in ("func", "argv", "command") and v is not None
    }
    config = dict(task.defaults)
    warnings: list[str] = []
    if saved is not None:
        config.update({k: v for k, v in saved.items() if k not in PER_INVOCATION})
        for k, v in cli.items():
            if k in RESUME_MUTABLE or k in ("resume", "out", "init"):
                config[k] = v
            elif k in saved and saved[k] != v and k in config:
                warnings.append(
                    f"--{k.replace('_', '-')} {v!r} ignored on resume (the run uses {saved[k]!r})"
                )
    else:
        config.update(cli)
    if not config.get("data"):
        raise MffError("no training data: give --data DIR")
    config["data"] = [str(Path(d)) for d in config["data"]]
    return config, warnings


# -- checkpoint helpers ------------------------------------------------------------------------


def resolve_init(arch: str, init: str | Path) -> Path:
    """The weights file meant by ``--init``: a path, or ``bundled`` for the project's own.

    Raises
    ------
    WeightsError
        ``bundled`` when this installation ships no weights for ``arch``.
    """
    if str(init).strip().lower() == "bundled":
        from mffgui.models.weights import bundled_weights

        path = bundled_weights(arch)
        if path is None:
            raise WeightsError(f"--init bundled: no bundled {arch} weights in this installation")
        return path
    return Path(init)


def export_weights(
    src: str | Path, dst: str | Path, arch: str, extra_meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write a weights-only copy of a checkpoint (no optimizer/RNG; small, app-loadable).

    Returns
    -------
    dict
        The ``meta`` written.
    """
    from mffgui.models.weights import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src, arch)
    meta = dict(ck.meta)
    meta.update(extra_meta or {})
    sd = {k: v.detach().to("cpu").clone() for k, v in ck.state_dict.items()}
    save_checkpoint(dst, arch, sd, ck.model_args, meta)
    return meta


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed: ``python -m mffgui.training <argv>``."""
    argv = getattr(args, "argv", None)
    if argv is None:
        argv = sys.argv[1:]
    return shlex.join(["python", "-m", "mffgui.training", *argv])


# -- the loop ----------------------------------------------------------------------------------


def run_training(
    task: TrainTask,
    args: argparse.Namespace,
    log: EventLog | None = None,
    watch_stdin: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> int:
    """Train ``task`` as configured by ``args``; returns the exit status (0 = ok).

    Parameters
    ----------
    task : TrainTask
    args : argparse.Namespace
        Parsed options of :func:`add_common_arguments` plus the task's own.
    log : EventLog, optional
        Defaults to one following ``args.jsonl``.
    watch_stdin : bool
        Stop on a ``stop`` line on stdin.
    on_step : callable, optional
        Called with the global step after every step (tests use it to stop a run).
    """
    import torch

    from mffgui.models.device import pick_device
    from mffgui.models.weights import save_checkpoint

    log = log or EventLog(bool(args.jsonl))
    out = Path(args.out)
    saved_obj: dict[str, Any] | None = None
    if args.resume:
        if not out.is_file():
            raise MffError("--resume: no checkpoint to resume from", out)
        try:
            saved_obj = torch.load(out, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(
                f"cannot read checkpoint ({type(exc).__name__}: {exc})", out
            ) from None
        if (
            not isinstance(saved_obj, dict)
            or saved_obj.get("arch") != task.arch
            or "optimizer" not in saved_obj
        ):
            raise WeightsError(f"not a resumable {task.arch} training checkpoint", out)
    config, warnings = resolve_config(task, args, saved_obj.get("config") if saved_obj else None)
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    device = pick_device(config.get("device") or "auto")
    seed = int(config["seed"])
    seed_everything(seed)
    for w in warnings:
        log.emit("warning", message=w)

    t_setup = time.monotonic()
    task.setup(config, device, log)
    model, model_args = task.build_model(config)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr_at(config, 0))
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "global_step": 0,
        "history": [],
        "best": None,
        "wall_time_s": 0.0,
        "init": None,
        "commands": [],
    }
    if saved_obj is not None:
        model.load_state_dict(saved_obj["model"], strict=True)
        opt.load_state_dict(saved_obj["optimizer"])
        for k in ("epoch", "step", "global_step", "best", "wall_time_s", "init", "commands"):
            state[k] = saved_obj.get(k, state[k])
        state["history"] = list(saved_obj.get("metrics") or [])
        rng = saved_obj.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
    elif config.get("init"):
        state["init"] = task.load_init(model, str(resolve_init(task.arch, config["init"])))
    log.emit(
        "start",
        arch=task.arch,
        device=str(device),
        resumed=saved_obj is not None,
        epoch=state["epoch"],
        step=state["step"],
        epochs=int(config["epochs"]),
        steps_per_epoch=int(config["steps_per_epoch"]),
        out=str(out),
        setup_s=round(time.monotonic() - t_setup, 2),
        config={k: v for k, v in config.items() if k not in ("data",)},
    )

    command = _command_line(args)
    state["commands"] = [*state["commands"], command]
    run_start = time.monotonic()
    wall_before = float(state["wall_time_s"])

    # The checkpoint in --out that this run may fall back on: the one resumed from, then the
    # last one written (``None``: this run has written none and resumed from none).
    last_good: dict[str, Any] | None = (
        {"epoch": state["epoch"], "step": state["step"], "global_step": state["global_step"]}
        if saved_obj is not None
        else None
    )

    def diverged(epoch: int, what: str) -> NoReturn:
        """Stop on a non-finite step: emit ``error``, keep ``--out`` as it is, raise."""
        step, gstep = state["step"] + 1, state["global_step"] + 1
        if last_good is not None:
            e, k = last_good["epoch"], last_good["step"]
            at = f"after {e} epoch{'s' if e != 1 else ''}" + (
                f" and {k} step{'s' if k != 1 else ''}" if k else ""
            )
            kept = f"the last good checkpoint {out} ({at}) is kept unchanged"
        else:
            kept = f"no checkpoint was written by this run ({out} left as it was)"
        msg = (
            f"training diverged at epoch {epoch + 1}, step {step} (global step {gstep}): "
            f"{what}; the step was not applied and {kept}. Start again with a lower --lr "
            f"(e.g. --init from the kept checkpoint)"
        )
        log.emit(
            "error",
            reason="non-finite",
            message=msg,
            epoch=epoch,
            step=step,
            global_step=gstep,
            checkpoint=str(out) if last_good is not None else None,
            checkpoint_epoch=(last_good or {}).get("epoch"),
            checkpoint_step=(last_good or {}).get("step"),
        )
        raise MffError(msg)

    def save(reason: str) -> None:
        nonlocal last_good
        bad = nonfinite_tensors(
            [*model.state_dict().items(), *_optimizer_tensors(opt.state_dict())]
        )
        if bad:  # never reached after the per-step checks; never write poisoned weights
            diverged(state["epoch"], f"non-finite values in {_names(bad)} before saving")
        state["wall_time_s"] = wall_before + (time.monotonic() - run_start)
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        meta = _meta(task, config, state, command)
        save_checkpoint(
            out,
            task.arch,
            _cpu_state(model),
            model_args,
            meta,
            optimizer=opt.state_dict(),
            epoch=state["epoch"],
            step=state["step"],
            global_step=state["global_step"],
            config=_jsonable(config),
            metrics=state["history"],
            best=state["best"],
            wall_time_s=state["wall_time_s"],
            init=state["init"],
            commands=state["commands"],
            rng=rng,
        )
        log.emit(
            "checkpoint",
            path=str(out),
            reason=reason,
            epoch=state["epoch"],
            step=state["step"],
            global_step=state["global_step"],
        )
        last_good = {
            "epoch": state["epoch"],
            "step": state["step"],
            "global_step": state["global_step"],
        }

    budget_s = float(config["max_minutes"]) * 60 if config.get("max_minutes") is not None else None
    stop = StopSignal()
    epochs = int(config["epochs"])
    steps = int(config["steps_per_epoch"])
    log_every = max(1, int(config.get("log_every") or 10))

    def stopped(epoch: int) -> int:
        """Save where the run is and end it cleanly. After an epoch's last step its
        validation is skipped (not redone on resume): the epoch counts as done."""
        if state["step"] >= steps:
            state["epoch"], state["step"] = epoch + 1, 0
        save(stop.reason or "stop")
        log.emit(
            "stopped",
            reason=stop.reason,
            epoch=state["epoch"],
            step=state["step"],
            resume=f"{command.split(' --resume')[0]} --resume"
            if "--resume" not in command
            else command,
        )
        return 0

    def budget_over() -> bool:
        if budget_s is not None and time.monotonic() - run_start >= budget_s:
            stop.request("time budget")
        return stop.requested

    with stop.installed(watch_stdin=watch_stdin):
        while state["epoch"] < epochs:
            epoch = state["epoch"]
            for group in opt.param_groups:
                group["lr"] = lr_at(config, epoch)
            model.train()
            sums: dict[str, float] = {}
            n_done = 0
            t_epoch = time.monotonic()
            while state["step"] < steps:
                if budget_over():
                    return stopped(epoch)
                batch = task.batch(epoch, state["step"])
                terms = task.loss(model, batch)
                vals = {
                    k: float(v.detach()) if hasattr(v, "detach") else float(v)
                    for k, v in terms.items()
                }
                # Every check comes before the weights could be harmed or written: a
                # diverged step is never applied, never saved (see ``diverged``).
                if not math.isfinite(vals["loss"]):
                    diverged(epoch, f"the loss is {vals['loss']}")
                opt.zero_grad(set_to_none=True)
                terms["loss"].backward()
                bad = nonfinite_tensors((n, p.grad) for n, p in model.named_parameters())
                if bad:
                    diverged(epoch, f"non-finite gradients in {_names(bad)}")
                opt.step()
                bad = nonfinite_tensors(model.state_dict().items())
                if bad:
                    diverged(epoch, f"the optimizer step made {_names(bad)} non-finite")
                state["step"] += 1
                state["global_step"] += 1
                n_done += 1
                for k, v in vals.items():
                    sums[k] = sums.get(k, 0.0) + v
                if state["step"] % log_every == 0 or state["step"] == steps:
                    el = time.monotonic() - t_epoch
                    log.emit(
                        "step",
                        epoch=epoch,
                        step=state["step"],
                        steps=steps,
                        global_step=state["global_step"],
                        lr=opt.param_groups[0]["lr"],
                        s_per_step=round(el / max(1, n_done), 3),
                        **{k: round(v, 6) for k, v in vals.items()},
                    )
                if on_step is not None:
                    on_step(state["global_step"])
            # End of an epoch: validate, record, checkpoint. A stop asked for during the last
            # step or the validation skips this epoch's validation.
            if budget_over():
                return stopped(epoch)
            model.eval()
            t_val = time.monotonic()
            try:
                with torch.no_grad():
                    metrics = task.validate(model)
            except StopRequested:
                return stopped(epoch)
            train_means = {k: v / max(1, n_done) for k, v in sums.items()}
            record = {
                "epoch": epoch + 1,
                "train": train_means,
                "val": metrics,
                "lr": opt.param_groups[0]["lr"],
                "epoch_s": round(time.monotonic() - t_epoch, 2),
                "val_s": round(time.monotonic() - t_val, 2),
            }
            state["history"].append(record)
            state["epoch"] = epoch + 1
            state["step"] = 0
            score = metrics.get(task.score_key)
            improved = score is not None and (
                state["best"] is None or score > state["best"]["score"]
            )
            if improved:
                state["best"] = {
                    "score": float(score),
                    "epoch": epoch + 1,
                    "key": task.score_key,
                    "val": metrics,
                }
            log.emit("epoch", **record, best_epoch=(state["best"] or {}).get("epoch"))
            save("epoch")
            if improved:
                bp = best_path(out)
                save_checkpoint(
                    bp,
                    task.arch,
                    _cpu_state(model),
                    model_args,
                    _meta(task, config, state, command),
                )
                log.emit(
                    "best", path=str(bp), epoch=epoch + 1, score=float(score), key=task.score_key
                )
    log.emit(
        "done",
        epochs=state["epoch"],
        global_step=state["global_step"],
        wall_time_s=round(wall_before + time.monotonic() - run_start, 1),
        best=state["best"],
        out=str(out),
    )
    return 0


def nonfinite_tensors(named: Iterable[tuple[str, Any]]) -> list[str]:
    """Names of the floating-point tensors in ``named`` holding a NaN or an infinity.

    ``None`` values (parameters without a gradient) and integer tensors are skipped. One
    device synchronisation for all tensors together, so it is cheap enough for every step.

    Parameters
    ----------
    named : iterable of (str, Tensor or None)

    Returns
    -------
    list of str
        The names, in the order given (empty when everything is finite).
    """
    import torch

    items = [
        (n, t)
        for n, t in named
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex())
    ]
    if not items:
        return []
    flags = torch.stack([torch.isfinite(t.detach()).all() for _n, t in items]).cpu()
    return [n for (n, _t), ok in zip(items, flags.tolist(), strict=True) if not ok]


def _optimizer_tensors(sd: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(name, tensor)`` of an optimizer ``state_dict``'s per-parameter state."""
    return [
        (f"optimizer.state.{i}.{k}", v)
        for i, st in sd.get("state", {}).items()
        for k, v in st.items()
    ]


def _names(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _cpu_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=events.json_default))


def _meta(
    task: TrainTask, config: dict[str, Any], state: dict[str, Any], command: str
) -> dict[str, Any]:
    last = state["history"][-1]["val"] if state["history"] else {}
    return _jsonable(
        {
            "name": f"{task.arch} trained with mffgui training",
            "trained_by": "python -m mffgui.training",
            "command": state["commands"][0] if state["commands"] else command,
            "commands": state["commands"],
            "data": config["data"],
            "init": state.get("init"),
            "epochs": state["epoch"],
            "global_step": state["global_step"],
            "wall_time_s": round(float(state["wall_time_s"]), 1),
            "validation": last,
            "best": state["best"],
            "seed": config.get("seed"),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
    )
