"""S3D, the separable 3-D CNN, as torchvision builds it (``s3d``, torchvision.models.video;
Xie et al., "Rethinking Spatiotemporal Feature Learning", 2018): GoogLeNet's Inception
network over (N, 3, T, H, W) clips, with every k×k×k convolution made separable.

A full k×k×k filter mixes space and time in one step, C_in·C_out·k³ weights. S3D factorises
it into a spatial 1×k×k convolution C_in → C_out followed by a temporal k×1×1 one
C_out → C_out, each with BatchNorm and ReLU (``TemporalSeparableConv``):

    y = relu(bn(w_t ⋆ relu(bn(w_s ⋆ x)))),
    w_s: (C_out, C_in, 1, k, k) at stride (1, s, s),   w_t: (C_out, C_out, k, 1, 1) at (s, 1, 1),

C_in·C_out·k² + C_out²·k weights in place of C_in·C_out·k³, and a nonlinearity between space
and time. Its Inception blocks (``SepInceptionBlock3D``) run four branches on one input and
concatenate them along the channels,

    y = [1×1×1(x), sep₃(1×1×1(x)), sep₃(1×1×1(x)), 1×1×1(maxpool₃ₓ₃ₓ₃(x))],

sep₃ the separable 3×3×3, with GoogLeNet's widths. Every BatchNorm has ε = 0.001 and
momentum 0.001 (torchvision's); every convolution but the classifier's is bias-free and
keeps PyTorch's default initialisation (torchvision's S3D sets none of its own).

Module names, ``state_dict`` keys ("features.5.branch1.1.0.0.weight"), shapes and ``repr``
are torchvision's, so its weights load as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .resnet import _wiring

__all__ = [
    "Conv3dNormActivation",
    "S3D",
    "SepInceptionBlock3D",
    "TemporalSeparableConv",
    "s3d",
]

#: S3D's BatchNorm3d options (torchvision's ``partial(nn.BatchNorm3d, eps=0.001, momentum=0.001)``)
EPS, MOMENTUM = 0.001, 0.001

#: The smallest clip the classifier's 2×7×7 average pool accepts: T frames of H×W (see S3D)
MIN_FRAMES, MIN_SIZE = 13, 209


class Conv3dNormActivation(nn.Sequential):
    """torchvision's ``Conv3dNormActivation`` as S3D uses it: children "0" Conv3d (no bias;
    padding (f − 1)/2 per axis unless given), "1" BatchNorm3d (ε = μ = 0.001, S3D's), "2"
    ReLU. Draws the convolution's weight from ``rng`` (PyTorch's default law,
    U(−1/√fan_in, 1/√fan_in), fan_in = C_in·f0·f1·f2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int] = 3,
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] | None = None,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        if padding is None:  # torchvision's rule: an int for an int kernel, else per axis
            if isinstance(kernel_size, tuple):
                f0, f1, f2 = kernel_size
                padding = ((f0 - 1) // 2, (f1 - 1) // 2, (f2 - 1) // 2)
            else:
                padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv3d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                bias=False,
                rng=rng,
                dtype=dtype,
            ),
            nn.BatchNorm3d(out_channels, eps=EPS, momentum=MOMENTUM, dtype=dtype),
            nn.ReLU(),
        )


class TemporalSeparableConv(nn.Sequential):
    """S3D's separable k×k×k convolution C_in → C_out: child "0" a spatial
    :class:`Conv3dNormActivation` of kernel 1×k×k, stride (1, s, s), padding (0, p, p),
    child "1" a temporal one C_out → C_out of kernel k×1×1, stride (s, 1, 1), padding
    (p, 0, 0). A (C_in, T, H, W) clip becomes (C_out, T₂, H₂, W₂), each length
    L₂ = ⌊(L + 2p − k)/s⌋ + 1."""

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        kernel_size: int,
        stride: int,
        padding: int,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        k, s, p = kernel_size, stride, padding
        super().__init__(
            Conv3dNormActivation(
                in_planes, out_planes, (1, k, k), (1, s, s), (0, p, p), rng=rng, dtype=dtype
            ),
            Conv3dNormActivation(
                out_planes, out_planes, (k, 1, 1), (s, 1, 1), (p, 0, 0), rng=rng, dtype=dtype
            ),
        )


class SepInceptionBlock3D(nn.Graph):
    """S3D's Inception block: branch0 1×1×1 to ``b0_out``; branch1 1×1×1 to ``b1_mid`` →
    separable 3×3×3 to ``b1_out``; branch2 likewise (``b2_mid``, ``b2_out``); branch3
    3×3×3 max pool (stride 1, padding 1) → 1×1×1 to ``b3_out``; the four concatenated along
    the channels (a wiring op, torchvision's ``torch.cat``). (N, C_in, T, H, W) →
    (N, b0_out + b1_out + b2_out + b3_out, T, H, W)."""

    def __init__(
        self,
        in_planes: int,
        b0_out: int,
        b1_mid: int,
        b1_out: int,
        b2_mid: int,
        b2_out: int,
        b3_out: int,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        opts: dict[str, Any] = {"rng": rng, "dtype": dtype}
        self.branch0 = Conv3dNormActivation(in_planes, b0_out, 1, **opts)
        self.branch1 = nn.Sequential(
            Conv3dNormActivation(in_planes, b1_mid, 1, **opts),
            TemporalSeparableConv(b1_mid, b1_out, 3, 1, 1, **opts),
        )
        self.branch2 = nn.Sequential(
            Conv3dNormActivation(in_planes, b2_mid, 1, **opts),
            TemporalSeparableConv(b2_mid, b2_out, 3, 1, 1, **opts),
        )
        self.branch3 = nn.Sequential(
            nn.MaxPool3d((3, 3, 3), stride=1, padding=1),
            Conv3dNormActivation(in_planes, b3_out, 1, **opts),
        )
        branches = [self.add(b, "x") for b in (self.branch0, self.branch1, self.branch2)]
        branches.append(self.add(self.branch3, "x"))
        self.set_output(self.add(nn.Concat(1), *branches, name="cat"))


#: (C_in, b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out) of features 5, 6, 8 … 12, 14, 15
#: (GoogLeNet's Mixed_3b, 3c, 4b … 4f, 5b, 5c).
BLOCKS = {
    5: (192, 64, 96, 128, 16, 32, 32),
    6: (256, 128, 128, 192, 32, 96, 64),
    8: (480, 192, 96, 208, 16, 48, 64),
    9: (512, 160, 112, 224, 24, 64, 64),
    10: (512, 128, 128, 256, 24, 64, 64),
    11: (512, 112, 144, 288, 32, 64, 64),
    12: (528, 256, 160, 320, 32, 128, 128),
    14: (832, 256, 160, 320, 32, 128, 128),
    15: (832, 384, 192, 384, 48, 128, 128),
}


class S3D(nn.Graph):
    """torchvision's ``S3D`` for (N, 3, T, H, W) clips::

        features = [sep 7×7×7 /2 (64), maxpool 1×3×3 /(1, 2, 2), 1×1×1 (64), sep 3×3×3 (192),
                    maxpool 1×3×3 /(1, 2, 2), block ×2 (→ 480), maxpool 3×3×3 /2 (padding 1),
                    block ×5 (→ 832), maxpool 2×2×2 /2, block ×2 (→ 1024)]
        y = mean over (t, i, j) of classifier(avgpool(features(x))),
        avgpool = AvgPool3d((2, 7, 7), stride=1),
        classifier = Sequential(Dropout(p=dropout), Conv3d(1024, num_classes, 1×1×1, bias)),

    ``sep`` a :class:`TemporalSeparableConv`, ``block`` a :class:`SepInceptionBlock3D` with
    the widths of :data:`BLOCKS`; the mean is a wiring op (torchvision's ``torch.mean(x,
    dim=(2, 3, 4))``: a global average pool and a flatten here). Output (N, num_classes).

    Sizes: features maps T frames of H×W to 1024 channels of T′ × H′ × W′,

        T′ = ⌊⌈⌈T/2⌉/2⌉/2⌋,   H′ = ⌊⌈⌈⌈⌈H/2⌉/2⌉/2⌉/2⌉/2⌋   (W′ as H′),

    and the 2×7×7 average pool needs T′ ≥ 2 and H′, W′ ≥ 7: the smallest clip is 13 frames
    of 209×209 (:data:`MIN_FRAMES`, :data:`MIN_SIZE`; torchvision's weights were trained on
    224×224 crops and publish 14 frames as their minimum). A larger clip gives
    (T′ − 1) × (H′ − 6) × (W′ − 6) positions of logits, which the mean averages.

    Initialisation as torchvision's (none of its own): PyTorch's defaults, convolution
    weights and the classifier's bias U(−1/√fan_in, 1/√fan_in), BatchNorm γ = 1, β = 0.
    """

    def __init__(
        self,
        num_classes: int = 400,
        dropout: float = 0.2,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func, low=0.0, high=1.0)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        opts: dict[str, Any] = {"rng": rng, "dtype": dtype}
        layers: list[nn.Module] = [
            TemporalSeparableConv(3, 64, 7, 2, 3, **opts),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            Conv3dNormActivation(64, 64, 1, **opts),
            TemporalSeparableConv(64, 192, 3, 1, 1, **opts),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        ]
        for index, widths in BLOCKS.items():
            if index == 8:
                layers.append(nn.MaxPool3d((3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1)))
            elif index == 14:
                layers.append(nn.MaxPool3d((2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)))
            layers.append(SepInceptionBlock3D(*widths, **opts))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AvgPool3d((2, 7, 7), stride=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng),
            nn.Conv3d(1024, num_classes, 1, stride=1, bias=True, **opts),
        )
        out = self.add(self.classifier, self.add(self.avgpool, self.add(self.features, "x")))
        out = self.add(_wiring(nn.AdaptiveAvgPool3d(1)), out, name="mean")
        self.set_output(self.add(_wiring(nn.Flatten()), out, name="flatten"))

    def forward_ctx(self, *inputs: np.ndarray) -> tuple[Any, Any]:
        """The graph's forward, after checking that the clip's features (T′ × H′ × W′, the
        class docstring's sizes) hold the average pool's window: a small clip is refused by
        name, with the least clip, rather than deep inside the pool."""
        x, kernel = (inputs[0] if inputs else None), getattr(self.avgpool, "kernel_size", None)
        if isinstance(x, np.ndarray) and x.ndim in (4, 5) and kernel is not None:
            T, H, W = x.shape[-3:]
            if min(_frames(T) - kernel[0], _side(H) - kernel[1], _side(W) - kernel[2]) < 0:
                least = f"a {kernel} pool"
                if tuple(kernel) == (2, 7, 7):
                    least = f"{MIN_FRAMES} frames of {MIN_SIZE}×{MIN_SIZE}"
                raise ValueError(
                    f"{type(self).__name__}.forward: x: expected a clip whose features hold the "
                    f"{'×'.join(map(str, kernel))} average pool (at least {least}), got shape "
                    f"{x.shape}"
                )
        return super().forward_ctx(*inputs)


def _halved(n: int, ceils: int) -> int:
    """⌊⌈…⌈n/2⌉…/2⌉/2⌋ with ``ceils`` ceilings: what a chain of stride-2 layers leaves."""
    for _ in range(ceils):
        n = (n + 1) // 2
    return n // 2


def _frames(t: int) -> int:
    """T′ = ⌊⌈⌈T/2⌉/2⌉/2⌋: the frames left after the features' strides in time."""
    return _halved(t, 2)


def _side(h: int) -> int:
    """H′ = ⌊⌈⌈⌈⌈H/2⌉/2⌉/2⌉/2⌉/2⌋: the rows (or columns) left after the strides in space."""
    return _halved(h, 4)


def s3d(
    num_classes: int = 400, dropout: float = 0.2, *, seed: int = 0, dtype: Any = np.float32
) -> S3D:
    """S3D (Xie et al. 2018), torchvision's ``s3d()``: 8 320 048 parameters for Kinetics-400's
    400 classes. Input (N, 3, T, H, W) with T ≥ 13 and H, W ≥ 209 (torchvision's weights:
    224×224 frames, at least 14); weights from ``np.random.default_rng(seed)`` with PyTorch's
    default laws; ``dropout`` the classifier's.

    >>> s3d(5).eval()(np.zeros((1, 3, 13, 209, 209), np.float32)).shape
    (1, 5)
    """
    return S3D(num_classes, dropout, seed=seed, dtype=dtype)
