"""Video classification ResNets as torchvision builds them (``r3d_18``, ``mc3_18``,
``r2plus1d_18``, torchvision.models.video): ResNet-18 with every filter given a time axis.

A clip is a (N, 3, T, H, W) batch of T frames. Where ResNet-18 correlates an image with
3×3 filters, these networks correlate a clip with 3-D filters f0×f1×f2 (time × height ×
width):

- R3D (Tran et al. 2018): every block's convolution is a full 3×3×3 (``Conv3DSimple``);
- MC3 ("mixed convolutions"): 3×3×3 in the first stage only, then 1×3×3 filters, which
  see one frame each (``Conv3DNoTemporal``): motion is modelled early, appearance late;
- R(2+1)D: each 3×3×3 factorised into a spatial 1×3×3 convolution to M channels, BatchNorm
  and ReLU, then a temporal 3×1×1 one (``Conv2Plus1D``). M is chosen so that the pair has
  the parameters of the 3×3×3 it replaces, C_in·C_out·27 = M·(C_in·9 + 3·C_out), i.e.
  M = ⌊27·C_in·C_out / (9·C_in + 3·C_out)⌋, and the extra ReLU doubles the nonlinearities.

Module names, ``state_dict`` keys ("layer2.0.conv1.0.0.weight"), shapes and ``repr`` are
torchvision's, so its weights load as they are. Each block is an :class:`nn.Graph` wired as
torchvision's ``forward``: out = relu(conv2(conv1(x)) + identity), with conv1 = Sequential
(conv, BN, ReLU), conv2 = Sequential(conv, BN) and identity = downsample(x) (a 1×1×1
convolution at the block's stride, and BN) where the shape changes, else x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int
from .mobilenet import normal_linear_
from .resnet import _wiring, kaiming_normal_fan_out

__all__ = [
    "BasicBlock",
    "BasicStem",
    "Conv2Plus1D",
    "Conv3DNoTemporal",
    "Conv3DSimple",
    "R2Plus1dStem",
    "VideoResNet",
    "midplanes",
    "mc3_18",
    "r2plus1d_18",
    "r3d_18",
]


def midplanes(inplanes: int, planes: int) -> int:
    """M = ⌊27·C_in·C_out / (9·C_in + 3·C_out)⌋, the width between R(2+1)D's spatial and
    temporal convolutions that gives the pair (C_in·9·M + M·3·C_out weights) about the
    parameters of one 3×3×3 convolution (C_in·27·C_out), torchvision's rule.

    >>> midplanes(64, 64), midplanes(64, 128), midplanes(512, 512)
    (144, 230, 1152)
    """
    return (inplanes * planes * 27) // (inplanes * 9 + 3 * planes)


class Conv3DSimple(nn.Conv3d):
    """A full 3×3×3 convolution, stride s on all three axes, padding 1, no bias (R3D's, and
    MC3's in its first stage). ``midplanes`` is accepted and unused, as in torchvision."""

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        midplanes: int | None = None,
        stride: int = 1,
        padding: int = 1,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            in_planes,
            out_planes,
            (3, 3, 3),
            stride=stride,
            padding=padding,
            bias=False,
            dtype=dtype,
        )

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        """(s, s, s): the block halves time as well as space, so must its shortcut."""
        return stride, stride, stride


class Conv3DNoTemporal(nn.Conv3d):
    """A 1×3×3 convolution: each frame filtered alone (stride (1, s, s), padding (0, p, p),
    no bias); MC3's convolution after its first stage."""

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        midplanes: int | None = None,
        stride: int = 1,
        padding: int = 1,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            in_planes,
            out_planes,
            (1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, padding, padding),
            bias=False,
            dtype=dtype,
        )

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        """(1, s, s): time keeps its length."""
        return 1, stride, stride


class Conv2Plus1D(nn.Sequential):
    """R(2+1)D's factorised 3×3×3: children "0" a spatial 1×3×3 convolution to
    ``midplanes`` channels (stride (1, s, s)), "1" BatchNorm3d, "2" ReLU, "3" a temporal
    3×1×1 convolution to ``out_planes`` (stride (s, 1, 1)); no biases."""

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        midplanes: int,
        stride: int = 1,
        padding: int = 1,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            nn.Conv3d(
                in_planes,
                midplanes,
                (1, 3, 3),
                stride=(1, stride, stride),
                padding=(0, padding, padding),
                bias=False,
                dtype=dtype,
            ),
            nn.BatchNorm3d(midplanes, dtype=dtype),
            nn.ReLU(),
            nn.Conv3d(
                midplanes,
                out_planes,
                (3, 1, 1),
                stride=(stride, 1, 1),
                padding=(padding, 0, 0),
                bias=False,
                dtype=dtype,
            ),
        )

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        """(s, s, s): the temporal half strides time."""
        return stride, stride, stride


ConvBuilder = type[Conv3DSimple] | type[Conv3DNoTemporal] | type[Conv2Plus1D]


class BasicStem(nn.Sequential):
    """R3D's and MC3's stem: Conv3d 3→64, kernel (3, 7, 7), stride (1, 2, 2), padding
    (1, 3, 3), no bias; BatchNorm3d; ReLU. Time keeps its length, space halves."""

    def __init__(self, *, dtype: Any = np.float32) -> None:
        super().__init__(
            nn.Conv3d(
                3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False, dtype=dtype
            ),
            nn.BatchNorm3d(64, dtype=dtype),
            nn.ReLU(),
        )


class R2Plus1dStem(nn.Sequential):
    """R(2+1)D's stem, the (3, 7, 7) stem factorised: a spatial 1×7×7 convolution 3→45
    (stride (1, 2, 2)), BatchNorm3d, ReLU, a temporal 3×1×1 convolution 45→64, BatchNorm3d,
    ReLU; no biases."""

    def __init__(self, *, dtype: Any = np.float32) -> None:
        super().__init__(
            nn.Conv3d(
                3, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False, dtype=dtype
            ),
            nn.BatchNorm3d(45, dtype=dtype),
            nn.ReLU(),
            nn.Conv3d(
                45, 64, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False, dtype=dtype
            ),
            nn.BatchNorm3d(64, dtype=dtype),
            nn.ReLU(),
        )


class BasicBlock(nn.Graph):
    """torchvision's video ``BasicBlock`` (expansion 1)::

        out = relu(conv2(conv1(x)) + identity),
        conv1 = Sequential(conv(C_in → planes, stride), BatchNorm3d, ReLU),
        conv2 = Sequential(conv(planes → planes), BatchNorm3d),
        identity = downsample(x) if downsample else x,

    conv = ``conv_builder`` (:class:`Conv3DSimple`, :class:`Conv3DNoTemporal` or
    :class:`Conv2Plus1D`, the last with M = :func:`midplanes` (C_in, planes) in both of the
    block's convolutions). Children in torchvision's order: conv1, conv2, relu, downsample.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        conv_builder: ConvBuilder,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        mid = midplanes(inplanes, planes)
        self.conv1 = nn.Sequential(
            conv_builder(inplanes, planes, mid, stride, dtype=dtype),
            nn.BatchNorm3d(planes, dtype=dtype),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            conv_builder(planes, planes, mid, dtype=dtype), nn.BatchNorm3d(planes, dtype=dtype)
        )
        self.relu = nn.ReLU()
        if downsample is not None:
            self.downsample = downsample
        self.stride = stride
        out = self.add(self.conv2, self.add(self.conv1, "x"))
        identity = self.add(downsample, "x") if downsample is not None else "x"
        out = self.add(nn.Add(), out, identity)
        self.set_output(self.add(self.relu, out))


def _init_weights(model: nn.Module, rng: np.random.Generator) -> None:
    """torchvision's ``VideoResNet.__init__`` loop, in ``modules()`` order: every Conv3d
    kaiming normal, N(0, 2/fan_out) with fan_out = C_out·f0·f1·f2; BatchNorm γ = 1, β = 0
    (already their defaults); the Linear N(0, 0.01²), bias 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            kaiming_normal_fan_out(module, rng)
        elif isinstance(module, nn.Linear):
            normal_linear_(module, rng)


class VideoResNet(nn.Graph):
    """torchvision's ``VideoResNet`` for (N, 3, T, H, W) clips, BasicBlock × ``layers``::

        stem → layer1 (64) → layer2 (128, /2) → layer3 (256, /2) → layer4 (512, /2)
        → avgpool (1×1×1) → flatten → fc

    ``conv_makers`` gives each stage's convolution; a stage at stride 2 halves H and W, and
    T too unless its convolution is :class:`Conv3DNoTemporal` (the stem keeps T). Output
    (N, num_classes) logits. Build it with :func:`r3d_18`, :func:`mc3_18` or
    :func:`r2plus1d_18`.
    """

    def __init__(
        self,
        conv_makers: tuple[ConvBuilder, ConvBuilder, ConvBuilder, ConvBuilder],
        layers: tuple[int, int, int, int],
        stem: type[BasicStem] | type[R2Plus1dStem],
        num_classes: int = 400,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        self.inplanes = 64
        self.stem = stem(dtype=dtype)
        self.layer1 = self._make_layer(conv_makers[0], 64, layers[0], 1, dtype)
        self.layer2 = self._make_layer(conv_makers[1], 128, layers[1], 2, dtype)
        self.layer3 = self._make_layer(conv_makers[2], 256, layers[2], 2, dtype)
        self.layer4 = self._make_layer(conv_makers[3], 512, layers[3], 2, dtype)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes, rng=rng, dtype=dtype)
        _init_weights(self, rng)
        out = "x"
        for layer in (self.stem, self.layer1, self.layer2, self.layer3, self.layer4):
            out = self.add(layer, out)
        out = self.add(self.avgpool, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.fc, out))

    def _make_layer(
        self, conv_builder: ConvBuilder, planes: int, blocks: int, stride: int, dtype: Any
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(
                    self.inplanes,
                    planes * BasicBlock.expansion,
                    1,
                    stride=conv_builder.get_downsample_stride(stride),
                    bias=False,
                    dtype=dtype,
                ),
                nn.BatchNorm3d(planes * BasicBlock.expansion, dtype=dtype),
            )
        stage = nn.Sequential(
            BasicBlock(self.inplanes, planes, conv_builder, stride, downsample, dtype=dtype)
        )
        self.inplanes = planes * BasicBlock.expansion
        for _ in range(1, blocks):
            stage.append(BasicBlock(self.inplanes, planes, conv_builder, dtype=dtype))
        return stage


def r3d_18(num_classes: int = 400, *, seed: int = 0, dtype: Any = np.float32) -> VideoResNet:
    """R3D-18 (Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action
    Recognition", 2018): ResNet-18 with 3×3×3 convolutions throughout, torchvision's
    ``r3d_18()``: 33 371 472 parameters for Kinetics-400's 400 classes. Input (N, 3, T, H, W)
    (torchvision's weights: 16 frames of 112×112); weights from ``np.random.default_rng(seed)``
    with torchvision's laws.

    >>> r3d_18(5).eval()(np.zeros((1, 3, 2, 16, 16), np.float32)).shape
    (1, 5)
    """
    return VideoResNet(
        (Conv3DSimple,) * 4, (2, 2, 2, 2), BasicStem, num_classes, seed=seed, dtype=dtype
    )


def mc3_18(num_classes: int = 400, *, seed: int = 0, dtype: Any = np.float32) -> VideoResNet:
    """MC3-18 (mixed convolutions, Tran et al. 2018): 3×3×3 convolutions in the first stage,
    1×3×3 (one frame at a time) in the other three, torchvision's ``mc3_18()``: 11 695 440
    parameters for 400 classes."""
    makers = (Conv3DSimple, Conv3DNoTemporal, Conv3DNoTemporal, Conv3DNoTemporal)
    return VideoResNet(makers, (2, 2, 2, 2), BasicStem, num_classes, seed=seed, dtype=dtype)


def r2plus1d_18(num_classes: int = 400, *, seed: int = 0, dtype: Any = np.float32) -> VideoResNet:
    """R(2+1)D-18 (Tran et al. 2018): every 3×3×3 convolution, the stem's (3, 7, 7) too,
    factorised into a spatial and a temporal one with a BatchNorm and ReLU between,
    torchvision's ``r2plus1d_18()``: 31 505 325 parameters for 400 classes."""
    return VideoResNet(
        (Conv2Plus1D,) * 4, (2, 2, 2, 2), R2Plus1dStem, num_classes, seed=seed, dtype=dtype
    )
