"""GoogLeNet (Inception v1) as torchvision builds it (Szegedy et al. 2015), with batch
normalisation: nine Inception modules, each running four branches side by side on the same
input and concatenating their outputs along the channels,

    y = [1×1(x), 3×3(1×1(x)), 3×3(1×1(x)), 1×1(maxpool₃ₓ₃(x))],

the 1×1 convolutions before the larger ones cutting the channels they see (torchvision's
third branch has a 3×3 where the paper has a 5×5; its weights are trained that way).

Module names, ``state_dict`` keys and ``repr`` are torchvision's (``BasicConv2d``,
``Inception``, "inception3a.branch2.1.conv.weight"). The auxiliary classifiers are not
built: a graph here has one output, so ``aux_logits=True`` is refused, and torchvision's
trained GoogLeNet drops them too (its ``state_dict`` has no "aux" keys). Its trained weights
expect ``transform_input=True``, which maps ImageNet-normalised inputs to the [−1, 1] scaling
the original network was trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import check_float_array, positive_int, real_number
from .resnet import _wiring

__all__ = ["BasicConv2d", "GoogLeNet", "Inception", "TransformInput", "googlenet"]

#: ImageNet's per-channel mean and standard deviation, which transform_input undoes.
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TransformInput(nn.Module):
    """x'_c = x_c · (σ_c/0.5) + (μ_c − 0.5)/0.5 per channel c: an image normalised by
    ImageNet's mean μ and std σ becomes one scaled to [−1, 1], as torchvision's GoogLeNet
    and Inception v3 do with ``transform_input=True``. Backward: G_c · σ_c/0.5. A wiring op
    (``functional``): it holds no parameters."""

    functional = True

    def scale_shift(self, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        """(σ/0.5, (μ − 0.5)/0.5) as (1, 3, 1, 1) arrays of ``dtype``."""
        scale = np.array([s / 0.5 for s in STD], dtype).reshape(1, 3, 1, 1)
        shift = np.array([(m - 0.5) / 0.5 for m in MEAN], dtype).reshape(1, 3, 1, 1)
        return scale, shift

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x' = x · (σ/0.5) + (μ − 0.5)/0.5 per channel, x (B, 3, H, W); the context is the
        scale σ/0.5 (1, 3, 1, 1)."""
        check_float_array("x", x, func="TransformInput.forward")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"TransformInput.forward: x: expected RGB images (N, 3, H, W), got {x.shape}"
            )
        scale, shift = self.scale_shift(x.dtype)
        return x * scale + shift, scale

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G · (σ/0.5) per channel."""
        return grad_output * ctx


def checked_heads(func: str, aux_logits: Any, transform_input: Any, reason: str) -> bool:
    """GoogLeNet's and Inception v3's input and output options checked: ``aux_logits`` must
    be False (a graph has one output; ``reason`` says why that costs nothing), and
    ``transform_input``, a bool, is returned."""
    if aux_logits is not False:
        raise ValueError(
            f"{func}: aux_logits: only False is supported (a graph has one output; {reason}), "
            f"got {aux_logits!r}"
        )
    if not isinstance(transform_input, (bool, np.bool_)):
        raise TypeError(f"{func}: transform_input: expected a bool, got {transform_input!r}")
    return bool(transform_input)


class BasicConv2d(nn.Graph):
    """torchvision's ``BasicConv2d``: conv (no bias) → bn (ε = 0.001) → ReLU (a wiring op,
    torchvision's ``F.relu``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=False,
            dtype=dtype,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001, dtype=dtype)
        out = self.add(self.bn, self.add(self.conv, "x"))
        self.set_output(self.add(_wiring(nn.ReLU()), out, name="relu"))


class Inception(nn.Graph):
    """torchvision's ``Inception`` module: branch1 1×1; branch2 1×1 → 3×3; branch3 1×1 →
    3×3; branch4 3×3/1 max pool → 1×1; the four outputs concatenated along the channels."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, dtype=dtype)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, 1, dtype=dtype),
            BasicConv2d(ch3x3red, ch3x3, 3, padding=1, dtype=dtype),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1, dtype=dtype),
            BasicConv2d(ch5x5red, ch5x5, 3, padding=1, dtype=dtype),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, 1, dtype=dtype),
        )
        branches = [self.add(b, "x") for b in (self.branch1, self.branch2, self.branch3)]
        branches.append(self.add(self.branch4, "x"))
        self.set_output(self.add(nn.Concat(1), *branches, name="cat"))


#: (in, 1×1, 3×3 reduce, 3×3, "5×5" reduce, "5×5", pool projection) per module.
MODULES = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Graph):
    """torchvision's ``GoogLeNet`` without its auxiliary classifiers::

        [transform_input] → conv1 7×7/2 → maxpool1 → conv2 1×1 → conv3 3×3 → maxpool2
        → inception3a, 3b → maxpool3 → 4a … 4e → maxpool4 → 5a, 5b → avgpool → flatten
        → dropout → fc

    (max pools 3×3/2, the last 2×2/2, all with ``ceil_mode``). Initialisation as
    torchvision's: convolution and fc weights truncated normal (σ = 0.01, cut at ±2),
    BatchNorm 1 and 0, fc's bias PyTorch's default. Input (B, 3, H, W); output
    (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.2,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        reason = "torchvision's trained GoogLeNet drops them too"
        self.transform_input = checked_heads(func, aux_logits, transform_input, reason)
        rng = np.random.default_rng(seed)
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3, dtype=dtype)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1, dtype=dtype)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1, dtype=dtype)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        stages: list[nn.Module] = []
        for name, widths in MODULES.items():
            setattr(self, name, Inception(*widths, dtype=dtype))
            stages.append(getattr(self, name))
            if name == "inception3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
                stages.append(self.maxpool3)
            if name == "inception4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
                stages.append(self.maxpool4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout, rng=rng)
        self.fc = nn.Linear(1024, num_classes, rng=rng, dtype=dtype)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.01, rng=rng)
        out = "x"
        if self.transform_input:
            out = self.add(TransformInput(), out, name="transform_input")
        stem = (self.conv1, self.maxpool1, self.conv2, self.conv3, self.maxpool2)
        for layer in (*stem, *stages, self.avgpool):
            out = self.add(layer, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        out = self.add(self.dropout, out)
        self.set_output(self.add(self.fc, out))


def googlenet(
    num_classes: int = 1000,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> GoogLeNet:
    """GoogLeNet, torchvision's ``googlenet(aux_logits=False)``: 6 624 904 parameters for
    1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside). For
    torchvision's trained weights pass ``transform_input=True``, as torchvision does.

    >>> googlenet(10).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
    (1, 10)
    """
    return GoogLeNet(num_classes, aux_logits, transform_input, dropout, seed=seed, dtype=dtype)
