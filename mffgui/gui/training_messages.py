"""Plain-language texts of the Train dialog (Qt-free, so they are tested without a display)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["data_hint", "stopped_message"]

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
    *Stacks / pairs* feed Fusion2Void only. Empty when nothing needs saying.
    """
    if arch == "gacn" and stacks and not sharp:
        return (
            "GACN learns from sharp, in-focus images only; the focus stacks under "
            "Stacks / pairs are used by Fusion2Void. Add sharp images or choose Fusion2Void."
        )
    return ""
