"""Widgets of the main window: image views, result panel, source list, method panel, export."""
