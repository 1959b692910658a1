"""The parameter form is generated from each method's Params metadata."""
# ruff: noqa: F811 - pytest fixtures imported from gui_support are re-bound as arguments

from __future__ import annotations

import dataclasses

import pytest
from gui_support import config_dir, slow_method  # noqa: F401 - fixtures
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from mffgui.errors import ParamsError
from mffgui.gui.widgets.method_panel import HIDDEN_FIELDS, MethodPanel
from mffgui.methods import list_methods


@pytest.fixture
def panel(qtbot, slow_method):
    p = MethodPanel(list_methods())
    qtbot.addWidget(p)
    return p


def test_every_method_gets_a_form_matching_its_params(panel):
    for info in list_methods():
        panel.set_method(info.name)
        assert panel.method == info.name
        described = [d for d in info.params.describe() if d["name"] not in HIDDEN_FIELDS]
        assert [f.name for f in panel._fields] == [d["name"] for d in described]
        for f, d in zip(panel._fields, described, strict=True):
            w = f.widget
            if isinstance(w, QSpinBox | QDoubleSpinBox):
                if d["min"] is not None:
                    assert w.minimum() == pytest.approx(d["min"])
                if d["max"] is not None:
                    assert w.maximum() == pytest.approx(d["max"])
            if d.get("choices"):
                assert isinstance(w, QComboBox)
                assert [w.itemText(i) for i in range(w.count())] == [str(c) for c in d["choices"]]
            if isinstance(w, QLineEdit) and d["type"] is float:  # tiny floats: 1e-6
                assert float(w.text()) == d["default"]
            if d["help"]:
                assert d["help"] in w.toolTip()
        # the defaults survive the round trip through the widgets
        assert panel.params() == info.params()


def test_edits_reach_the_params(panel):
    panel.set_method("test-slow")
    panel.set_values({"seconds": 2.5, "tag": 7, "ignore_cancel": True})
    p = panel.params()
    assert (p.seconds, p.tag, p.ignore_cancel) == (2.5, 7, True)
    panel.reset()
    assert panel.params() == panel.methods["test-slow"].params()


def test_widget_types(panel):
    panel.set_method("test-slow")
    kinds = {f.name: type(f.widget) for f in panel._fields}
    assert kinds == {
        "seconds": QDoubleSpinBox,
        "tag": QSpinBox,
        "ignore_cancel": QCheckBox,
        "lazy_maps": QCheckBox,
    }


def test_network_method_has_weights_file_and_device(panel):
    nets = [m for m in list_methods() if m.kind == "network"]
    assert nets, "no network method registered"
    info = nets[0]
    panel.set_method(info.name)
    assert panel.device.isEnabled()
    names = {f.name for f in panel._fields}
    assert "device" not in names  # chosen by the device selector
    fields = {f.name for f in dataclasses.fields(info.params)}
    if "weights" in fields:
        f = next(f for f in panel._fields if f.name == "weights")
        assert f.kind == "file"
        assert isinstance(f.edit, QLineEdit)
        f.edit.setText("/no/such/file.pt")
        assert panel.values()["weights"] == "/no/such/file.pt"


def test_device_selector_enables_only_available(panel):
    panel.set_available_devices(["cpu"])
    model = panel.device.model()
    enabled = {
        panel.device.itemData(i): model.item(i).isEnabled() for i in range(panel.device.count())
    }
    assert enabled == {"auto": True, "cpu": True, "cuda": False, "mps": False}
    panel.set_device("cuda")
    assert panel.device_choice == "auto"
    panel.set_device("cpu")
    assert panel.device_choice == "cpu"


def test_out_of_range_values_are_rejected_by_params():
    info = next(m for m in list_methods() if any(d["max"] is not None for d in m.params.describe()))
    d = next(d for d in info.params.describe() if d["max"] is not None)
    with pytest.raises(ParamsError):
        info.params.from_mapping({d["name"]: d["max"] + 1})
