"""Launch the mffgui desktop app: ``python main.py [FILES...]``."""

from mffgui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
