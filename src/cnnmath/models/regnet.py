"""RegNet as torchvision builds it (Radosavovic et al. 2020, "Designing Network Design
Spaces"): ResNeXt-style bottleneck blocks (1×1, grouped 3×3 of fixed group width, 1×1; RegNetY
adds squeeze-and-excitation) whose widths follow a quantised linear rule instead of a table.
Block j of d gets the continuous width u_j = w₀ + w_a·j, rounded in log space to a power of
w_m times w₀,

    s_j = round(log(u_j/w₀) / log w_m),   w_j = 8·round(w₀·w_m^{s_j} / 8),

and each run of equal widths is one stage (stride 2 at its first block). The rule is
evaluated in float32, as torchvision evaluates it, so that a width on a rounding boundary
comes out the same.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("trunk_output.block1
.block1-0.f.a.0.weight", ``SimpleStemIN``, ``AnyStage``, ``ResBottleneckBlock``,
``BottleneckTransform``), so weights move between the two as they are.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

from .. import nn
from .._checks import positive_int
from .mobilenet import Conv2dNormActivation, _make_divisible, normal_linear_
from .mobilenetv3 import SqueezeExcitation
from .resnet import _wiring, kaiming_normal_fan_out

__all__ = [
    "RegNet",
    "regnet_x_400mf",
    "regnet_x_800mf",
    "regnet_x_1_6gf",
    "regnet_x_3_2gf",
    "regnet_x_8gf",
    "regnet_x_16gf",
    "regnet_x_32gf",
    "regnet_y_400mf",
    "regnet_y_800mf",
    "regnet_y_1_6gf",
    "regnet_y_3_2gf",
    "regnet_y_8gf",
    "regnet_y_16gf",
    "regnet_y_32gf",
    "regnet_y_128gf",
]


class Design(NamedTuple):
    """A point of the design space: depth d, initial width w₀, slope w_a, log-step w_m,
    group width g, and the squeeze-and-excitation ratio (RegNetY; None for RegNetX)."""

    depth: int
    w_0: int
    w_a: float
    w_m: float
    group_width: int
    se_ratio: float | None = None


def stages(design: Design) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per stage, by the module docstring's rule."""
    f32 = np.float32
    u = np.arange(design.depth, dtype=f32) * f32(design.w_a) + f32(design.w_0)
    steps = np.round(np.log(u / f32(design.w_0)) / f32(np.log(design.w_m)))
    widths = (np.round(f32(design.w_0) * f32(design.w_m) ** steps / f32(8)) * 8).astype(int)
    runs: list[list[int]] = []
    for w in widths.tolist():
        if runs and runs[-1][0] == w:
            runs[-1][1] += 1
        else:
            runs.append([w, 1])
    out = []
    for width, depth in runs:  # a group width no wider than the block, the width a multiple
        g = min(design.group_width, width)
        out.append((_make_divisible(width, g), depth, g))
    return out


class SimpleStemIN(Conv2dNormActivation):
    """torchvision's RegNet stem: Conv2d 3×3/2 (no bias) → BatchNorm2d → ReLU."""

    def __init__(self, width_in: int, width_out: int, *, dtype: Any = np.float32) -> None:
        super().__init__(width_in, width_out, 3, 2, activation=nn.ReLU, dtype=dtype)


class BottleneckTransform(nn.Sequential):
    """The block's branch, children a, b, [se,] c: 1×1 to w_b → grouped 3×3 at the stride
    (w_b / group_width groups) → [squeeze-and-excitation to round(se_ratio·C_in)] → 1×1."""

    def __init__(
        self,
        width_in: int,
        width_out: int,
        stride: int,
        group_width: int,
        se_ratio: float | None,
        *,
        dtype: Any = np.float32,
    ) -> None:
        w_b = width_out  # bottleneck multiplier 1, as in every RegNet torchvision builds
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["a"] = Conv2dNormActivation(width_in, w_b, 1, activation=nn.ReLU, dtype=dtype)
        layers["b"] = Conv2dNormActivation(
            w_b, w_b, 3, stride, groups=w_b // group_width, activation=nn.ReLU, dtype=dtype
        )
        if se_ratio:
            squeeze = int(round(se_ratio * width_in))
            layers["se"] = SqueezeExcitation(
                w_b, squeeze, activation=nn.ReLU, scale_activation=nn.Sigmoid, dtype=dtype
            )
        layers["c"] = Conv2dNormActivation(w_b, width_out, 1, activation=None, dtype=dtype)
        super().__init__(layers)


class ResBottleneckBlock(nn.Graph):
    """y = relu(proj(x) + f(x)), proj a 1×1 convolution with BatchNorm where the width or
    the resolution changes (else the identity), f the :class:`BottleneckTransform`."""

    def __init__(
        self,
        width_in: int,
        width_out: int,
        stride: int,
        group_width: int,
        se_ratio: float | None,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        projected = width_in != width_out or stride != 1
        if projected:
            self.proj = Conv2dNormActivation(
                width_in, width_out, 1, stride, activation=None, dtype=dtype
            )
        self.f = BottleneckTransform(
            width_in, width_out, stride, group_width, se_ratio, dtype=dtype
        )
        self.activation = nn.ReLU()
        shortcut = self.add(self.proj, "x") if projected else "x"
        out = self.add(nn.Add(), shortcut, self.add(self.f, "x"))
        self.set_output(self.add(self.activation, out))


class AnyStage(nn.Sequential):
    """A stage of ``depth`` blocks, named "block<stage>-<i>", the first at ``stride``."""

    def __init__(
        self,
        width_in: int,
        width_out: int,
        stride: int,
        depth: int,
        group_width: int,
        se_ratio: float | None,
        stage_index: int,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        for i in range(depth):
            block = ResBottleneckBlock(
                width_in if i == 0 else width_out,
                width_out,
                stride if i == 0 else 1,
                group_width,
                se_ratio,
                dtype=dtype,
            )
            self.add_module(f"block{stage_index}-{i}", block)


class RegNet(nn.Graph):
    """torchvision's ``RegNet``::

        stem (SimpleStemIN to 32) → trunk_output (the stages, block1 … block4) → avgpool
        → flatten → fc

    Initialisation as torchvision's: convolution weights N(0, 2/fan_out) (the SE
    convolutions' biases keep PyTorch's default U(±1/√fan_in)), BatchNorm 1 and 0, fc
    N(0, 0.01²) with bias 0. Input (B, 3, H, W); output (B, num_classes).

    >>> regnet_y_400mf(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """

    def __init__(
        self, design: Design, num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        self.stem = SimpleStemIN(3, 32, dtype=dtype)
        width = 32
        named: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (width_out, depth, group_width) in enumerate(stages(design)):
            named[f"block{i + 1}"] = AnyStage(
                width, width_out, 2, depth, group_width, design.se_ratio, i + 1, dtype=dtype
            )
            width = width_out
        self.trunk_output = nn.Sequential(named)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width, num_classes, dtype=dtype)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                bias = module.bias
                if bias is not None:  # torchvision leaves the SE convolutions' biases at
                    f1, f2 = module.kernel_size  # PyTorch's default, U(±1/√fan_in)
                    bound = 1.0 / np.sqrt(module.in_channels // module.groups * f1 * f2)
                    drawn = nn.init.uniform_(np.empty_like(bias.data), -bound, bound, rng=rng)
                kaiming_normal_fan_out(module, rng)  # the weight (and a bias set to 0)
                if bias is not None:
                    bias.data[...] = drawn
            elif isinstance(module, nn.Linear):
                normal_linear_(module, rng)
        out = "x"
        for layer in (self.stem, self.trunk_output, self.avgpool):
            out = self.add(layer, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.fc, out))


def _builder(name: str, design: Design) -> Any:
    def build(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> RegNet:
        return RegNet(design, num_classes, seed=seed, dtype=dtype)

    build.__name__ = build.__qualname__ = name
    _, kind, size = name.split("_", 2)  # "regnet_y_1_6gf" -> RegNetY-1.6GF
    title = f"RegNet{kind.upper()}-{size.replace('_', '.').upper()}"
    build.__doc__ = (
        f"{title}, torchvision's ``{name}()``: depth "
        f"{design.depth}, w₀ = {design.w_0}, w_a = {design.w_a}, w_m = {design.w_m}, group "
        f"width {design.group_width}"
        + (f", squeeze-and-excitation ratio {design.se_ratio}" if design.se_ratio else "")
        + "; the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside)."
    )
    return build


#: torchvision's points of the design space (the paper's Table 7 and appendix).
DESIGNS = {
    "regnet_x_400mf": Design(22, 24, 24.48, 2.54, 16),
    "regnet_x_800mf": Design(16, 56, 35.73, 2.28, 16),
    "regnet_x_1_6gf": Design(18, 80, 34.01, 2.25, 24),
    "regnet_x_3_2gf": Design(25, 88, 26.31, 2.25, 48),
    "regnet_x_8gf": Design(23, 80, 49.56, 2.88, 120),
    "regnet_x_16gf": Design(22, 216, 55.59, 2.1, 128),
    "regnet_x_32gf": Design(23, 320, 69.86, 2.0, 168),
    "regnet_y_400mf": Design(16, 48, 27.89, 2.09, 8, 0.25),
    "regnet_y_800mf": Design(14, 56, 38.84, 2.4, 16, 0.25),
    "regnet_y_1_6gf": Design(27, 48, 20.71, 2.65, 24, 0.25),
    "regnet_y_3_2gf": Design(21, 80, 42.63, 2.66, 24, 0.25),
    "regnet_y_8gf": Design(17, 192, 76.82, 2.19, 56, 0.25),
    "regnet_y_16gf": Design(18, 200, 106.23, 2.48, 112, 0.25),
    "regnet_y_32gf": Design(20, 232, 115.89, 2.53, 232, 0.25),
    "regnet_y_128gf": Design(27, 456, 160.83, 2.52, 264, 0.25),
}

regnet_x_400mf = _builder("regnet_x_400mf", DESIGNS["regnet_x_400mf"])
regnet_x_800mf = _builder("regnet_x_800mf", DESIGNS["regnet_x_800mf"])
regnet_x_1_6gf = _builder("regnet_x_1_6gf", DESIGNS["regnet_x_1_6gf"])
regnet_x_3_2gf = _builder("regnet_x_3_2gf", DESIGNS["regnet_x_3_2gf"])
regnet_x_8gf = _builder("regnet_x_8gf", DESIGNS["regnet_x_8gf"])
regnet_x_16gf = _builder("regnet_x_16gf", DESIGNS["regnet_x_16gf"])
regnet_x_32gf = _builder("regnet_x_32gf", DESIGNS["regnet_x_32gf"])
regnet_y_400mf = _builder("regnet_y_400mf", DESIGNS["regnet_y_400mf"])
regnet_y_800mf = _builder("regnet_y_800mf", DESIGNS["regnet_y_800mf"])
regnet_y_1_6gf = _builder("regnet_y_1_6gf", DESIGNS["regnet_y_1_6gf"])
regnet_y_3_2gf = _builder("regnet_y_3_2gf", DESIGNS["regnet_y_3_2gf"])
regnet_y_8gf = _builder("regnet_y_8gf", DESIGNS["regnet_y_8gf"])
regnet_y_16gf = _builder("regnet_y_16gf", DESIGNS["regnet_y_16gf"])
regnet_y_32gf = _builder("regnet_y_32gf", DESIGNS["regnet_y_32gf"])
regnet_y_128gf = _builder("regnet_y_128gf", DESIGNS["regnet_y_128gf"])
