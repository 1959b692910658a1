"""Locate the bundled ``resources/`` folder (sample stack, weights, icons).

A source checkout or editable install uses ``resources/`` beside the package. A regular
install (wheel) puts the same files under ``<prefix>/share/mffgui/resources`` (the data files
declared in ``pyproject.toml``), where ``<prefix>`` is the environment the package was installed
into: ``sys.prefix``, the user base (``pip install --user``) or a ``--prefix`` folder.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

_SHARE = Path("share") / "mffgui" / "resources"


def _candidates() -> list[Path]:
    here = Path(__file__).resolve()
    out = [here.parent.parent / "resources"]
    # <prefix>/lib/pythonX.Y/site-packages/mffgui/resources.py -> <prefix>
    if len(here.parents) > 4:
        out.append(here.parents[4] / _SHARE)
    out += [Path(sys.prefix) / _SHARE, Path(site.getuserbase()) / _SHARE]
    return out


def resources_dir() -> Path:
    """The folder holding ``samples/``, ``weights/`` and ``icons/``.

    Returns the first existing candidate (checkout, then the install prefix of the package,
    ``sys.prefix``, the user base); the checkout path when none exists.
    """
    cands = _candidates()
    for c in cands:
        if (c / "samples").is_dir():
            return c
    return cands[0]


def sample_stack_dir() -> Path:
    """Folder of the bundled sample focus stack."""
    return resources_dir() / "samples" / "sample-stack"


def weights_dir() -> Path:
    """Folder of the bundled network weights and ``weights.json``."""
    return resources_dir() / "weights"
