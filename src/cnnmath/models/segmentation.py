"""Semantic segmentation as torchvision builds it: FCN (Long et al. 2015), DeepLabV3 (Chen et
al. 2017) and LR-ASPP (Howard et al. 2019), on a ResNet or MobileNetV3-Large backbone.

A segmentation network labels every pixel: its output is (N, num_classes, H, W), the logits
of each class at each pixel of an (N, 3, H, W) image. The backbones are the classification
networks with their last strides traded for dilation (``replace_stride_with_dilation``,
``dilated=True``): a 3×3 kernel with its taps d pixels apart sees what a stride would have
let it see, while the feature map keeps 1/8 (ResNet) or 1/16 (MobileNetV3) of the image's
resolution instead of 1/32. A head turns the features into class logits at that resolution,
and a bilinear resize (:class:`cnnmath.nn.ResizeLike`) brings them to the image's size.

- FCN's head (:class:`FCNHead`) is a 3×3 convolution, BatchNorm, ReLU, dropout and a 1×1
  classifier.
- DeepLabV3's (:class:`DeepLabHead`) starts with atrous spatial pyramid pooling (:class:`ASPP`):
  a 1×1 branch, three 3×3 branches at dilations 12, 24 and 36 (one image seen at three
  scales by the same-sized kernels) and a branch of the image's average, spread back over
  the map; the five are concatenated and projected back to 256 channels.
- LR-ASPP's (:class:`LRASPPHead`) gates the high-level features by a per-channel sigmoid of
  their average, y = cbr(h) ⊙ σ(W avgpool(h)), resizes them to the stride-8 features' size
  and adds a 1×1 classifier of each.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("backbone.layer4.2.conv2
.weight", "classifier.0.convs.4.1.weight", ``IntermediateLayerGetter``), so torchvision's
weights load as they are. The model returns torchvision's ``out``; with ``aux_loss=True``
(FCN and DeepLabV3) it also has torchvision's auxiliary classifier ``aux_classifier``, an
:class:`FCNHead` on earlier features (the ResNet's layer3, 1024 channels; MobileNetV3's
block at output stride 8), its logits resized to the image too, and returns the tuple
(out, aux) in both modes where torchvision returns the dict {"out": …, "aux": …}; its
``backward`` takes (G_out, G_aux), None for one the loss ignores. torchvision's reference
loss is CE(out) + 0.5·CE(aux). torchvision's trained FCN and DeepLabV3 weights include the
head: they load strictly with ``aux_loss=True``. LR-ASPP has no auxiliary classifier, in
torchvision as here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from .. import nn
from .._checks import positive_int
from .mobilenetv3 import MobileNetV3, mobilenet_v3_large
from .resnet import _wiring, resnet50, resnet101

__all__ = [
    "ASPP",
    "ASPPConv",
    "ASPPPooling",
    "DeepLabHead",
    "DeepLabV3",
    "FCN",
    "FCNHead",
    "IntermediateLayerGetter",
    "LRASPP",
    "LRASPPHead",
    "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "fcn_resnet50",
    "fcn_resnet101",
    "lraspp_mobilenet_v3_large",
]


class IntermediateLayerGetter(nn.Sequential):
    """torchvision's ``IntermediateLayerGetter``: a model's children, under their names, up to
    the last one named in ``return_layers`` (a ResNet without avgpool and fc, a MobileNetV3's
    ``features`` blocks "0" … "16"), run in order. Its ``state_dict`` keys are the children's
    ("conv1.weight", "layer4.2.bn3.running_var"; "16.0.weight"), so inside a segmentation
    model they read "backbone.conv1.weight", as torchvision's.

    torchvision's returns a dict of the named children's outputs; a cnnmath graph reads them
    as values instead: this module's output is the last child's (``out``), and a model that
    needs an earlier one (LR-ASPP's ``low``) runs the slices before and after it as two nodes.
    """

    def __init__(self, model: nn.Module, return_layers: dict[str, str]) -> None:
        names = [name for name, _ in model.named_children()]
        if not set(return_layers) <= set(names):
            raise ValueError(
                f"IntermediateLayerGetter: return_layers: expected names of the model's "
                f"children {names}, got {sorted(return_layers)}"
            )
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        left = set(return_layers)
        for name, child in model.named_children():
            layers[name] = child
            left.discard(name)
            if not left:
                break
        super().__init__(layers)
        self.return_layers = dict(return_layers)


class FCNHead(nn.Sequential):
    """torchvision's ``FCNHead``: Conv2d 3×3 (C → C/4, padding 1, no bias) → BatchNorm2d →
    ReLU → Dropout(0.1) → Conv2d 1×1 (C/4 → ``channels``, with bias). PyTorch's default
    initialisation (weights and bias U(±1/√fan_in)), drawn from ``rng``."""

    def __init__(
        self, in_channels: int, channels: int, *, rng: Any = None, dtype: Any = np.float32
    ) -> None:
        inter = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False, rng=rng, dtype=dtype),
            nn.BatchNorm2d(inter, dtype=dtype),
            nn.ReLU(),
            nn.Dropout(0.1, rng=rng),
            nn.Conv2d(inter, channels, 1, rng=rng, dtype=dtype),
        )


class ASPPConv(nn.Sequential):
    """One atrous branch of :class:`ASPP`: Conv2d 3×3 at dilation r (padding r keeps the
    size; no bias) → BatchNorm2d → ReLU. Its kernel reads the pixels r apart:
    y[i, j] = Σ_{a, b ∈ {−1, 0, 1}} w[a, b]·x[i + r·a, j + r·b]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dilation: int,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                3,
                padding=dilation,
                dilation=dilation,
                bias=False,
                rng=rng,
                dtype=dtype,
            ),
            nn.BatchNorm2d(out_channels, dtype=dtype),
            nn.ReLU(),
        )


class ASPPPooling(nn.Graph):
    """The image-level branch of :class:`ASPP`, torchvision's ``ASPPPooling``: children "0"
    AdaptiveAvgPool2d(1) → "1" Conv2d 1×1 (no bias) → "2" BatchNorm2d → "3" ReLU, then the
    (N, C, 1, 1) result resized bilinearly to the input's size (:class:`nn.ResizeLike`: from
    one pixel, every output pixel is that pixel's value). Input (N, C_in, H, W); output
    (N, C_out, H, W)."""

    def __init__(
        self, in_channels: int, out_channels: int, *, rng: Any = None, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        layers = (
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False, rng=rng, dtype=dtype),
            nn.BatchNorm2d(out_channels, dtype=dtype),
            nn.ReLU(),
        )
        out = "x"
        for i, layer in enumerate(layers):  # named "0" … "3", as torchvision's Sequential
            setattr(self, str(i), layer)
            out = self.add(layer, out)
        self.set_output(self.add(nn.ResizeLike(), out, "x", name="resize"))


class ASPP(nn.Graph):
    """torchvision's ``ASPP``, atrous spatial pyramid pooling: five branches on the same input,

        y = project([b₀(x), b_{r₁}(x), b_{r₂}(x), b_{r₃}(x), pool(x)]),

    b₀ a 1×1 Conv2d → BatchNorm2d → ReLU, b_r an :class:`ASPPConv` at dilation r (r ∈
    ``atrous_rates``, 12, 24, 36 in DeepLabV3), pool an :class:`ASPPPooling`; the branches
    (``convs``, a ModuleList) are concatenated along the channels and ``project``ed: Conv2d
    1×1 (5·C_out → C_out, no bias) → BatchNorm2d → ReLU → Dropout(0.5). Input (N, C_in, H,
    W); output (N, C_out, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int],
        out_channels: int = 256,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        options = {"rng": rng, "dtype": dtype}
        branches: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False, **options),
                nn.BatchNorm2d(out_channels, dtype=dtype),
                nn.ReLU(),
            )
        ]
        branches += [ASPPConv(in_channels, out_channels, r, **options) for r in atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels, **options))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False, **options),
            nn.BatchNorm2d(out_channels, dtype=dtype),
            nn.ReLU(),
            nn.Dropout(0.5, rng=rng),
        )
        # each branch is held (and named) by the ModuleList: the node applying it only reads it
        outs = [self.add(_wiring(b), "x", name=f"convs_{i}") for i, b in enumerate(branches)]
        out = self.add(nn.Concat(1), *outs, name="cat")
        self.set_output(self.add(self.project, out))


class DeepLabHead(nn.Sequential):
    """torchvision's ``DeepLabHead``: :class:`ASPP` (→ 256 channels) → Conv2d 3×3 (256 → 256,
    padding 1, no bias) → BatchNorm2d → ReLU → Conv2d 1×1 (256 → num_classes, with bias)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        atrous_rates: Sequence[int] = (12, 24, 36),
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            ASPP(in_channels, atrous_rates, rng=rng, dtype=dtype),
            nn.Conv2d(256, 256, 3, padding=1, bias=False, rng=rng, dtype=dtype),
            nn.BatchNorm2d(256, dtype=dtype),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1, rng=rng, dtype=dtype),
        )


class LRASPPHead(nn.Graph):
    """torchvision's ``LRASPPHead``, two inputs: ``low`` (N, C_low, H_l, W_l), features at
    output stride 8, and ``high`` (N, C_high, h, w), the last features::

        g = cbr(high) ⊙ scale(high),   cbr = Conv2d 1×1 → BatchNorm2d → ReLU,
                                       scale = AdaptiveAvgPool2d(1) → Conv2d 1×1 → Sigmoid
        y = low_classifier(low) + high_classifier(resize(g to H_l × W_l))

    the gate σ(W avgpool(high)) (N, C_inter, 1, 1) broadcast over the pixels (``nn.Mul``),
    the resize bilinear (:class:`nn.ResizeLike`), both classifiers 1×1 with bias. Output
    (N, num_classes, H_l, W_l).
    """

    def __init__(
        self,
        low_channels: int,
        high_channels: int,
        num_classes: int,
        inter_channels: int,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(("low", "high"))
        options = {"rng": rng, "dtype": dtype}
        self.cbr = nn.Sequential(
            nn.Conv2d(high_channels, inter_channels, 1, bias=False, **options),
            nn.BatchNorm2d(inter_channels, dtype=dtype),
            nn.ReLU(),
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False, **options),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1, **options)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1, **options)
        gated = self.add(nn.Mul(), self.add(self.cbr, "high"), self.add(self.scale, "high"))
        resized = self.add(nn.ResizeLike(), gated, "low", name="resize")
        low = self.add(self.low_classifier, "low")
        high = self.add(self.high_classifier, resized)
        self.set_output(self.add(nn.Add(), low, high))


class _SimpleSegmentationModel(nn.Graph):
    """torchvision's ``_SimpleSegmentationModel``::

        out = resize(classifier(backbone(x)) to x's H × W)
        aux = resize(aux_classifier(backbone up to the "aux" layer(x)) to x's H × W)

    (bilinear, half-pixel: :class:`nn.ResizeLike`). Without an ``aux_classifier`` the
    backbone is one node and the model returns ``out``; with one, the backbone
    (an :class:`IntermediateLayerGetter` whose ``return_layers`` name an "aux" layer) runs as
    two nodes sharing its blocks — "backbone_aux", its children up to that layer, and
    "backbone_out", the rest, reading the first — and the model returns (out, aux) in both
    modes, torchvision's dict in that order. Input (N, 3, H, W); each output (N,
    num_classes, H, W)."""

    def __init__(
        self,
        backbone: nn.Module,
        classifier: nn.Module,
        aux_classifier: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        if aux_classifier is None:
            out = self.add(self.classifier, self.add(self.backbone, "x"))
            self.set_output(self.add(nn.ResizeLike(), out, "x", name="resize"))
            return
        if not isinstance(backbone, IntermediateLayerGetter) or "aux" not in (
            backbone.return_layers.values()
        ):
            raise ValueError(
                f"{type(self).__name__}: backbone: expected an IntermediateLayerGetter whose "
                f"return_layers name an 'aux' layer for the aux_classifier, got "
                f"{getattr(backbone, 'return_layers', type(backbone).__name__)}"
            )
        self.aux_classifier = aux_classifier
        names = [name for name, _ in backbone.named_children()]
        (layer,) = (k for k, v in backbone.return_layers.items() if v == "aux")
        cut = names.index(layer) + 1
        # the backbone's two outputs as two nodes, each a slice of its blocks (sharing them)
        aux = self.add(_wiring(backbone[:cut]), "x", name="backbone_aux")
        features = self.add(_wiring(backbone[cut:]), aux, name="backbone_out")
        out = self.add(nn.ResizeLike(), self.add(self.classifier, features), "x", name="resize")
        aux = self.add(self.aux_classifier, aux)
        self.set_output(out, self.add(nn.ResizeLike(), aux, "x", name="aux_resize"))


class FCN(_SimpleSegmentationModel):
    """torchvision's ``FCN``: a dilated backbone, an :class:`FCNHead`, the logits resized to
    the input's size; optionally an auxiliary :class:`FCNHead` (outputs (out, aux))."""


class DeepLabV3(_SimpleSegmentationModel):
    """torchvision's ``DeepLabV3``: a dilated backbone, a :class:`DeepLabHead` (ASPP), the
    logits resized to the input's size; optionally an auxiliary :class:`FCNHead` (outputs
    (out, aux))."""


class LRASPP(nn.Graph):
    """torchvision's ``LRASPP``: a dilated MobileNetV3-Large whose blocks up to ``low_pos``
    give the ``low`` features (output stride 8) and the rest the ``high`` ones (stride 16),
    an :class:`LRASPPHead` on both, the logits resized to the input's size. Input (N, 3, H,
    W); output (N, num_classes, H, W)."""

    def __init__(
        self,
        backbone: IntermediateLayerGetter,
        low_pos: int,
        low_channels: int,
        high_channels: int,
        num_classes: int,
        inter_channels: int = 128,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = LRASPPHead(
            low_channels, high_channels, num_classes, inter_channels, rng=rng, dtype=dtype
        )
        # the backbone's two outputs as two nodes, each a slice of its blocks (sharing them)
        low = self.add(_wiring(backbone[: low_pos + 1]), "x", name="low")
        high = self.add(_wiring(backbone[low_pos + 1 :]), low, name="high")
        out = self.add(self.classifier, low, high)
        self.set_output(self.add(nn.ResizeLike(), out, "x", name="resize"))


def _checked(func: str, num_classes: Any, aux_loss: Any, seed: Any) -> tuple[int, bool, int]:
    """num_classes and seed checked; ``aux_loss`` a bool or None (off, as torchvision's
    builders without weights), returned as a bool."""
    num_classes = positive_int("num_classes", num_classes, func=func)
    seed = positive_int("seed", seed, func=func, minimum=0)
    if aux_loss is not None and not isinstance(aux_loss, (bool, np.bool_)):
        raise TypeError(f"{func}: aux_loss: expected a bool or None, got {aux_loss!r}")
    return num_classes, bool(aux_loss), seed


def _head_rng(seed: int) -> np.random.Generator:
    """The heads' draws: seed sequence (seed, 1), apart from the backbone's (seed)."""
    return np.random.default_rng([seed, 1])


_Model = TypeVar("_Model", bound=_SimpleSegmentationModel)


def _out_channels(block: nn.Module) -> int:
    """A MobileNetV3 block's output channels (``out_channels``, as torchvision reads them)."""
    return int(getattr(block, "out_channels"))  # noqa: B009 (any Module; the blocks have it)


def _resnet_model(
    cls: type[_Model],
    depth: int,
    head: str,
    func: str,
    num_classes: Any,
    aux_loss: Any,
    seed: Any,
    dtype: Any,
) -> _Model:
    num_classes, aux, seed = _checked(func, num_classes, aux_loss, seed)
    build = resnet50 if depth == 50 else resnet101
    resnet = build(replace_stride_with_dilation=(False, True, True), seed=seed, dtype=dtype)
    return_layers = {"layer4": "out"}
    if aux:
        return_layers["layer3"] = "aux"
    backbone = IntermediateLayerGetter(resnet, return_layers)
    rng = _head_rng(seed)
    classifier: nn.Module
    if head == "fcn":
        classifier = FCNHead(2048, num_classes, rng=rng, dtype=dtype)
    else:
        classifier = DeepLabHead(2048, num_classes, rng=rng, dtype=dtype)
    # drawn after the classifier: the rest of the model is the same with or without it
    aux_classifier = FCNHead(1024, num_classes, rng=rng, dtype=dtype) if aux else None
    return cls(backbone, classifier, aux_classifier)


def fcn_resnet50(
    num_classes: int = 21, aux_loss: bool | None = False, *, seed: int = 0, dtype: Any = np.float32
) -> FCN:
    """FCN on a ResNet-50 dilated in layer3 and layer4 (output stride 8), torchvision's
    ``fcn_resnet50(aux_loss=False)``: 32 957 013 parameters for 21 classes. The backbone is
    :func:`resnet50`'s (seeded by ``seed``), the heads PyTorch's default initialisation.
    ``aux_loss=True`` adds the auxiliary FCNHead on layer3 (35 322 218 parameters,
    torchvision's published count for its trained weights) and returns (out, aux).

    >>> fcn_resnet50(3).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 3, 32, 32)
    >>> x = np.zeros((1, 3, 32, 32), np.float32)
    >>> [y.shape for y in fcn_resnet50(3, aux_loss=True).eval()(x)]
    [(1, 3, 32, 32), (1, 3, 32, 32)]
    """
    return _resnet_model(FCN, 50, "fcn", "fcn_resnet50", num_classes, aux_loss, seed, dtype)


def fcn_resnet101(
    num_classes: int = 21, aux_loss: bool | None = False, *, seed: int = 0, dtype: Any = np.float32
) -> FCN:
    """FCN on a dilated ResNet-101, torchvision's ``fcn_resnet101(aux_loss=False)``
    (51 949 141 parameters for 21 classes; 54 314 346 with ``aux_loss=True``, which returns
    (out, aux))."""
    return _resnet_model(FCN, 101, "fcn", "fcn_resnet101", num_classes, aux_loss, seed, dtype)


def deeplabv3_resnet50(
    num_classes: int = 21, aux_loss: bool | None = False, *, seed: int = 0, dtype: Any = np.float32
) -> DeepLabV3:
    """DeepLabV3 on a ResNet-50 dilated in layer3 and layer4, ASPP at rates 12, 24, 36,
    torchvision's ``deeplabv3_resnet50(aux_loss=False)`` (39 638 869 parameters for 21
    classes; 42 004 074 with ``aux_loss=True``, an FCNHead on layer3, which returns (out,
    aux))."""
    func = "deeplabv3_resnet50"
    return _resnet_model(DeepLabV3, 50, "deeplab", func, num_classes, aux_loss, seed, dtype)


def deeplabv3_resnet101(
    num_classes: int = 21, aux_loss: bool | None = False, *, seed: int = 0, dtype: Any = np.float32
) -> DeepLabV3:
    """DeepLabV3 on a dilated ResNet-101, torchvision's ``deeplabv3_resnet101(aux_loss=False)``
    (58 630 997 parameters for 21 classes; 60 996 202 with ``aux_loss=True``, which returns
    (out, aux))."""
    func = "deeplabv3_resnet101"
    return _resnet_model(DeepLabV3, 101, "deeplab", func, num_classes, aux_loss, seed, dtype)


def _mobilenet_features(seed: int, dtype: Any) -> tuple[nn.Sequential, list[int]]:
    """A dilated MobileNetV3-Large's ``features`` and its stages' ends, as torchvision finds
    them: block 0, the blocks with a configured stride > 1 (``_is_cn``), the last block."""
    mobilenet: MobileNetV3 = mobilenet_v3_large(dilated=True, seed=seed, dtype=dtype)
    features = mobilenet.features
    cn = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]
    return features, [0, *cn, len(features) - 1]


def deeplabv3_mobilenet_v3_large(
    num_classes: int = 21, aux_loss: bool | None = False, *, seed: int = 0, dtype: Any = np.float32
) -> DeepLabV3:
    """DeepLabV3 on a dilated MobileNetV3-Large (its ``features``, output stride 16: blocks
    "0" … "16" under ``backbone``), torchvision's ``deeplabv3_mobilenet_v3_large(
    aux_loss=False)`` (11 025 477 parameters for 21 classes). ``aux_loss=True`` adds
    torchvision's auxiliary FCNHead on block "4" (40 channels, output stride 8; 11 029 328
    parameters) and returns (out, aux)."""
    func = "deeplabv3_mobilenet_v3_large"
    num_classes, aux, seed = _checked(func, num_classes, aux_loss, seed)
    features, stages = _mobilenet_features(seed, dtype)
    out_pos, aux_pos = stages[-1], stages[-4]  # torchvision's: aux_pos the stride-8 stage
    return_layers = {str(out_pos): "out"}
    if aux:
        return_layers[str(aux_pos)] = "aux"
    backbone = IntermediateLayerGetter(features, return_layers)
    channels = _out_channels(features[out_pos])
    rng = _head_rng(seed)
    classifier = DeepLabHead(channels, num_classes, rng=rng, dtype=dtype)
    aux_classifier = None
    if aux:
        aux_channels = _out_channels(features[aux_pos])
        aux_classifier = FCNHead(aux_channels, num_classes, rng=rng, dtype=dtype)
    return DeepLabV3(backbone, classifier, aux_classifier)


def lraspp_mobilenet_v3_large(
    num_classes: int = 21, aux_loss: bool | None = None, *, seed: int = 0, dtype: Any = np.float32
) -> LRASPP:
    """LR-ASPP on a dilated MobileNetV3-Large: ``low`` the stride-8 features of block "4"
    (40 channels), ``high`` those of the last block "16" (960), torchvision's
    ``lraspp_mobilenet_v3_large()`` (3 221 538 parameters for 21 classes). It has no
    auxiliary classifier: ``aux_loss=True`` is refused, as torchvision refuses it
    (NotImplementedError there); False and None are accepted, as there.

    >>> lraspp_mobilenet_v3_large(3).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 3, 32, 32)
    """
    func = "lraspp_mobilenet_v3_large"
    num_classes, aux, seed = _checked(func, num_classes, aux_loss, seed)
    if aux:
        raise ValueError(
            f"{func}: aux_loss: LR-ASPP has no auxiliary classifier (torchvision's raises "
            "NotImplementedError too); expected False or None, got True"
        )
    features, stages = _mobilenet_features(seed, dtype)
    low_pos, high_pos = stages[-4], stages[-1]
    backbone = IntermediateLayerGetter(features, {str(low_pos): "low", str(high_pos): "high"})
    low_channels = _out_channels(features[low_pos])
    high_channels = _out_channels(features[high_pos])
    return LRASPP(
        backbone,
        low_pos,
        low_channels,
        high_channels,
        num_classes,
        rng=_head_rng(seed),
        dtype=dtype,
    )
