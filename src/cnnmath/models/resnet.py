"""ResNets as torchvision builds them (``resnet18``, ``resnet34``, ``resnet50``), and He et al.'s
CIFAR ``resnet20``.

Every residual block is a :class:`cnnmath.nn.Graph` whose layers carry torchvision's names
(``conv1``, ``bn1``, ``relu``, ``conv2``, ``bn2`` [, ``conv3``, ``bn3``], ``downsample``), so
``state_dict`` keys, shapes and ``repr`` are torchvision's ("layer2.0.downsample.1.running_var")
and weights move between the two as they are. The residual sum and the flatten before ``fc``
are wiring (functional) nodes, as torchvision writes them in ``forward``: in no ``repr`` and
no ``state_dict``, but in ``walk()`` like every other node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import nn
from .._checks import check_float_array, positive_int

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ResNet",
    "kaiming_normal_fan_out",
    "resnet18",
    "resnet20",
    "resnet34",
    "resnet50",
]


def _wiring(module: nn.Module) -> nn.Module:
    """Mark ``module`` as wiring written in a model's ``forward`` (torchvision's
    ``torch.flatten(x, 1)``, MobileNetV2's ``adaptive_avg_pool2d``): a Graph does not make it
    a child, so it is in neither ``repr`` nor ``state_dict``, as in torchvision, but it is a
    node of ``walk()`` with its own class."""
    module.functional = True  # type: ignore[attr-defined]
    return module


def kaiming_normal_fan_out(conv: nn.Conv2d | nn.Conv3d, rng: np.random.Generator) -> None:
    """torchvision's convolution initialisation, ``kaiming_normal_(mode="fan_out",
    nonlinearity="relu")``: w ~ N(0, 2/fan_out) with fan_out = C_out·f1·f2 (C_out·f0·f1·f2
    for a Conv3d; PyTorch's fan_out ignores groups); a bias, if any, is set to 0. Draws from
    ``rng`` in place."""
    taps = int(np.prod(conv.kernel_size))
    std = np.sqrt(2.0 / (conv.out_channels * taps))
    nn.init.normal_(conv.weight, 0.0, std, rng=rng)
    if conv.bias is not None:
        conv.bias.data[...] = 0


def _conv(
    c_in: int, c_out: int, k: int, stride: int, dtype: Any, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    # torchvision's conv3x3 / conv1x1: padding d·(k//2) keeps the size at stride 1, no bias (a
    # BatchNorm follows)
    return nn.Conv2d(
        c_in,
        c_out,
        k,
        stride=stride,
        padding=dilation * (k // 2),
        dilation=dilation,
        groups=groups,
        bias=False,
        dtype=dtype,
    )


class BasicBlock(nn.Graph):
    """torchvision's ``BasicBlock`` (expansion 1)::

        out = relu(bn2(conv2(relu(bn1(conv1(x))))) + identity),
        identity = downsample(x) if downsample else x

    conv1 is 3×3 at ``stride``, conv2 3×3; ``downsample`` (a Sequential(conv 1×1, BN) or None)
    matches the shortcut's shape when the stride or the width changes. One ReLU module is
    used twice, as in torchvision. Like torchvision's, it has no dilated form: ``dilation``
    must be 1.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        dilation: int = 1,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if dilation != 1:
            raise ValueError(
                f"BasicBlock: dilation: only 1 is supported (as torchvision's BasicBlock), got "
                f"{dilation!r}"
            )
        self.conv1 = _conv(inplanes, planes, 3, stride, dtype)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.relu = nn.ReLU()
        self.conv2 = _conv(planes, planes, 3, 1, dtype)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        if downsample is not None:
            self.downsample = downsample
        self.stride = stride
        out = "x"
        for layer in (self.conv1, self.bn1, self.relu, self.conv2, self.bn2):
            out = self.add(layer, out)
        identity = self.add(downsample, "x") if downsample is not None else "x"
        out = self.add(nn.Add(), out, identity)
        self.set_output(self.add(self.relu, out))


class Bottleneck(nn.Graph):
    """torchvision's ``Bottleneck`` (ResNet v1.5: the stride on the 3×3; expansion 4)::

        out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + identity)

    conv1 1×1 to the width w = ⌊planes · width_per_group/64⌋ · groups, conv2 3×3 at
    ``stride`` in ``groups`` groups (ResNeXt's cardinality), conv3 1×1 to 4·planes. ResNet
    has w = planes (one group of 64); Wide ResNet doubles the width per group. ``dilation``
    d spreads conv2's taps d pixels apart (padding d keeps the size at stride 1): the
    segmentation backbones' atrous form.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        width_per_group: int = 64,
        dilation: int = 1,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        self.conv1 = _conv(inplanes, width, 1, 1, dtype)
        self.bn1 = nn.BatchNorm2d(width, dtype=dtype)
        self.conv2 = _conv(width, width, 3, stride, dtype, groups, dilation)
        self.bn2 = nn.BatchNorm2d(width, dtype=dtype)
        self.conv3 = _conv(width, planes * self.expansion, 1, 1, dtype)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, dtype=dtype)
        self.relu = nn.ReLU()
        if downsample is not None:
            self.downsample = downsample
        self.stride = stride
        out = "x"
        for layer in (self.conv1, self.bn1, self.relu, self.conv2, self.bn2, self.relu):
            out = self.add(layer, out)
        out = self.add(self.conv3, out)
        out = self.add(self.bn3, out)
        identity = self.add(downsample, "x") if downsample is not None else "x"
        out = self.add(nn.Add(), out, identity)
        self.set_output(self.add(self.relu, out))


def _init_weights(model: nn.Module, rng: np.random.Generator) -> None:
    """torchvision's ``ResNet.__init__`` loop: convolutions kaiming-normal (fan_out, ReLU
    gain), BatchNorm γ = 1, β = 0 (already their defaults); Linear keeps PyTorch's default
    U(±1/√fan_in), drawn when it was built."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            kaiming_normal_fan_out(module, rng)


class ResNet(nn.Graph):
    """torchvision's ``ResNet`` for 3×H×W images (H, W ≥ 32 or so), ``block`` ×
    ``layers`` stages::

        conv1 7×7/2 → bn1 → relu → maxpool 3×3/2 → layer1 (64) → layer2 (128, /2)
        → layer3 (256, /2) → layer4 (512, /2) → avgpool (1×1) → flatten → fc

    Input (B, 3, H, W); output (B, num_classes) logits. Build it with :func:`resnet18` etc.

    ``replace_stride_with_dilation`` (three bools, for layer2, layer3, layer4; torchvision's
    option) keeps a stage at stride 1 and multiplies the dilation d by the stride it drops
    instead: the stage's first block still uses the previous d (its downsample is a stride-1
    1×1 convolution), the others the new one. With (False, True, True) the output stride is 8
    instead of 32, and each 3×3 of layer3 and layer4 sees what it saw before — the
    segmentation models' backbone. Bottleneck blocks only (BasicBlock has no dilation).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        *,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        dilate = _dilated_stages(func, replace_stride_with_dilation)
        num_classes = positive_int("num_classes", num_classes, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        groups = positive_int("groups", groups, func=func)
        width_per_group = positive_int("width_per_group", width_per_group, func=func)
        if block is BasicBlock and (groups, width_per_group) != (1, 64):
            raise ValueError(
                f"{func}: groups, width_per_group: BasicBlock supports only groups=1 and "
                f"width_per_group=64, got {groups} and {width_per_group}"
            )
        rng = np.random.default_rng(seed)
        self._block_options: dict[str, Any] = (
            {} if block is BasicBlock else {"groups": groups, "width_per_group": width_per_group}
        )
        self.inplanes = 64
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(64, dtype=dtype)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, dtype)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, dtype, dilate[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, dtype, dilate[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, dtype, dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes, rng=rng, dtype=dtype)
        _init_weights(self, rng)
        out = "x"
        stem: tuple[nn.Module, ...] = (self.conv1, self.bn1, self.relu, self.maxpool)
        for layer in (*stem, self.layer1, self.layer2, self.layer3, self.layer4, self.avgpool):
            out = self.add(layer, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.fc, out))

    def _make_layer(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        planes: int,
        blocks: int,
        stride: int,
        dtype: Any,
        dilate: bool = False,
    ) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:  # the stride traded for dilation: stride 1, taps `stride` times further apart
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv(self.inplanes, planes * block.expansion, 1, stride, dtype),
                nn.BatchNorm2d(planes * block.expansion, dtype=dtype),
            )
        options = self._block_options
        first = block(
            self.inplanes,
            planes,
            stride,
            downsample,
            dilation=previous_dilation,
            dtype=dtype,
            **options,
        )
        stage = nn.Sequential(first)
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            stage.append(
                block(self.inplanes, planes, dilation=self.dilation, dtype=dtype, **options)
            )
        return stage


def _dilated_stages(func: str, replace: Any) -> tuple[bool, bool, bool]:
    """``replace_stride_with_dilation`` checked: None (no stage dilated) or three bools."""
    if replace is None:
        return (False, False, False)
    flags = tuple(replace) if isinstance(replace, (list, tuple)) else None
    if flags is None or len(flags) != 3 or not all(isinstance(f, (bool, np.bool_)) for f in flags):
        raise ValueError(
            f"{func}: replace_stride_with_dilation: expected None or three bools (layer2, "
            f"layer3, layer4), got {replace!r}"
        )
    return (bool(flags[0]), bool(flags[1]), bool(flags[2]))


def resnet18(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """ResNet-18 (BasicBlock × (2, 2, 2, 2)), torchvision's ``resnet18()``: 11 689 512
    parameters for 1000 classes, the same ``state_dict`` keys and ``repr`` (ReLU's
    ``inplace=True`` aside). Weights from ``np.random.default_rng(seed)``.

    >>> resnet18(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, seed=seed, dtype=dtype)


def resnet34(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """ResNet-34 (BasicBlock × (3, 4, 6, 3)), torchvision's ``resnet34()`` (21 797 672
    parameters for 1000 classes)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, seed=seed, dtype=dtype)


def resnet50(
    num_classes: int = 1000,
    *,
    replace_stride_with_dilation: Sequence[bool] | None = None,
    seed: int = 0,
    dtype: Any = np.float32,
) -> ResNet:
    """ResNet-50 (Bottleneck × (3, 4, 6, 3), stride on the 3×3 as torchvision's v1.5),
    torchvision's ``resnet50()`` (25 557 032 parameters for 1000 classes);
    ``replace_stride_with_dilation`` as :class:`ResNet`'s."""
    return ResNet(
        Bottleneck,
        (3, 4, 6, 3),
        num_classes,
        replace_stride_with_dilation=replace_stride_with_dilation,
        seed=seed,
        dtype=dtype,
    )


def resnet101(
    num_classes: int = 1000,
    *,
    replace_stride_with_dilation: Sequence[bool] | None = None,
    seed: int = 0,
    dtype: Any = np.float32,
) -> ResNet:
    """ResNet-101 (Bottleneck × (3, 4, 23, 3)), torchvision's ``resnet101()`` (44 549 160
    parameters for 1000 classes); ``replace_stride_with_dilation`` as :class:`ResNet`'s."""
    return ResNet(
        Bottleneck,
        (3, 4, 23, 3),
        num_classes,
        replace_stride_with_dilation=replace_stride_with_dilation,
        seed=seed,
        dtype=dtype,
    )


def resnet152(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """ResNet-152 (Bottleneck × (3, 8, 36, 3)), torchvision's ``resnet152()`` (60 192 808
    parameters for 1000 classes)."""
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, seed=seed, dtype=dtype)


def resnext50_32x4d(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """ResNeXt-50 32×4d (Xie et al. 2017: ResNet-50 whose 3×3 convolutions run in 32 groups
    of 4 channels per 64 planes), torchvision's ``resnext50_32x4d()`` (25 028 904 parameters
    for 1000 classes)."""
    return ResNet(
        Bottleneck, (3, 4, 6, 3), num_classes, groups=32, width_per_group=4, seed=seed, dtype=dtype
    )


def resnext101_32x8d(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """ResNeXt-101 32×8d, torchvision's ``resnext101_32x8d()`` (88 791 336 parameters for
    1000 classes)."""
    return ResNet(
        Bottleneck, (3, 4, 23, 3), num_classes, groups=32, width_per_group=8, seed=seed, dtype=dtype
    )


def resnext101_64x4d(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """ResNeXt-101 64×4d, torchvision's ``resnext101_64x4d()`` (83 455 272 parameters for
    1000 classes)."""
    return ResNet(
        Bottleneck, (3, 4, 23, 3), num_classes, groups=64, width_per_group=4, seed=seed, dtype=dtype
    )


def wide_resnet50_2(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016: ResNet-50 with twice the bottleneck
    width), torchvision's ``wide_resnet50_2()`` (68 883 240 parameters for 1000 classes)."""
    return ResNet(
        Bottleneck, (3, 4, 6, 3), num_classes, width_per_group=128, seed=seed, dtype=dtype
    )


def wide_resnet101_2(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> ResNet:
    """Wide ResNet-101-2, torchvision's ``wide_resnet101_2()`` (126 886 696 parameters for
    1000 classes)."""
    return ResNet(
        Bottleneck, (3, 4, 23, 3), num_classes, width_per_group=128, seed=seed, dtype=dtype
    )


class ShortcutA(nn.Module):
    """He et al.'s option-A shortcut for CIFAR ResNets: no parameters, the identity
    subsampled at stride 2 and zero-padded with ``pad`` channels on each side,

        y[β, pad + c, i, j] = x[β, c, 2i, 2j],   y = 0 on the padded channels.

    Backward: ∂ℓ/∂x[β, c, 2i, 2j] = G[β, pad + c, i, j], zero at the other pixels.
    Input (B, C, H, W); output (B, C + 2·pad, ⌈H/2⌉, ⌈W/2⌉). Spatially it is a 1×1 window
    at stride 2 (``kernel_size``, ``stride``, ``padding`` say so, for the receptive field).
    """

    kernel_size = (1, 1)
    stride = (2, 2)
    padding = (0, 0)

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = positive_int("pad", pad, func="ShortcutA", minimum=0)

    def output_channels(self, in_channels: int) -> int:
        """C + 2·pad, the output's channels for C input channels (for the receptive field's
        shapes)."""
        return in_channels + 2 * self.pad

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """The subsampled, channel-padded identity; the context is x's shape and dtype."""
        check_float_array("x", x, func="ShortcutA.forward")
        if x.ndim != 4:
            raise ValueError(f"ShortcutA.forward: x: expected shape (B, C, H, W), got {x.shape}")
        sub = x[:, :, ::2, ::2]
        B, C, H, W = sub.shape
        y = np.zeros((B, C + 2 * self.pad, H, W), x.dtype)
        y[:, self.pad : self.pad + C] = sub
        return y, (x.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """G's middle channels written back to the pixels the forward pass read."""
        shape, dtype = ctx
        grad = np.zeros(shape, dtype)
        grad[:, :, ::2, ::2] = grad_output[:, self.pad : self.pad + shape[1]]
        return grad

    def extra_repr(self) -> str:
        """``pad=p``."""
        return f"pad={self.pad}"


class CifarResNet(nn.Graph):
    """He et al. (2016), section 4.2: the 6n + 2 layer ResNet for 32×32 images::

        conv1 3×3 (16) → bn1 → relu → layer1 (16) → layer2 (32, /2) → layer3 (64, /2)
        → avgpool (1×1) → flatten → fc

    with n BasicBlocks per stage and option-A shortcuts (:class:`ShortcutA`: parameter-free
    identity, subsampled and zero-padded where the width doubles), as in the paper's CIFAR
    experiments. Convolutions are initialised as torchvision's ResNet (kaiming normal,
    fan_out), BatchNorm γ = 1, β = 0, ``fc`` PyTorch's default. Input (B, 3, H, W) (32×32 in
    the paper; any size ≥ 4 works after the global pooling); output (B, num_classes).
    """

    def __init__(
        self,
        n: int = 3,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        n = positive_int("n", n, func=func)
        num_classes = positive_int("num_classes", num_classes, func=func)
        in_channels = positive_int("in_channels", in_channels, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        self.conv1 = _conv(in_channels, 16, 3, 1, dtype)
        self.bn1 = nn.BatchNorm2d(16, dtype=dtype)
        self.relu = nn.ReLU()
        inplanes = 16
        stages = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            shortcut = ShortcutA(planes // 4) if stride != 1 or inplanes != planes else None
            stage = nn.Sequential(BasicBlock(inplanes, planes, stride, shortcut, dtype=dtype))
            for _ in range(1, n):
                stage.append(BasicBlock(planes, planes, dtype=dtype))
            stages.append(stage)
            inplanes = planes
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes, rng=rng, dtype=dtype)
        _init_weights(self, rng)
        out = "x"
        for layer in (self.conv1, self.bn1, self.relu, *stages, self.avgpool):
            out = self.add(layer, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.fc, out))


def resnet20(
    num_classes: int = 10, *, in_channels: int = 3, seed: int = 0, dtype: Any = np.float32
) -> CifarResNet:
    """He et al.'s ResNet-20 for CIFAR (n = 3: 19 convolutions + fc), option-A shortcuts:
    269 722 parameters for 10 classes (the paper's "0.27M").

    >>> resnet20()(np.zeros((2, 3, 32, 32), np.float32)).shape
    (2, 10)
    """
    return CifarResNet(3, num_classes, in_channels=in_channels, seed=seed, dtype=dtype)
