"""Fusion2Void networks: shapes, receptive field, builders and strict loading."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from mffgui.errors import WeightsError  # noqa: E402
from mffgui.models.fusion2void import (  # noqa: E402
    build_fusionnet,
    build_pair_model,
    build_recnet,
    infer_features,
    load_fusionnet,
    receptive_radius,
    split_state_dict,
)


def _conv_count(module) -> int:
    return sum(isinstance(m, torch.nn.Conv2d) for m in module.modules())


def test_shapes_and_output_range():
    torch.manual_seed(0)
    net = build_fusionnet({"features": 6})
    rec = build_recnet({"features": 6})
    a, b = torch.rand(2, 3, 23, 31), torch.rand(2, 3, 23, 31)
    f = net(a, b)
    assert f.shape == (2, 3, 23, 31)
    assert float(f.min()) > 0.0
    assert float(f.max()) < 1.0
    ra, rb = rec(a, b, f)
    assert ra.shape == rb.shape == (2, 3, 23, 31)


def test_architecture_follows_the_paper():
    net = build_fusionnet({"features": 32})
    # Encoder: 1 conv + 5 residual blocks x 2 convs, twice; decoder: 1 + 3 x 2 + 1.
    assert _conv_count(net.inc) == 11
    assert _conv_count(net.inc2) == 11
    assert _conv_count(net.outc) == 8
    assert net.inc[0].in_channels == 3
    assert net.inc[0].out_channels == 32
    assert net.outc[0].in_channels == 64
    assert net.outc[-2].out_channels == 3
    rec = build_recnet({"features": 32})
    assert _conv_count(rec) == 1 + 8 * 2 + 1
    assert rec.inc[0].in_channels == 9
    assert rec.inc[-1].out_channels == 6
    assert build_fusionnet().features == 32  # paper default


def test_receptive_field_is_exactly_the_computed_radius():
    torch.manual_seed(1)
    net = build_fusionnet({"features": 4}).double().eval()
    r = receptive_radius()
    size, cy, cx = 2 * r + 31, r + 15, r + 12
    a = torch.rand(1, 3, size, size, dtype=torch.float64)
    b = torch.rand(1, 3, size, size, dtype=torch.float64)
    a2 = a.clone()
    a2[0, :, cy, cx] += 0.5
    with torch.no_grad():
        diff = (net(a2, b) - net(a, b)).abs().amax(dim=1)[0]
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    cheb = torch.maximum((ys - cy).abs(), (xs - cx).abs())
    assert int(cheb.max()) <= r  # nothing changes outside the receptive field
    assert int(cheb.max()) == r  # and the field is not smaller than computed


def test_bad_model_args_raise_weights_error():
    with pytest.raises(WeightsError):
        build_fusionnet({"features": 0})
    with pytest.raises(WeightsError):
        build_fusionnet({"channels": 8})


def test_pair_model_state_dict_round_trip(tmp_path):
    torch.manual_seed(2)
    pair = build_pair_model({"features": 5})
    sd = pair.state_dict()
    fsd, rsd = split_state_dict(sd)
    assert fsd
    assert rsd
    assert infer_features(fsd) == 5
    net = load_fusionnet(sd)  # features inferred from the tensors
    x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x, y), pair.fusion.eval()(x, y))
    assert not net.training


def test_mismatched_state_dict_is_a_clear_error():
    sd = build_fusionnet({"features": 5}).state_dict()
    del sd["outc.0.weight"]
    with pytest.raises(WeightsError, match="do not fit"):
        load_fusionnet(sd, {"features": 5}, path="x.pt")
    with pytest.raises(WeightsError):
        load_fusionnet(build_fusionnet({"features": 5}).state_dict(), {"features": 6})
