"""ConvNeXt as torchvision builds it (Liu et al. 2022): a ResNet modernised — a 4×4/4
"patchify" stem, stages of blocks

    y = x + stochastic_depth(γ ⊙ Linear₂(GELU(Linear₁(LayerNorm(dwconv₇ₓ₇(x))))))

whose LayerNorm and two Linears act on each pixel's channels (the block permutes to
(N, H, W, C) and back), γ a learned per-channel layer scale starting at 10⁻⁶, and
LayerNorm + 2×2/2 convolutions between stages.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("features.1.0.layer_scale",
``CNBlock``, ``LayerNorm2d``, ``Permute``), so weights move between the two as they are.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from .. import nn
from .._checks import check_float_array, positive_int, real_number
from .mobilenet import Conv2dNormActivation

__all__ = [
    "CNBlock",
    "ConvNeXt",
    "LayerScale",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
]


class LayerScale(nn.Module):
    """y = γ ⊙ x with γ the ``layer_scale`` Parameter of ``owner`` (a :class:`CNBlock`),
    shape (C, 1, 1), broadcast over the pixels: the wiring op that applies the block's own
    parameter, so that its ``state_dict`` key is torchvision's "<block>.layer_scale".
    Backward: ∂ℓ/∂x = γ ⊙ G and ∂ℓ/∂γ += Σ over the batch and pixels of G ⊙ x."""

    functional = True

    def __init__(self, owner: CNBlock) -> None:
        super().__init__()
        self._owner = owner

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """γ ⊙ x; the context is x."""
        check_float_array("x", x, func="LayerScale.forward")
        return self._owner.layer_scale.data * x, x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = γ ⊙ G; ∂ℓ/∂γ += Σ_{β,u,v} G ⊙ x, accumulated into γ's ``grad``."""
        gamma = self._owner.layer_scale
        gamma.grad += np.sum(grad_output * ctx, axis=(0, 2, 3)).reshape(gamma.shape)
        return gamma.data * grad_output


class CNBlock(nn.Graph):
    """torchvision's ``CNBlock``, its layers in ``self.block``::

    block = dwconv 7×7 → Permute to (N, H, W, C) → LayerNorm(C, ε = 10⁻⁶) → Linear(C, 4C)
            → GELU → Linear(4C, C) → Permute back
    y = x + stochastic_depth(layer_scale ⊙ block(x))
    """

    def __init__(
        self,
        dim: int,
        layer_scale: float,
        stochastic_depth_prob: float,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.layer_scale = nn.Parameter(np.full((dim, 1, 1), layer_scale, dtype=dtype))
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim, dtype=dtype),
            nn.Permute((0, 2, 3, 1)),
            nn.LayerNorm(dim, eps=1e-6, dtype=dtype),
            nn.Linear(dim, 4 * dim, dtype=dtype),
            nn.GELU(),
            nn.Linear(4 * dim, dim, dtype=dtype),
            nn.Permute((0, 3, 1, 2)),
        )
        self.stochastic_depth = nn.StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        out = self.add(self.block, "x")
        out = self.add(LayerScale(self), out, name="scale")
        out = self.add(self.stochastic_depth, out)
        self.set_output(self.add(nn.Add(), out, "x"))


class StageConfig(NamedTuple):
    """A stage: its blocks' channels, the next stage's (None for the last), its blocks."""

    input_channels: int
    out_channels: int | None
    num_layers: int


def _setting(widths: tuple[int, int, int, int], depths: tuple[int, int, int, int]) -> list:
    nexts: list[int | None] = [*widths[1:], None]
    return [StageConfig(c, n, d) for c, n, d in zip(widths, nexts, depths)]


class ConvNeXt(nn.Graph):
    """torchvision's ``ConvNeXt``::

        features = [stem: Conv2d 4×4/4 (bias) → LayerNorm2d]
                   + per stage: Sequential(CNBlock × depth), then (but after the last)
                     Sequential(LayerNorm2d, Conv2d 2×2/2 to the next width)
        y = classifier(avgpool(features(x))),  classifier = LayerNorm2d → Flatten → Linear

    with stochastic depth rising linearly over the blocks from 0 to
    ``stochastic_depth_prob``. Initialisation as torchvision's: every Conv2d and Linear
    weight truncated normal (σ = 0.02, cut at ±2), biases 0, layer scales 10⁻⁶, LayerNorm
    1 and 0. Input (B, 3, H, W), H and W multiples of 32; output (B, num_classes).
    """

    def __init__(
        self,
        setting: list[StageConfig],
        stochastic_depth_prob: float = 0.0,
        layer_scale: float = 1e-6,
        num_classes: int = 1000,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        stochastic_depth_prob = real_number(
            "stochastic_depth_prob", stochastic_depth_prob, func=func, low=0.0, high=1.0
        )
        layer_scale = real_number("layer_scale", layer_scale, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        norm = partial(nn.LayerNorm2d, eps=1e-6, dtype=dtype)
        first = setting[0].input_channels
        stem = Conv2dNormActivation(
            3, first, 4, 4, norm=norm, activation=None, padding=0, bias=True, dtype=dtype
        )
        layers: list[nn.Module] = [stem]
        total = sum(cfg.num_layers for cfg in setting)
        block_id = 0
        for cfg in setting:
            stage = []
            for _ in range(cfg.num_layers):
                p = stochastic_depth_prob * block_id / (total - 1.0)
                stage.append(CNBlock(cfg.input_channels, layer_scale, p, rng=rng, dtype=dtype))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if cfg.out_channels is not None:
                layers.append(
                    nn.Sequential(
                        norm(cfg.input_channels),
                        nn.Conv2d(cfg.input_channels, cfg.out_channels, 2, stride=2, dtype=dtype),
                    )
                )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = setting[-1].out_channels or setting[-1].input_channels
        self.classifier = nn.Sequential(
            norm(last), nn.Flatten(1), nn.Linear(last, num_classes, dtype=dtype)
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02, rng=rng)
                if module.bias is not None:
                    module.bias.data[...] = 0
        out = self.add(self.features, "x")
        out = self.add(self.avgpool, out)
        self.set_output(self.add(self.classifier, out))


def convnext_tiny(
    num_classes: int = 1000,
    stochastic_depth_prob: float = 0.1,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> ConvNeXt:
    """ConvNeXt-T (widths 96–768, blocks 3, 3, 9, 3), torchvision's ``convnext_tiny()``:
    28 589 128 parameters for 1000 classes, the same ``state_dict`` keys and ``repr``;
    ``stochastic_depth_prob=0`` turns stochastic depth off.

    >>> convnext_tiny(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    setting = _setting((96, 192, 384, 768), (3, 3, 9, 3))
    return ConvNeXt(setting, stochastic_depth_prob, num_classes=num_classes, seed=seed, dtype=dtype)


def convnext_small(
    num_classes: int = 1000,
    stochastic_depth_prob: float = 0.4,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> ConvNeXt:
    """ConvNeXt-S (widths 96–768, blocks 3, 3, 27, 3), torchvision's ``convnext_small()``."""
    setting = _setting((96, 192, 384, 768), (3, 3, 27, 3))
    return ConvNeXt(setting, stochastic_depth_prob, num_classes=num_classes, seed=seed, dtype=dtype)


def convnext_base(
    num_classes: int = 1000,
    stochastic_depth_prob: float = 0.5,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> ConvNeXt:
    """ConvNeXt-B (widths 128–1024, blocks 3, 3, 27, 3), torchvision's ``convnext_base()``."""
    setting = _setting((128, 256, 512, 1024), (3, 3, 27, 3))
    return ConvNeXt(setting, stochastic_depth_prob, num_classes=num_classes, seed=seed, dtype=dtype)


def convnext_large(
    num_classes: int = 1000,
    stochastic_depth_prob: float = 0.5,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> ConvNeXt:
    """ConvNeXt-L (widths 192–1536, blocks 3, 3, 27, 3), torchvision's ``convnext_large()``."""
    setting = _setting((192, 384, 768, 1536), (3, 3, 27, 3))
    return ConvNeXt(setting, stochastic_depth_prob, num_classes=num_classes, seed=seed, dtype=dtype)
