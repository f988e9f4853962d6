"""One training epoch of the digits CNN, cnnmath beside PyTorch, at a given thread count.

The same network (``cnnmath.models.lenet()``, rebuilt with ``torch.nn`` and given the same
initial weights), the same optimiser (Adam at the recipe's learning rate), the same loss
(softmax cross-entropy) and the same batches (one permutation of the 1437 training images,
the recipe's batch size, float32) in both libraries. Augmentation and evaluation are left
out: the epoch timed is forward + loss + backward + optimiser step over every batch.
Both libraries get the same thread count (``cnnmath.set_num_threads``,
``torch.set_num_threads``); each runs its epoch in turn, ``repeats`` times, each epoch after
an idle wait and an untimed warm-up epoch of its own (``cnnmath.bench.fair``), and the median
is reported.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np

from ..recipes import RECIPE
from . import fair

__all__ = ["epochs", "run"]

BATCH_SIZE = RECIPE["batch_size"]
LR = RECIPE["lr"]


def _cnnmath_epoch(model: Any, optimizer: Any, X: Any, y: Any, order: Any) -> float:
    from .. import losses

    t0 = time.perf_counter()
    for k in range(0, X.shape[0], BATCH_SIZE):
        batch = order[k : k + BATCH_SIZE]
        logits = model(X[batch])
        _, grad = losses.softmax_cross_entropy(logits, y[batch])
        optimizer.zero_grad()
        model.backward(grad, input_grad=False)  # PyTorch's batch needs no gradient either
        optimizer.step()
    return time.perf_counter() - t0


def _torch_model(torch, model):
    """``torch.nn.Sequential`` of the same layers as ``cnnmath.models.lenet()``, same weights."""
    from .. import nn

    layers = []
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            layers.append(
                torch.nn.Conv2d(
                    layer.in_channels,
                    layer.out_channels,
                    layer.kernel_size,
                    stride=layer.stride,
                    padding=layer.padding,
                    dilation=layer.dilation,
                )
            )
        elif isinstance(layer, nn.Linear):
            out_features, in_features = layer.weight.shape
            layers.append(torch.nn.Linear(in_features, out_features))
        elif isinstance(layer, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride))
        elif isinstance(layer, nn.Flatten):
            layers.append(torch.nn.Flatten())
        else:  # pragma: no cover - lenet() uses only the layers above
            raise TypeError(f"no PyTorch counterpart for {layer!r}")
    tm = torch.nn.Sequential(*layers)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return tm


def _torch_epoch(torch, model, optimizer, X, y, order) -> float:
    F = torch.nn.functional
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    t0 = time.perf_counter()
    for k in range(0, X.shape[0], BATCH_SIZE):
        batch = torch.from_numpy(order[k : k + BATCH_SIZE])
        loss = F.cross_entropy(model(Xt[batch]), yt[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - t0


def _import_torch() -> Any:
    """The torch module, or None where PyTorch is not installed (cnnmath's side still runs)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def epochs(torch: Any = None) -> tuple[Any, Any, int]:
    """The two timed callables, one cnnmath epoch and one PyTorch epoch (None without
    PyTorch), from the same initial weights, each carrying its model and optimiser on from
    call to call; and N, the number of training images."""
    from .. import optim
    from ..data import load_digits
    from ..models import lenet

    X, y = load_digits("train", dtype=np.float32)
    order = np.random.default_rng(0).permutation(X.shape[0])
    model = lenet(0)
    optimizer = optim.Adam(model.parameters(), lr=LR)

    def ours() -> None:
        _cnnmath_epoch(model, optimizer, X, y, order)

    theirs = None
    if torch is not None:
        tmodel = _torch_model(torch, model)
        toptimizer = torch.optim.Adam(tmodel.parameters(), lr=LR)

        def theirs() -> None:
            _torch_epoch(torch, tmodel, toptimizer, X, y, order)

    return ours, theirs, X.shape[0]


def run(threads: int, repeats: int = 3) -> list[dict[str, Any]]:
    """Time one training epoch in cnnmath and in PyTorch (if importable) with ``threads``
    threads for both (``cnnmath.bench.fair.same_threads``), epochs in turns, each after an
    idle wait and an untimed warm-up epoch of the same library; return rows ``{name,
    cnnmath_s, torch_s, ratio}`` (median seconds per epoch; the ratio cnnmath / PyTorch is
    the median of each turn's own, ``fair.paired_ratio``; torch_s and ratio are NaN without
    PyTorch)."""
    torch = _import_torch()
    with fair.same_threads(threads, torch):
        ours, theirs, n = epochs(torch)
        steps = [ours] if theirs is None else [ours, theirs]
        samples = fair.timed_samples(steps, max(1, repeats))
    cnnmath_s = statistics.median(samples[0])
    torch_s = statistics.median(samples[1]) if theirs is not None else math.nan
    name = f"digits LeNet epoch (N={n}, B={BATCH_SIZE}, Adam)"
    return [
        {
            "name": name,
            "cnnmath_s": cnnmath_s,
            "torch_s": torch_s,
            "ratio": fair.paired_ratio(*samples) if theirs is not None else math.nan,
            "target": 1.0,  # at one thread and at all cores
        }
    ]
