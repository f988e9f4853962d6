"""GoogLeNet (Inception v1) as torchvision builds it (Szegedy et al. 2015), with batch
normalisation: nine Inception modules, each running four branches side by side on the same
input and concatenating their outputs along the channels,

    y = [1×1(x), 3×3(1×1(x)), 3×3(1×1(x)), 1×1(maxpool₃ₓ₃(x))],

the 1×1 convolutions before the larger ones cutting the channels they see (torchvision's
third branch has a 3×3 where the paper has a 5×5; its weights are trained that way).

Module names, ``state_dict`` keys and ``repr`` are torchvision's (``BasicConv2d``,
``Inception``, "inception3a.branch2.1.conv.weight"). With ``aux_logits=True`` the two
auxiliary classifiers of the paper are built too (``aux1`` after inception4a, ``aux2`` after
inception4d, each an :class:`InceptionAux`): small classifiers on intermediate features whose
losses, added to the main one with weight 0.3 each, push a useful gradient into the middle
of the deep network during training. The model then returns (logits, aux2, aux1) in training
mode — torchvision's ``GoogLeNetOutputs`` order — and the logits alone in evaluation mode,
where the auxiliary heads are not computed (``Graph._active_outputs``). torchvision's class
defaults to ``aux_logits=True``; cnnmath's stays False, so that a model built without
options keeps returning one array. torchvision's trained GoogLeNet drops the heads (its
``state_dict`` has no "aux" keys: load it with ``aux_logits=False``). Its trained weights
expect ``transform_input=True``, which maps ImageNet-normalised inputs to the [−1, 1] scaling
the original network was trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import check_float_array, positive_int, real_number
from .resnet import _wiring

__all__ = ["BasicConv2d", "GoogLeNet", "Inception", "InceptionAux", "TransformInput", "googlenet"]

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


def checked_heads(func: str, aux_logits: Any, transform_input: Any) -> tuple[bool, bool]:
    """GoogLeNet's and Inception v3's options ``aux_logits`` and ``transform_input``, each
    checked to be a bool and returned as one."""
    for name, value in (("aux_logits", aux_logits), ("transform_input", transform_input)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{func}: {name}: expected a bool, got {value!r}")
    return bool(aux_logits), bool(transform_input)


class _AuxHeads(nn.Graph):
    """A classification network whose auxiliary classifiers serve training only (torchvision's
    GoogLeNet and Inception3 with ``aux_logits``): every output in training mode while
    ``aux_logits`` is on, the main logits alone otherwise — the heads are then not run."""

    aux_logits: bool

    def _active_outputs(self) -> tuple[str, ...]:
        if self.training and self.aux_logits:
            return self._outputs
        return self._outputs[:1]


def init_trunc_normal(
    modules: list[nn.Module],
    std: float,
    rng: np.random.Generator,
    stds: dict[int, float] | None = None,
) -> None:
    """torchvision's GoogLeNet and Inception3 initialisation of the convolution and Linear
    weights in ``modules``: truncated normal N(0, σ²) cut at ±2, σ = ``stds[id(module)]``
    where given (Inception v3's auxiliary fc), else ``std``; drawn from ``rng`` in order."""
    for module in modules:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            sigma = (stds or {}).get(id(module), std)
            nn.init.trunc_normal_(module.weight, std=sigma, rng=rng)


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


class InceptionAux(nn.Graph):
    """GoogLeNet's auxiliary classifier, torchvision's ``InceptionAux``::

        adaptive average pool to 4×4 → conv (BasicConv2d 1×1, C → 128) → flatten (2048)
        → fc1 (2048 → 1024) → ReLU → dropout → fc2 (1024 → num_classes)

    (the pool, the flatten and the ReLU are wiring, as torchvision's functional calls).
    Children in torchvision's order: conv, fc1, fc2, dropout. Input (B, C, H, W), any H, W;
    output (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.7,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, 1, dtype=dtype)
        self.fc1 = nn.Linear(2048, 1024, rng=rng, dtype=dtype)
        self.fc2 = nn.Linear(1024, num_classes, rng=rng, dtype=dtype)
        self.dropout = nn.Dropout(p=dropout, rng=rng)
        out = self.add(_wiring(nn.AdaptiveAvgPool2d((4, 4))), "x", name="adaptive_avg_pool")
        out = self.add(_wiring(nn.Flatten()), self.add(self.conv, out), name="flatten")
        out = self.add(_wiring(nn.ReLU()), self.add(self.fc1, out), name="relu")
        self.set_output(self.add(self.fc2, self.add(self.dropout, out)))


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


class GoogLeNet(_AuxHeads):
    """torchvision's ``GoogLeNet``::

        [transform_input] → conv1 7×7/2 → maxpool1 → conv2 1×1 → conv3 3×3 → maxpool2
        → inception3a, 3b → maxpool3 → 4a … 4e → maxpool4 → 5a, 5b → avgpool → flatten
        → dropout → fc

    (max pools 3×3/2, the last 2×2/2, all with ``ceil_mode``). With ``aux_logits=True``,
    ``aux1`` = InceptionAux(512) reads inception4a's output and ``aux2`` = InceptionAux(528)
    inception4d's, their dropout p = ``dropout_aux``; training mode returns (logits, aux2,
    aux1) — torchvision's order — and ``backward`` takes their three gradients (None for a
    head the loss ignores); evaluation mode returns the logits and skips the heads.
    torchvision's reference loss is CE(logits) + 0.3·(CE(aux1) + CE(aux2)).

    Initialisation as torchvision's: convolution and fc weights truncated normal (σ = 0.01,
    cut at ±2), BatchNorm 1 and 0, the Linear biases PyTorch's default. The auxiliary heads
    draw from their own generator (seed sequence (seed, 1)), so that the rest of the network
    has the same weights with or without them. Input (B, 3, H, W); output (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        dropout_aux = real_number("dropout_aux", dropout_aux, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        self.aux_logits, self.transform_input = checked_heads(func, aux_logits, transform_input)
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
        heads: list[nn.Module] = []
        if self.aux_logits:
            aux_rng = np.random.default_rng([seed, 1])
            c = {"rng": aux_rng, "dtype": dtype}
            self.aux1 = InceptionAux(512, num_classes, dropout_aux, **c)
            self.aux2 = InceptionAux(528, num_classes, dropout_aux, **c)
            heads = [self.aux1, self.aux2]
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout, rng=rng)
        self.fc = nn.Linear(1024, num_classes, rng=rng, dtype=dtype)
        in_heads = {id(m) for head in heads for m in head.modules()}
        trunk = [m for m in self.modules() if id(m) not in in_heads]
        init_trunc_normal(trunk, 0.01, rng)
        for head in heads:
            init_trunc_normal(head.modules(), 0.01, aux_rng)
        out = "x"
        if self.transform_input:
            out = self.add(TransformInput(), out, name="transform_input")
        stem = (self.conv1, self.maxpool1, self.conv2, self.conv3, self.maxpool2)
        for layer in (*stem, *stages, self.avgpool):
            out = self.add(layer, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        out = self.add(self.dropout, out)
        logits = self.add(self.fc, out)
        if self.aux_logits:
            aux1 = self.add(self.aux1, "inception4a")
            aux2 = self.add(self.aux2, "inception4d")
            self.set_output(logits, aux2, aux1)
        else:
            self.set_output(logits)


def googlenet(
    num_classes: int = 1000,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> GoogLeNet:
    """GoogLeNet, torchvision's ``googlenet(aux_logits=False)``: 6 624 904 parameters for
    1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside). With
    ``aux_logits=True`` (torchvision's class default, not cnnmath's) the two auxiliary
    classifiers too (13 004 888 parameters): training mode returns (logits, aux2, aux1),
    evaluation mode the logits. For torchvision's trained weights pass
    ``transform_input=True``, as torchvision does.

    >>> googlenet(10).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
    (1, 10)
    >>> [y.shape for y in googlenet(10, aux_logits=True)(np.zeros((2, 3, 64, 64), np.float32))]
    [(2, 10), (2, 10), (2, 10)]
    """
    return GoogLeNet(
        num_classes, aux_logits, transform_input, dropout, dropout_aux, seed=seed, dtype=dtype
    )
