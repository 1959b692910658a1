"""mffgui: multi-focus image fusion (focus stacking)."""

__version__ = "0.1.0"
