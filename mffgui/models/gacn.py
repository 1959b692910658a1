"""The GACN network exactly as published, for inference and for training.

B. Ma, X. Yin, D. Wu et al., "End-to-end learning for simultaneously generating decision map and
multi-focus image fusion result", Neurocomputing 470 (2022) 204–216 (arXiv 2010.08751); official
code ``Keep-Passion/GACN`` (LGPL-2.1). This is an independent re-implementation of that network's
mathematics. Parameter names match the official ``state_dict`` so its ``GACN.pkl`` loads strictly.

Pipeline for two gray images ``a`` and ``b`` (``(B, 1, H, W)`` float32 in ``[0, 1]``):

1. **Siamese features** (shared weights, both images in one batch): four conv(3×3)–ReLU–BN blocks
   of 16 channels, each followed by a channel squeeze-excitation (CSE), densely concatenated
   into 64 channels.
2. **Channel spatial frequency** of each feature channel (squared right/down differences with
   zero padding, summed over an 11×11 zero-padded window) and the soft comparison
   ``sigmoid(1000 · (SF_a − SF_b))`` (64 channels).
3. **Decision path**: four conv blocks 64→48→32→16→1, each preceded and the last followed by a
   spatial squeeze-excitation (SSE, 7×7); the result is the *logit* map.
4. **Decision map** ``sigmoid(1000 · logit)`` (weight of ``a``), and the **boundary-guided
   filter** (BGF): a Gaussian blur (9×9, σ = 8) of the map marks a boundary band, inside which
   the map is replaced by a guided filter (r = 3, ε = 0.1) of it guided by the provisional fused
   gray image.

Locality (what tiling must know): every step is local except the CSE layers, whose global
average pool spans the whole image of each sample. :meth:`GACN.features` therefore accepts
precomputed CSE scales so a tile can use whole-image statistics (see :mod:`mffgui.methods.gacn`).
The receptive-field radius of the BGF output is :data:`RECEPTIVE_RADIUS` pixels.

Differentiability: :meth:`GACN.forward` is built from differentiable torch operations only
(``torch.where`` masks in the boundary band carry zero gradient, as in the official code), so
training can back-propagate through the logits, the decision map, the BGF map and the fused
image. Tiling, running arg-max and numpy conversion live outside this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from mffgui.models.weights import Checkpoint

SF_RADIUS = 5
"""Half-width of the spatial-frequency summation window (11×11)."""
SHARPNESS = 1000.0
"""Slope of the two ``sigmoid(1000 · x)`` soft comparisons of the official network."""
BLUR_RADIUS = 4
BLUR_SIGMA = 8.0
GF_RADIUS = 3
GF_EPS = 0.1
BAND_HIGH = 0.8
BAND_LOW = 0.1

FEATURE_RADIUS = 4
"""Receptive-field radius of the 64-channel features (four 3×3 convolutions)."""
DECISION_RADIUS = FEATURE_RADIUS + 1 + SF_RADIUS + 5 * 3 + 4 * 1
"""Receptive-field radius of the logits: features, SF (shift + window), 5 SSE (7×7), 4 convs."""
RECEPTIVE_RADIUS = DECISION_RADIUS + max(BLUR_RADIUS, 2 * GF_RADIUS)
"""Receptive-field radius of the BGF map (decision map + blur band / two box filters)."""

FEATURE_CHANNELS = 64


def _conv_block(cin: int, cout: int, name: str) -> nn.Sequential:
    """Conv 3×3 (zero padding 1) → ReLU → BatchNorm, with the official sub-module names."""
    block = nn.Sequential()
    block.add_module(f"{name}_Conv2d", nn.Conv2d(cin, cout, kernel_size=3, padding=1))
    block.add_module(f"{name}_ReLu", nn.ReLU(inplace=True))
    block.add_module(f"{name}_BatchNorm", nn.BatchNorm2d(cout))
    return block


class ChannelSE(nn.Module):
    """Channel squeeze-excitation: ``x · σ(W₂ ReLU(W₁ mean_hw(x)))``.

    Parameters
    ----------
    channels : int
        Input channels.
    reduction : int
        Bottleneck reduction factor.
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def scale(self, channel_mean: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` channel means over the whole image -> ``(B, C)`` excitation scales."""
        return self.fc(channel_mean)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """Scale ``x`` ``(B, C, H, W)``; ``scale`` ``(B, C)`` overrides the image's own mean."""
        if scale is None:
            scale = self.scale(x.mean(dim=(2, 3)))
        return x * scale[:, :, None, None]


class SpatialSE(nn.Module):
    """Spatial squeeze-excitation: ``x · σ(conv7×7(x))`` (one gate map, zero padding 3)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Conv2d(channels, 1, kernel_size=7, padding=3, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> same shape."""
        return x * self.fc(x)


@dataclass
class GACNOutput:
    """Outputs of :meth:`GACN.forward`, all ``(B, 1, H, W)`` float32.

    Attributes
    ----------
    logits : Tensor
        Output of the decision path before ``sigmoid(1000 · x)``.
    decision : Tensor
        Raw decision map ``sigmoid(1000 · logits)``: weight of image ``a`` (official
        ``output_origin``).
    bgf : Tensor
        Boundary-guided-filtered decision map (official ``output_bgf``); may leave ``[0, 1]`` by
        a hair. The official fusion uses it.
    fused_gray : Tensor
        ``bgf · a + (1 − bgf) · b`` on the gray inputs.
    """

    logits: torch.Tensor
    decision: torch.Tensor
    bgf: torch.Tensor
    fused_gray: torch.Tensor


class GACN(nn.Module):
    """The GACN fusion network (official layout and parameter names).

    Inputs are gray images ``(B, 1, H, W)`` float32 in ``[0, 1]`` (Rec. 709 luma of RGB), with no
    normalisation, as in the official code.
    """

    blur_kernel: torch.Tensor  # a buffer, registered in __init__

    def __init__(self) -> None:
        super().__init__()
        self.feature_extraction_conv0 = _conv_block(1, 16, "feature_extraction_conv0")
        self.se_0 = ChannelSE(16, 8)
        self.feature_extraction_conv1 = _conv_block(16, 16, "feature_extraction_conv1")
        self.se_1 = ChannelSE(16, 8)
        self.feature_extraction_conv2 = _conv_block(32, 16, "feature_extraction_conv2")
        self.se_2 = ChannelSE(16, 8)
        self.feature_extraction_conv3 = _conv_block(48, 16, "feature_extraction_conv3")
        self.se_3 = ChannelSE(16, 8)
        self.se_4 = SpatialSE(64)
        self.se_5 = SpatialSE(48)
        self.se_6 = SpatialSE(32)
        self.se_7 = SpatialSE(16)
        self.se_8 = SpatialSE(1)
        self.decision_path_conv1 = _conv_block(64, 48, "decision_path_conv1")
        self.decision_path_conv2 = _conv_block(48, 32, "decision_path_conv2")
        self.decision_path_conv3 = _conv_block(32, 16, "decision_path_conv3")
        self.decision_path_conv4 = _conv_block(16, 1, "decision_path_conv4")
        g = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=torch.float32)
        kernel = torch.exp(-(g[:, None] ** 2 + g[None, :] ** 2) / (2 * BLUR_SIGMA**2))
        self.register_buffer("blur_kernel", (kernel / kernel.sum())[None, None], persistent=False)

    # -- feature extraction -------------------------------------------------------------------

    def _blocks(self) -> list[tuple[nn.Sequential, ChannelSE]]:
        return [
            (self.feature_extraction_conv0, self.se_0),
            (self.feature_extraction_conv1, self.se_1),
            (self.feature_extraction_conv2, self.se_2),
            (self.feature_extraction_conv3, self.se_3),
        ]

    def features(
        self, gray: torch.Tensor, scales: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Dense 64-channel features of gray images.

        Parameters
        ----------
        gray : Tensor, (B, 1, H, W) float32
        scales : list of 4 Tensors (B, 16), optional
            CSE excitation scales from whole-image statistics (for tiles); by default each
            sample's own global mean is used (the official behaviour on a whole image).

        Returns
        -------
        Tensor, (B, 64, H, W) float32
        """
        if self.training or torch.is_grad_enabled():
            outs: list[torch.Tensor] = []
            x = gray
            for k, (block, se) in enumerate(self._blocks()):
                outs.append(se(block(x), None if scales is None else scales[k]))
                x = torch.cat(outs, dim=1)
            return x
        # Inference (eval, no autograd): batch norm (an affine map in eval mode) and the CSE
        # scale are applied in one pass, written straight into the dense 64-channel output
        # (no concatenations).
        b, _, h, w = gray.shape
        out = torch.empty(
            (b, FEATURE_CHANNELS, h, w),
            dtype=gray.dtype,
            device=gray.device,
            memory_format=torch.channels_last,
        )
        x = gray
        for k, (block, se) in enumerate(self._blocks()):
            y, gain, shift = self._conv_relu(block, x)
            if scales is None:
                scale = se.scale(y.mean(dim=(2, 3)) * gain + shift)
            else:
                scale = scales[k]
            torch.addcmul(
                (shift * scale)[:, :, None, None],
                y,
                (gain * scale)[:, :, None, None],
                out=out[:, 16 * k : 16 * (k + 1)],
            )
            x = out[:, : 16 * (k + 1)]
        return out

    @staticmethod
    def _conv_relu(
        block: nn.Sequential, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ReLU(conv(x)) of a block and its eval-mode batch norm as ``gain · y + shift``."""
        bn: Any  # BatchNorm2d: running stats are Tensors, not Optional, in eval mode
        conv, _, bn = block
        y = F.relu_(conv(x))
        gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return y, gain, bn.bias - bn.running_mean * gain

    def block_output(
        self, gray: torch.Tensor, scales: list[torch.Tensor], upto: int
    ) -> torch.Tensor:
        """Output of conv block ``upto`` (before its CSE) given the scales of earlier blocks.

        Used (in eval mode) to gather the whole-image channel means of a tiled image one block
        at a time; computed exactly as :meth:`features` does.

        Parameters
        ----------
        gray : Tensor, (B, 1, H, W)
        scales : list of Tensors (B, 16)
            Scales of blocks ``0 .. upto-1``.
        upto : int
            Block index 0..3.

        Returns
        -------
        Tensor, (B, 16, H, W)
        """
        if not 0 <= upto <= 3:
            raise ValueError(f"upto must be 0..3, got {upto}")
        outs: list[torch.Tensor] = []
        x = gray
        for k, (block, _) in enumerate(self._blocks()[: upto + 1]):
            y, gain, shift = self._conv_relu(block, x)
            if k == upto:
                return y * gain[None, :, None, None] + shift[None, :, None, None]
            s = scales[k]
            outs.append(y * (gain * s)[:, :, None, None] + (shift * s)[:, :, None, None])
            x = torch.cat(outs, dim=1)
        raise AssertionError("unreachable")

    def channel_scales(self, k: int, channel_mean: torch.Tensor) -> torch.Tensor:
        """CSE scales ``(B, 16)`` of block ``k`` from whole-image channel means ``(B, 16)``."""
        return self._blocks()[k][1].scale(channel_mean)

    # -- spatial frequency and decision -------------------------------------------------------

    @staticmethod
    def gradient_energy(feat: torch.Tensor) -> torch.Tensor:
        """Squared right/down differences ``(f(y, x−1) − f)² + (f(y−1, x) − f)²``, zero padded.

        Parameters
        ----------
        feat : Tensor, (B, C, H, W)

        Returns
        -------
        Tensor, (B, C, H, W)
        """
        p = F.pad(feat, (1, 0, 1, 0))
        energy = (p[:, :, 1:, :-1] - feat).square_()
        energy += (p[:, :, :-1, 1:] - feat).square_()
        return energy

    @staticmethod
    def window_sum(x: torch.Tensor) -> torch.Tensor:
        """Zero-padded 11×11 window sum (separable), ``(B, C, H, W)`` -> same shape."""
        k = 2 * SF_RADIUS + 1
        x = F.avg_pool2d(x, (k, 1), stride=1, padding=(SF_RADIUS, 0), count_include_pad=True)
        x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, SF_RADIUS), count_include_pad=True)
        return x.mul_(float(k * k))

    def spatial_frequency(self, feat: torch.Tensor) -> torch.Tensor:
        """Per-channel spatial frequency of features (official ``fusion_channel_sf``).

        ``SF = Σ_{11×11} gradient_energy(feat)`` with zero padding for shifts and window.

        Parameters
        ----------
        feat : Tensor, (B, C, H, W)

        Returns
        -------
        Tensor, (B, C, H, W)
        """
        return self.window_sum(self.gradient_energy(feat))

    def decision_logits(self, energy_a: torch.Tensor, energy_b: torch.Tensor) -> torch.Tensor:
        """Decision path on the soft comparison of the two images' spatial frequencies.

        The window sum is linear, so ``SF_a − SF_b`` is computed as the window sum of the
        energy difference (one box filter instead of two).

        Parameters
        ----------
        energy_a, energy_b : Tensor, (B, 64, H, W)
            :meth:`gradient_energy` of the two images' features.

        Returns
        -------
        Tensor, (B, 1, H, W)
            Logits; the decision map is ``sigmoid(1000 · logits)``.
        """
        x = torch.sigmoid(self.window_sum(energy_a - energy_b).mul_(SHARPNESS))
        x = self.se_4(x)
        x = self.se_5(self.decision_path_conv1(x))
        x = self.se_6(self.decision_path_conv2(x))
        x = self.se_7(self.decision_path_conv3(x))
        return self.se_8(self.decision_path_conv4(x))

    # -- boundary guided filter ---------------------------------------------------------------

    def boundary_guided_filter(
        self, decision: torch.Tensor, gray_a: torch.Tensor, gray_b: torch.Tensor
    ) -> torch.Tensor:
        """BGF map from the raw decision map and the gray inputs.

        Parameters
        ----------
        decision : Tensor, (B, 1, H, W)
            Raw decision map (weight of ``a``).
        gray_a, gray_b : Tensor, (B, 1, H, W)

        Returns
        -------
        Tensor, (B, 1, H, W)
        """
        blur = F.conv2d(decision, self.blur_kernel.to(decision.dtype), padding=BLUR_RADIUS)
        sure_a = (blur > BAND_HIGH).to(blur.dtype)
        sure_b = (blur < BAND_LOW).to(blur.dtype)
        certainty = sure_a * blur + sure_b * (1 - blur)
        band = 1 - torch.abs(2 * (blur * certainty + (1 - certainty) * 0.5) - 1)
        guide = gray_a * decision + (1 - decision) * gray_b
        filtered = guided_filter(guide, decision, GF_RADIUS, GF_EPS)
        return filtered * band + decision * (1 - band)

    def forward(self, gray_a: torch.Tensor, gray_b: torch.Tensor) -> GACNOutput:
        """Fuse two gray images (both branches run as one batch).

        Parameters
        ----------
        gray_a, gray_b : Tensor, (B, 1, H, W) float32 in [0, 1]

        Returns
        -------
        GACNOutput
        """
        n = gray_a.shape[0]
        energy = self.gradient_energy(self.features(torch.cat([gray_a, gray_b], dim=0)))
        logits = self.decision_logits(energy[:n], energy[n:])
        del energy
        decision = torch.sigmoid(logits * SHARPNESS)
        bgf = self.boundary_guided_filter(decision, gray_a, gray_b)
        return GACNOutput(logits, decision, bgf, bgf * gray_a + (1 - bgf) * gray_b)


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the ``(2r+1)²`` window clipped to the image (official cumsum box filter / N).

    Parameters
    ----------
    x : Tensor, (B, C, H, W)
    r : int

    Returns
    -------
    Tensor, (B, C, H, W)
    """
    k = 2 * r + 1
    return F.avg_pool2d(x, k, stride=1, padding=r, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter with windows clipped at the image border.

    Parameters
    ----------
    guide : Tensor, (B, 1, H, W)
        Guidance image.
    src : Tensor, (B, C, H, W)
        Image to filter.
    r : int
        Window radius.
    eps : float
        Regularisation.

    Returns
    -------
    Tensor, (B, C, H, W)
    """
    mean_i = box_mean(guide, r)
    mean_p = box_mean(src, r)
    cov = box_mean(guide * src, r) - mean_i * mean_p
    var = box_mean(guide * guide, r) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)


def build_gacn(**model_args: Any) -> GACN:
    """Builder used by the checkpoint format (``model_args``) and by training.

    The published network has no options; any argument is rejected so a checkpoint made for a
    different variant fails loudly.

    Raises
    ------
    TypeError
        For any keyword argument.
    """
    if model_args:
        raise TypeError(f"GACN takes no model arguments, got {sorted(model_args)}")
    return GACN()


def load_gacn(checkpoint: Checkpoint) -> GACN:
    """A :class:`GACN` in eval mode with the checkpoint's parameters loaded strictly.

    Parameters
    ----------
    checkpoint : Checkpoint
        From :func:`mffgui.models.weights.load_checkpoint` (``arch="gacn"``); the official
        plain ``state_dict`` works as is.

    Raises
    ------
    WeightsError
        When the parameters do not fit the network (names listed in the message).
    """
    from mffgui.errors import WeightsError

    try:
        model = build_gacn(**checkpoint.model_args)
    except TypeError as exc:
        raise WeightsError(
            f"checkpoint model_args do not fit GACN: {exc}", checkpoint.path
        ) from None
    sd = checkpoint.state_dict
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(
        k for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        ):
            if keys:
                more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
                parts.append(f"{label}: {', '.join(keys[:3])}{more}")
        raise WeightsError("not GACN weights; " + "; ".join(parts), checkpoint.path)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"cannot load GACN weights: {exc}", checkpoint.path) from None
    return model.eval()
