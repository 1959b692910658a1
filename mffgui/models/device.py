"""Device choice for network methods: ``auto`` = CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

from typing import Any

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Devices usable on this machine, best first (always ends with ``"cpu"``)."""
    import torch

    out = []
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    out.append("cpu")
    return out


def pick_device(pref: str = "auto") -> Any:
    """A ``torch.device`` for a preference in :data:`DEVICE_CHOICES`.

    Raises
    ------
    MffError
        When a device is forced that this machine does not have.
    """
    import torch

    from mffgui.errors import MffError

    pref = (pref or "auto").lower()
    avail = available_devices()
    if pref == "auto":
        return torch.device(avail[0])
    if pref not in DEVICE_CHOICES:
        raise MffError(f"unknown device {pref!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if pref not in avail:
        raise MffError(f"device {pref!r} is not available here (available: {', '.join(avail)})")
    return torch.device(pref)


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is a (CUDA/MPS) out-of-memory error."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
