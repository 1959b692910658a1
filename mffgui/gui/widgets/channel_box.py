"""The channel selector of multi-channel microscopy stacks: which channel guides the depth map."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox

from mffgui.gui.channels import ChannelInfo
from mffgui.gui.convert import channel_colors

SUM_TEXT = "Sum of channels"


class ChannelBox(QComboBox):
    """ "Sum of channels" plus one entry per channel (named from the OME metadata).

    Hidden for ordinary photos (:meth:`set_info` with ``None``). Choosing an entry emits
    :attr:`channelChosen` with the choice as the settings spell it (``"sum"`` or a 1-based
    number).
    """

    channelChosen = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setToolTip(
            "Multi-channel stack: the channel the depth map is computed from (or the sum of "
            "all, each scaled by its maximum). Every channel is fused with that one depth "
            "map; channels are never mixed."
        )
        self.info: ChannelInfo | None = None
        self.currentIndexChanged.connect(self._on_index)

    def set_info(self, info: ChannelInfo | None, choice: str) -> None:
        """List the channels of ``info`` and select ``choice`` (``None`` hides the box)."""
        self.blockSignals(True)
        try:
            if info != self.info:
                self.clear()
                if info is not None:
                    self.addItem(SUM_TEXT, "sum")
                    colours = channel_colors(info.count)
                    for k, label in enumerate(info.labels()):
                        self.addItem(label, str(k + 1))
                        self.setItemData(
                            k + 1,
                            f"shown in {colours[k]} in the fused view",
                            Qt.ItemDataRole.ToolTipRole,
                        )
                self.info = info
            index = self.findData(choice)
            self.setCurrentIndex(max(index, 0))
        finally:
            self.blockSignals(False)

    @property
    def choice(self) -> str:
        """``"sum"`` or the 1-based channel number chosen."""
        data = self.currentData()
        return str(data) if data is not None else "sum"

    def select(self, choice: str) -> None:
        """Choose ``choice`` (``"sum"`` or a 1-based number) as the user would."""
        index = self.findData(choice)
        if index >= 0:
            self.setCurrentIndex(index)

    def _on_index(self, index: int) -> None:
        if index >= 0:
            self.channelChosen.emit(self.choice)


__all__ = ["SUM_TEXT", "ChannelBox"]
