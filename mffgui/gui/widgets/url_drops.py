"""How a widget treats file (URL) drags: one mixin instead of the same two handlers per widget."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["UrlDrags"]


class UrlDrags:
    """Mixin (before the Qt base class) for ``dragEnterEvent``/``dragMoveEvent``.

    A drag carrying URLs (files from the file manager) is accepted when
    :attr:`accept_url_drags` is true (the widget's ``dropEvent`` takes them) or ignored (it
    reaches the parent window, which opens the files); any other drag goes to the Qt base
    class.
    """

    accept_url_drags: ClassVar[bool] = True

    def _url_drag(self, event: Any, base: Any) -> None:
        if not event.mimeData().hasUrls():
            base(event)
        elif self.accept_url_drags:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragEnterEvent(self, event: Any) -> None:
        """Accept or ignore file drags (see :attr:`accept_url_drags`)."""
        self._url_drag(event, super().dragEnterEvent)  # type: ignore[misc]

    def dragMoveEvent(self, event: Any) -> None:
        """Accept or ignore file drags (see :attr:`accept_url_drags`)."""
        self._url_drag(event, super().dragMoveEvent)  # type: ignore[misc]
