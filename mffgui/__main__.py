"""``python -m mffgui``: the CLI, or the GUI without a sub-command."""

from mffgui.cli import main

raise SystemExit(main())
