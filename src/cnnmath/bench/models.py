"""Whole-model rows: ResNet-18 forward (batch 1, 3×224×224, eval mode), one training step
(batch 8, train mode: forward, softmax cross-entropy, backward, SGD with momentum) and the
forward again with every batch norm folded into its convolution (``nn.fold_batch_norm``
against PyTorch's ``fuse_conv_bn_eval`` on its twin: both sides folded), and MobileNetV2's
forward (batch 1, eval mode: its depthwise convolutions, no target), cnnmath beside PyTorch
at a given thread count.

The PyTorch twins are built here from ``torch.nn`` with torchvision's module names (so
torchvision is not needed) and given cnnmath's initial weights through ``state_dict``; both
sides see the same inputs and labels in float32. Medians of ``repeats`` interleaved timings,
each after an idle wait and an untimed warm-up call of the same step
(``cnnmath.bench.fair``); each ratio is the median of the turns' own ratios
(``fair.paired_ratio``). Without PyTorch cnnmath is timed alone (torch_s and ratio NaN).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from . import fair

__all__ = ["fold_torch_resnet18", "run", "torch_mobilenet_v2", "torch_resnet18"]

LR, MOMENTUM = 0.1, 0.9


def torch_resnet18(torch: Any, num_classes: int = 1000) -> Any:
    """torchvision's ResNet-18 layout written with ``torch.nn`` (same module names and
    ``state_dict`` keys as ``cnnmath.models.resnet18``)."""
    tnn = torch.nn
    Module: Any = tnn.Module

    class BasicBlock(Module):
        def __init__(self, inplanes: int, planes: int, stride: int) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = tnn.Sequential(
                    tnn.Conv2d(inplanes, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes)
                )

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet18(Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU(inplace=True)
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            inplanes = 64
            for i, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2))):
                stage = tnn.Sequential(
                    BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1)
                )
                setattr(self, f"layer{i + 1}", stage)
                inplanes = planes
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet18()


def torch_mobilenet_v2(torch: Any, num_classes: int = 1000) -> Any:
    """torchvision's MobileNetV2 layout written with ``torch.nn`` (same module names and
    ``state_dict`` keys as ``cnnmath.models.mobilenet_v2``): inverted residual blocks
    1×1 expansion → 3×3 depthwise → 1×1 projection, a residual sum where the shape allows."""
    from ..models.mobilenet import INVERTED_RESIDUAL_SETTING

    tnn = torch.nn
    Module: Any = tnn.Module

    def conv_bn_relu6(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> Any:
        conv = tnn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        return tnn.Sequential(conv, tnn.BatchNorm2d(cout), tnn.ReLU6(inplace=True))

    class InvertedResidual(Module):
        def __init__(self, inp: int, oup: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = inp * t
            self.use_res_connect = stride == 1 and inp == oup
            layers = [conv_bn_relu6(inp, hidden, 1)] if t != 1 else []
            layers += [
                conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                tnn.Conv2d(hidden, oup, 1, bias=False),
                tnn.BatchNorm2d(oup),
            ]
            self.conv = tnn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(Module):
        def __init__(self) -> None:
            super().__init__()
            features, cin = [conv_bn_relu6(3, 32, 3, 2)], 32
            for t, c, n, s in INVERTED_RESIDUAL_SETTING:
                for i in range(n):
                    features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            features.append(conv_bn_relu6(cin, 1280, 1))
            self.features = tnn.Sequential(*features)
            self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(1280, num_classes))

        def forward(self, x: Any) -> Any:
            x = tnn.functional.adaptive_avg_pool2d(self.features(x), 1)
            return self.classifier(torch.flatten(x, 1))

    return MobileNetV2()


def fold_torch_resnet18(torch: Any, model: Any) -> Any:
    """The twin with each (conv, batch norm) pair fused by PyTorch's ``fuse_conv_bn_eval``
    and the batch norm replaced by ``Identity`` (eval mode), in place; returns the model."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    blocks = [model] + [block for i in range(1, 5) for block in getattr(model, f"layer{i}")]
    for block in blocks:
        for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
            if hasattr(block, conv):
                setattr(block, conv, fuse_conv_bn_eval(getattr(block, conv), getattr(block, bn)))
                setattr(block, bn, torch.nn.Identity())
        if getattr(block, "downsample", None) is not None:
            down = block.downsample
            down[0] = fuse_conv_bn_eval(down[0], down[1])
            down[1] = torch.nn.Identity()
    return model


def row_names(image_size: int = 224) -> list[str]:
    """The names of `run`'s rows, in its order (``cnnmath bench --only`` matches them)."""
    size = f"3×{image_size}×{image_size}"
    return [
        f"ResNet-18 forward (B=1, {size}, eval)",
        f"ResNet-18 train step (B=8, {size}, SGD)",
        f"ResNet-18 forward, BN folded (B=1, {size})",
        f"MobileNetV2 forward (B=1, {size}, eval)",
    ]


def run(
    threads: int, repeats: int = 3, torch: Any = None, image_size: int = 224
) -> list[dict[str, Any]]:
    """Time the three ResNet-18 rows and MobileNetV2's forward with ``threads`` threads
    (``cnnmath.set_num_threads`` and ``torch.set_num_threads``, both restored after); rows
    ``{name, cnnmath_s, torch_s, ratio, target}`` as ``cnnmath.bench.train.run``'s
    (MobileNetV2's target None: shown, not judged). ``image_size`` shrinks the images for a
    quick check that the rows run."""
    from .. import losses, nn, optim
    from ..models import mobilenet_v2, resnet18

    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 3, image_size, image_size)).astype(np.float32)
    x8 = rng.standard_normal((8, 3, image_size, image_size)).astype(np.float32)
    labels = rng.integers(0, 1000, 8)
    infer, learner = resnet18(seed=0).eval(), resnet18(seed=0).train()
    sgd = optim.SGD(learner.parameters(), lr=LR, momentum=MOMENTUM)
    folded = nn.fold_batch_norm(infer)
    mobile = mobilenet_v2(seed=0).eval()

    def forward() -> None:
        infer(x1)

    def forward_folded() -> None:
        folded(x1)

    def train_step() -> None:
        logits = learner(x8)
        _, grad = losses.softmax_cross_entropy(logits, labels)
        sgd.zero_grad()
        learner.backward(grad, input_grad=False)  # as PyTorch: the images need no gradient
        sgd.step()

    def forward_mobile() -> None:
        mobile(x1)

    steps = [forward, train_step, forward_folded, forward_mobile]
    if torch is not None:
        state = {k: torch.from_numpy(v) for k, v in infer.state_dict().items()}
        t_infer, t_learner = torch_resnet18(torch), torch_resnet18(torch)
        t_infer.load_state_dict(state)
        t_learner.load_state_dict(state)
        t_infer.eval()
        t_learner.train()
        t_sgd = torch.optim.SGD(t_learner.parameters(), lr=LR, momentum=MOMENTUM)
        t_folded = torch_resnet18(torch)
        t_folded.load_state_dict(state)
        t_folded = fold_torch_resnet18(torch, t_folded)
        tx1, tx8, tlabels = torch.from_numpy(x1), torch.from_numpy(x8), torch.from_numpy(labels)
        t_mobile = torch_mobilenet_v2(torch)
        t_mobile.load_state_dict({k: torch.from_numpy(v) for k, v in mobile.state_dict().items()})
        t_mobile.eval()

        def t_forward() -> None:
            with torch.no_grad():
                t_infer(tx1)

        def t_train_step() -> None:
            loss = torch.nn.functional.cross_entropy(t_learner(tx8), tlabels)
            t_sgd.zero_grad()
            loss.backward()
            t_sgd.step()

        def t_forward_folded() -> None:
            with torch.no_grad():
                t_folded(tx1)

        def t_forward_mobile() -> None:
            with torch.no_grad():
                t_mobile(tx1)

        steps += [t_forward, t_train_step, t_forward_folded, t_forward_mobile]
    with fair.same_threads(threads, torch):
        samples = fair.timed_samples(steps, repeats)
    names = row_names(image_size)
    targets = [1.3, 1.3, 1.3, None]  # MobileNetV2's: the depthwise layers, for information
    rows = []
    for k, name in enumerate(names):
        theirs = samples[k + len(names)] if torch is not None else None
        rows.append(
            {
                "name": name,
                "cnnmath_s": statistics.median(samples[k]),
                "torch_s": statistics.median(theirs) if theirs is not None else math.nan,
                "ratio": fair.paired_ratio(samples[k], theirs) if theirs is not None else math.nan,
                "target": targets[k],
            }
        )
    return rows
