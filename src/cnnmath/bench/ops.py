"""Timings of conv2d and pooling, forward + backward, for cnnmath and PyTorch side by side.

Both libraries run in this one process on the same float32 data, interleaved (one cnnmath
sample, then one PyTorch sample, repeated, each after an idle wait and an untimed warm-up
call of its own library: ``cnnmath.bench.fair``), at the same thread count; the table shows
medians and the ratio cnnmath / PyTorch (below 1: cnnmath is faster), the median of each
turn's own ratio (``fair.paired_ratio``). PyTorch is imported here only, never by the
library.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..ops import (
    avg_pool2d,
    avg_pool2d_backward,
    conv2d,
    conv2d_backward,
    conv_transpose2d,
    conv_transpose2d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from ..ops.conv import dispatch_plan
from . import fair


class ConvCase(NamedTuple):
    """One conv2d benchmark shape: (N, C_in, H, W, C_out, k, stride, pad) and its target;
    grouped (``groups``) or a conv_transpose2d (``transpose``: x (N, C_in, H, W), weight
    (C_in, C_out/groups, k, k))."""

    name: str
    shape: tuple[int, int, int, int, int, int, int, int]  # (N, C_in, H, W, C_out, k, stride, pad)
    target: float  # the ratio cnnmath / PyTorch to reach at one thread (ALL_CORES_TARGET at more)
    roofline: bool = False  # also held to a share of NumPy's sgemm GFLOP/s (`roof_share`)
    groups: int = 1
    transpose: bool = False


CONV_CASES = [
    ConvCase("result 1, finite differences", (1, 1, 512, 512, 2, 3, 1, 1), 0.2),
    ConvCase("result 2, average as conv", (1, 3, 512, 512, 3, 2, 2, 0), 0.6),
    ConvCase("result 3, grayscale", (1, 3, 512, 600, 1, 1, 1, 0), 0.6),
    ConvCase("LeNet conv 1", (64, 1, 28, 28, 6, 5, 1, 2), 0.45),
    ConvCase("LeNet conv 2", (64, 6, 14, 14, 16, 5, 1, 0), 1.0),
    ConvCase("ResNet-like 3x3", (32, 64, 32, 32, 64, 3, 1, 1), 1.15, True),
    ConvCase("ResNet-like stride 2", (32, 64, 32, 32, 128, 3, 2, 1), 1.15, True),
    ConvCase("MobileNetV2 depthwise 3x3", (32, 32, 56, 56, 32, 3, 1, 1), 1.0, groups=32),
    ConvCase("MobileNetV2 depthwise s2", (32, 96, 56, 56, 96, 3, 2, 1), 1.0, groups=96),
    ConvCase("conv_transpose2d upsampling", (8, 64, 32, 32, 64, 4, 2, 1), 1.0, transpose=True),
]


ALL_CORES_TARGET = 1.0  # every conv, pooling and batch-norm row at more than one thread


def target_at(target: float, threads: int) -> float:
    """The ratio a row must reach: its own at one thread, ALL_CORES_TARGET at more."""
    return target if threads == 1 else ALL_CORES_TARGET


def roof_share(threads: int) -> float:
    """The share of NumPy's sgemm GFLOP/s a roofline row must reach: half at one thread,
    70 % at more (the products are threaded by blocks as well as BLAS threads them)."""
    return 0.5 if threads == 1 else 0.7


class PoolCase(NamedTuple):
    """One pooling benchmark: max or avg, window/stride/padding, on an activation shape."""

    name: str
    kind: str  # "max" or "avg"
    x_shape: tuple[int, int, int, int]
    kernel: int
    stride: int
    padding: int
    target: float = 0.75


_ACTIVATIONS = {"LeNet": (64, 6, 28, 28), "ResNet": (32, 64, 32, 32)}
POOL_CASES = [
    PoolCase(f"{kind} pool {k}/{s}/{p}, {net}", kind, shape, k, s, p)
    for net, shape in _ACTIVATIONS.items()
    for kind in ("max", "avg")
    for k, s, p in ((2, 2, 0), (3, 2, 1))
]


def conv_flops(shape: tuple[int, ...], groups: int = 1, transpose: bool = False) -> float:
    """Multiply-adds ×2 of the forward pass and the two gradient correlations (3 × forward);
    a transposed convolution's input pixels each meet C_out/groups · k² weights."""
    N, C, H, W, O, k, s, p = shape
    if transpose:
        return 3 * 2.0 * N * C * H * W * (O // groups) * k * k
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    return 3 * 2.0 * N * O * Ho * Wo * (C // groups) * k * k


def sgemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """NumPy's own float32 matrix product speed (GFLOP/s, n × n by n × n): the roofline."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_once(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def _once(f: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def interleaved(
    f: Callable[[], Any], g: Callable[[], Any] | None, repeats: int, min_time: float = 0.02
) -> tuple[float, float, float]:
    """(median seconds per call of f, of g, the ratio f / g): f and g timed in turns (f, g,
    f, g, ...), each turn after an idle wait and an untimed warm-up call of that function
    (``fair.interleaved_samples``); the ratio is the median of the turns' own ratios
    (``fair.paired_ratio``). Without g (no PyTorch) its time and the ratio are NaN."""
    samples = fair.interleaved_samples([f] if g is None else [f, g], repeats, min_time)
    if g is None:
        return statistics.median(samples[0]), math.nan, math.nan
    return (
        statistics.median(samples[0]),
        statistics.median(samples[1]),
        fair.paired_ratio(samples[0], samples[1]),
    )


def faults(f: Callable[[], Any], g: Callable[[], Any] | None) -> tuple[float, float]:
    """Minor page faults per call of f and of g (``fair.page_faults_per_call``; NaN for a
    missing g): what each library pays for memory it maps afresh."""
    theirs = fair.page_faults_per_call(g) if g is not None else float("nan")
    return fair.page_faults_per_call(f), theirs


def _plan_text(plan: dict[str, list[str]]) -> str:
    parts = []
    for key in ("forward", "grad_input", "grad_weight"):
        names = plan[key]
        if len(set(names)) == 1 and len(names) > 1:
            parts.append(f"{names[0]}x{len(names)}")
        else:
            parts.append("+".join(names) if names else "-")
    return " / ".join(parts)


def conv_row(case: ConvCase, torch: Any, repeats: int) -> dict[str, Any]:
    """Time conv2d + conv2d_backward (grad_x, grad_weight, grad_bias) against PyTorch, or
    conv_transpose2d + its backward for a ``transpose`` case."""
    N, C, H, W, O, k, s, p = case.shape
    G = case.groups
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w_shape = (C, O // G, k, k) if case.transpose else (O, C // G, k, k)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(O, dtype=np.float32)
    f: Callable[..., np.ndarray]
    f_backward: Callable[..., tuple[np.ndarray, ...]]
    if case.transpose:
        f, f_backward, name = conv_transpose2d, conv_transpose2d_backward, "conv_transpose2d"
        args: tuple[Any, ...] = (s, p, 0, G)  # stride, padding, output_padding, groups
    else:
        f, f_backward, name = conv2d, conv2d_backward, "conv2d"
        args = (s, p, 1, G)  # stride, padding, dilation, groups
    y = f(x, w, b, *args)
    g = rng.standard_normal(y.shape, dtype=np.float32)

    def ours() -> None:
        f(x, w, b, *args)
        f_backward(g, x, w, *args)

    theirs = None
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g)
        torch_f = getattr(torch.nn.functional, name)

        def theirs() -> None:
            tx.grad = tw.grad = tb.grad = None
            torch_f(tx, tw, tb, *args).backward(tg)

    t_ours, t_theirs, ratio = interleaved(ours, theirs, repeats)
    pf_ours, pf_theirs = faults(ours, theirs)
    flops = conv_flops(case.shape, G, case.transpose)
    if case.transpose:  # conv2d's plan on the output: its grad_input is this forward
        plan = dispatch_plan(y.shape, w_shape, s, p, groups=G)
        plan["forward"], plan["grad_input"] = plan["grad_input"], plan["forward"]
    else:
        plan = dispatch_plan((N, C, H, W), w_shape, s, p, groups=G)
    return {
        "name": case.name,
        "shape": case.shape,
        "cnnmath_s": t_ours,
        "torch_s": t_theirs,
        "ratio": ratio,
        "faults": (pf_ours, pf_theirs),
        "target": case.target,
        "cnnmath_gflops": flops / t_ours / 1e9,
        "torch_gflops": flops / t_theirs / 1e9,
        "roofline": case.roofline,
        "methods": _plan_text(plan),
    }


def pool_row(case: PoolCase, torch: Any, repeats: int) -> dict[str, Any]:
    """Time a pooling forward + backward against PyTorch. Max pooling runs as PyTorch's
    autograd runs it (and as ``nn.MaxPool2d`` does in training): the forward returns each
    window's choice with Y (``return_indices``), the backward routes G by it."""
    k, s, p = case.kernel, case.stride, case.padding
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape, dtype=np.float32)
    g = rng.standard_normal(avg_pool2d(x, k, s, p).shape, dtype=np.float32)

    def ours() -> None:
        if case.kind == "max":
            _, indices = max_pool2d(x, k, s, p, return_indices=True)
            max_pool2d_backward(g, x, k, s, p, indices=indices)
        else:
            avg_pool2d(x, k, s, p)
            avg_pool2d_backward(g, x, k, s, p)

    theirs = None
    if torch is not None:
        tf = (
            torch.nn.functional.max_pool2d if case.kind == "max" else torch.nn.functional.avg_pool2d
        )
        tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

        def theirs() -> None:
            tx.grad = None
            tf(tx, k, s, p).backward(tg)

    t_ours, t_theirs, ratio = interleaved(ours, theirs, repeats)
    pf_ours, pf_theirs = faults(ours, theirs)
    return {
        "name": case.name,
        "shape": case.x_shape,
        "cnnmath_s": t_ours,
        "torch_s": t_theirs,
        "ratio": ratio,
        "faults": (pf_ours, pf_theirs),
        "target": case.target,
    }


BATCH_NORM_CASE = ("batch_norm train, ResNet", (32, 64, 56, 56), 1.0)  # name, x shape, target


def batch_norm_row(torch: Any, repeats: int) -> dict[str, Any]:
    """Time batch_norm in training (batch statistics, running statistics updated, affine)
    + batch_norm_backward (all three gradients) against PyTorch, float32."""
    from ..ops.norm import batch_norm, batch_norm_backward

    name, shape, target = BATCH_NORM_CASE
    C = shape[1]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    w, b = rng.standard_normal(C, dtype=np.float32), rng.standard_normal(C, dtype=np.float32)
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)

    def ours() -> None:
        batch_norm(x, rm, rv, w, b, True)
        batch_norm_backward(g, x, None, None, w, training=True)

    theirs = None
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        trm, trv, tg = torch.zeros(C), torch.ones(C), torch.from_numpy(g)

        def theirs() -> None:
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, True).backward(tg)

    t_ours, t_theirs, ratio = interleaved(ours, theirs, repeats)
    pf_ours, pf_theirs = faults(ours, theirs)
    return {
        "name": name,
        "shape": shape,
        "cnnmath_s": t_ours,
        "torch_s": t_theirs,
        "ratio": ratio,
        "faults": (pf_ours, pf_theirs),
        "target": target,
    }


def run(
    threads: int, repeats: int = 5, only: str | None = None, torch: Any = None
) -> dict[str, Any]:
    """All conv and pool rows at ``threads`` threads (the caller limits both libraries);
    with ``only``, those whose name holds it, ignoring case (as ``--only`` picks sections)."""
    from . import _wanted

    conv = [conv_row(c, torch, repeats) for c in CONV_CASES if _wanted(only, (c.name,))]
    return {
        "sgemm_gflops": sgemm_gflops() if conv else math.nan,  # the conv table's roofline
        "conv": conv,
        "pool": [pool_row(c, torch, repeats) for c in POOL_CASES if _wanted(only, (c.name,))],
        "norm": [batch_norm_row(torch, repeats)] if _wanted(only, BATCH_NORM_CASE[:1]) else [],
    }


def format_tables(result: dict[str, Any], threads: int) -> str:
    """The conv and pool tables as text, one row per case, ms and ratios, targets marked,
    and each library's minor page faults per call (`faults`); a table without rows (``--only``
    left none) is left out, and with no rows at all the text is empty."""
    roof = result["sgemm_gflops"]
    lines = []
    if result["conv"]:
        lines += [
            f"conv2d forward + backward (all three gradients), float32, {threads} thread(s); "
            f"NumPy sgemm roofline {roof:.1f} GFLOP/s",
            f"{'case':30s} {'cnnmath ms':>10s} {'torch ms':>9s} {'ratio':>6s} {'target':>6s} "
            f"{'GF/s':>6s} {'torch':>6s} {'faults':>7s} {'torch':>7s}  "
            "methods (forward / grad_x / grad_w)",
        ]
    for r in result["conv"]:
        goal = target_at(r["target"], threads)
        target = f"{goal:.2f}"
        marks = []
        if r["ratio"] == r["ratio"]:  # a ratio (NaN without PyTorch)
            marks.append("ok" if r["ratio"] <= goal else "MISS")
        if r["roofline"]:  # a share of NumPy's own sgemm speed at this thread count
            enough = r["cnnmath_gflops"] >= roof_share(threads) * roof
            marks.append("roof ok" if enough else "roof MISS")
        mark = ", ".join(marks)
        lines.append(
            f"{r['name']:30s} {r['cnnmath_s'] * 1e3:10.2f} {r['torch_s'] * 1e3:9.2f} "
            f"{r['ratio']:6.2f} {target:>6s} {r['cnnmath_gflops']:6.1f} "
            f"{r['torch_gflops']:6.1f} {_faults_text(r)}  {r['methods']} {mark}".rstrip()
        )
    if result["pool"]:
        lines += [
            *([""] if lines else []),
            f"pooling forward + backward, float32, {threads} thread(s)",
            f"{'case':30s} {'cnnmath ms':>10s} {'torch ms':>9s} {'ratio':>6s} {'target':>6s} "
            f"{'faults':>7s} {'torch':>7s}",
        ]
        for r in result["pool"]:
            goal = target_at(r["target"], threads)
            mark = ("ok" if r["ratio"] <= goal else "MISS") if r["ratio"] == r["ratio"] else ""
            target = f"{goal:.2f}"
            row = (
                f"{r['name']:30s} {r['cnnmath_s'] * 1e3:10.3f} {r['torch_s'] * 1e3:9.3f} "
                f"{r['ratio']:6.2f} {target:>6s} {_faults_text(r)} {mark}"
            )
            lines.append(row.rstrip())
    for r in result.get("norm", []):
        goal = target_at(r["target"], threads)
        target = f"{goal:.2f}"
        mark = ("ok" if r["ratio"] <= goal else "MISS") if r["ratio"] == r["ratio"] else ""
        lines += [
            *([""] if lines else []),
            f"batch_norm training forward + backward {r['shape']}, float32, {threads} thread(s)",
            f"{'case':30s} {'cnnmath ms':>10s} {'torch ms':>9s} {'ratio':>6s} {'target':>6s} "
            f"{'faults':>7s} {'torch':>7s}",
            f"{r['name']:30s} {r['cnnmath_s'] * 1e3:10.3f} {r['torch_s'] * 1e3:9.3f} "
            f"{r['ratio']:6.2f} {target:>6s} {_faults_text(r)} {mark}".rstrip(),
        ]
    return "\n".join(lines)


def _faults_text(row: dict[str, Any]) -> str:
    """A row's page faults per call, cnnmath's then PyTorch's, as two 7-wide columns."""
    ours, theirs = row["faults"]
    return f"{ours:7.0f} {theirs:7.0f}"
