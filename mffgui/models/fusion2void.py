"""Fusion2Void networks: FusionNet (the fusion network) and RecNet (the inpainting network).

H. Lin, Y. Lin, J. Xia, L. Fan, F. Li, Y. Wang, X. Ding, "Fusion2Void: Unsupervised multi-focus
image fusion guided by image inpainting", IEEE TCSVT. The layer order, padding and residual-block
form follow the authors' released network definition: every convolution is 3x3, stride 1, zero
padding 1; a residual block is ``relu(x + conv(relu(conv(x))))``.

torch is imported lazily (inside :func:`torch_modules`) so importing this module stays cheap; the
classes are created on first use and cached.
"""

from __future__ import annotations

from functools import cache
from typing import Any

DEFAULT_FEATURES = 32
"""Feature width F of the paper's configuration."""

ENCODER_BLOCKS = 5
DECODER_BLOCKS = 3
RECNET_BLOCKS = 8


def fusionnet_depth() -> int:
    """Number of stacked 3x3 convolutions on the longest input-to-output path of FusionNet."""
    encoder = 1 + 2 * ENCODER_BLOCKS
    decoder = 1 + 2 * DECODER_BLOCKS + 1
    return encoder + decoder


def receptive_radius() -> int:
    """Receptive-field radius of FusionNet in pixels.

    Each 3x3 convolution (stride 1) grows the field by one pixel on every side, so an output
    pixel depends only on input pixels within this Chebyshev distance. With zero padding, tiles
    overlapping by at least this many pixels give exactly the whole-image result.
    """
    return fusionnet_depth()


@cache
def torch_modules() -> dict[str, Any]:
    """The torch classes (``ResBlock``, ``FusionNet``, ``RecNet``), built on first use."""
    import torch
    from torch import nn

    def conv(cin: int, cout: int) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)

    class ResBlock(nn.Module):
        """``relu(x + conv(relu(conv(x))))`` with ``F`` channels in and out."""

        def __init__(self, features: int) -> None:
            super().__init__()
            self.conv1 = nn.Sequential(
                conv(features, features), nn.ReLU(inplace=True), conv(features, features)
            )
            self.nonlinear = nn.ReLU(inplace=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.nonlinear(self.conv1(x) + x)

    def encoder(cin: int, features: int, blocks: int) -> nn.Sequential:
        return nn.Sequential(
            conv(cin, features), nn.ReLU(inplace=True), *[ResBlock(features) for _ in range(blocks)]
        )

    class FusionNet(nn.Module):
        """Two-encoder fusion network.

        ``forward(a, b)`` takes two ``(B, 3, H, W)`` float tensors in ``[0, 1]`` and returns the
        fused ``(B, 3, H, W)`` image in ``(0, 1)`` (sigmoid output). The two encoders do not share
        weights, so the network is not symmetric; the method averages both input orders.
        """

        def __init__(self, features: int = DEFAULT_FEATURES) -> None:
            super().__init__()
            self.features = int(features)
            self.inc = encoder(3, features, ENCODER_BLOCKS)
            self.inc2 = encoder(3, features, ENCODER_BLOCKS)
            self.outc = nn.Sequential(
                conv(2 * features, features),
                nn.ReLU(inplace=True),
                *[ResBlock(features) for _ in range(DECODER_BLOCKS)],
                conv(features, 3),
                nn.Sigmoid(),
            )

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.outc(torch.cat((self.inc(a), self.inc2(b)), dim=1))

    class RecNet(nn.Module):
        """Inpainting network used only in training.

        ``forward(masked_a, masked_b, fused)`` takes three ``(B, 3, H, W)`` tensors and returns
        the reconstructions ``(rec_a, rec_b)``, each ``(B, 3, H, W)`` (no output activation).
        """

        def __init__(self, features: int = DEFAULT_FEATURES) -> None:
            super().__init__()
            self.features = int(features)
            self.inc = nn.Sequential(
                conv(9, features),
                nn.ReLU(inplace=True),
                *[ResBlock(features) for _ in range(RECNET_BLOCKS)],
                conv(features, 6),
            )

        def forward(
            self, masked_a: torch.Tensor, masked_b: torch.Tensor, fused: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.inc(torch.cat((masked_a, masked_b, fused), dim=1))
            return out[:, 0:3], out[:, 3:6]

    return {"FusionNet": FusionNet, "RecNet": RecNet, "ResBlock": ResBlock}


def _features(model_args: dict[str, Any] | None) -> int:
    from mffgui.errors import WeightsError

    args = dict(model_args or {})
    unknown = set(args) - {"features"}
    if unknown:
        raise WeightsError(f"unknown Fusion2Void model_args: {sorted(unknown)}")
    f = args.get("features", DEFAULT_FEATURES)
    if not isinstance(f, int) or isinstance(f, bool) or f < 1:
        raise WeightsError(f"Fusion2Void model_args 'features' must be a positive int, got {f!r}")
    return f


def build_fusionnet(model_args: dict[str, Any] | None = None) -> Any:
    """A new :class:`FusionNet` from checkpoint ``model_args`` (``{"features": F}``, default 32).

    Raises
    ------
    WeightsError
        For unknown or invalid ``model_args``.
    """
    return torch_modules()["FusionNet"](_features(model_args))


def build_recnet(model_args: dict[str, Any] | None = None) -> Any:
    """A new :class:`RecNet` from ``model_args`` (``{"features": F}``, default 32)."""
    return torch_modules()["RecNet"](_features(model_args))


def split_state_dict(state_dict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a project checkpoint's state_dict into FusionNet and RecNet parts.

    Project checkpoints store ``fusion.*`` and ``rec.*`` keys; the authors' Lightning
    checkpoints use ``FusionNet.*`` and ``RecNet.*``; a bare FusionNet state_dict has neither
    prefix. Returns ``(fusion_sd, rec_sd)`` (``rec_sd`` may be empty).
    """
    fusion: dict[str, Any] = {}
    rec: dict[str, Any] = {}
    for k, v in state_dict.items():
        for prefix, dst in (
            ("fusion.", fusion),
            ("FusionNet.", fusion),
            ("rec.", rec),
            ("RecNet.", rec),
        ):
            if k.startswith(prefix):
                dst[k[len(prefix) :]] = v
                break
        else:
            fusion[k] = v
    return fusion, rec


def infer_features(fusion_sd: dict[str, Any]) -> int | None:
    """Feature width F read from a FusionNet state_dict (``inc.0.weight`` is ``(F, 3, 3, 3)``)."""
    w = fusion_sd.get("inc.0.weight")
    return int(w.shape[0]) if w is not None and getattr(w, "ndim", 0) == 4 else None


def load_fusionnet(
    state_dict: dict[str, Any], model_args: dict[str, Any] | None = None, path: Any = None
) -> Any:
    """A FusionNet in eval mode with ``state_dict`` loaded strictly.

    Raises
    ------
    WeightsError
        When the tensors do not fit the network (names or shapes), naming ``path``.
    """
    from mffgui.errors import WeightsError

    fusion_sd, _ = split_state_dict(state_dict)
    args = dict(model_args or {})
    if "features" not in args:
        f = infer_features(fusion_sd)
        if f is not None:
            args["features"] = f
    net = build_fusionnet(args)
    try:
        net.load_state_dict(fusion_sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"weights do not fit the Fusion2Void FusionNet: {first}", path) from None
    return net.eval()


def fusionnet_from_checkpoint(checkpoint: Any) -> Any:
    """The FusionNet of a :class:`~mffgui.models.weights.Checkpoint` (the network spec's
    builder): :func:`load_fusionnet` on its state_dict and model_args."""
    return load_fusionnet(checkpoint.state_dict, checkpoint.model_args, checkpoint.path)


def build_pair_model(model_args: dict[str, Any] | None = None) -> Any:
    """FusionNet and RecNet in one module (``.fusion``, ``.rec``) for joint training.

    Its state_dict keys are ``fusion.*`` and ``rec.*``, the layout of project checkpoints that
    :func:`load_fusionnet` reads.
    """
    from torch import nn

    class Fusion2VoidPair(nn.Module):
        """Container of the two jointly trained networks."""

        def __init__(self, fusion: nn.Module, rec: nn.Module) -> None:
            super().__init__()
            self.fusion = fusion
            self.rec = rec

    return Fusion2VoidPair(build_fusionnet(model_args), build_recnet(model_args))
