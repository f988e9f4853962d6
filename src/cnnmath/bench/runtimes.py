"""ResNet-18 inference through ONNX, one thread: cnnmath beside the other runtimes.

cnnmath's ``resnet18(seed=0)`` is written with :func:`cnnmath.onnx.save`, loaded back with
:func:`cnnmath.onnx.load`, and the same file runs in onnxruntime, in onnx's pure-NumPy
``ReferenceEvaluator`` and (the original network) in PyTorch, on one 3×224×224 image in
float32, cnnmath and PyTorch on one thread (``cnnmath.bench.fair.same_threads``). Each
runtime is timed after an idle wait and one untimed warm-up call, so no library pays for
another's spinning threads; medians of ``repeats`` consecutive calls, except the
``ReferenceEvaluator``, which is timed once (it takes tens of seconds). Every output is
compared with cnnmath's, so a fast wrong answer cannot pass unnoticed.

Targets (issue 13): at least 10× faster than ``ReferenceEvaluator``, within 2× of
onnxruntime, checked on the loaded graph as it is. onnxruntime's default session also
folds each batch norm into its convolution when it loads the file; the row "BN folded"
times the loaded graph after ``nn.fold_batch_norm``, the like-for-like figure, printed
beside the target. onnxruntime and PyTorch are benchmark witnesses only: the rows that need them
are skipped, with a note, where they are missing.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import fair

__all__ = ["run", "format_table"]


def _median(step: Callable[[], Any], repeats: int) -> float:
    fair.settle()  # the previous runtime's threads stop spinning
    step()  # warm-up: the first call of each runtime pays its own set-up, never another's
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rel(got: Any, want: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    return float(np.abs(got - want).max() / np.abs(want).max())


def run(repeats: int = 5, torch: Any = None, image_size: int = 224) -> list[dict[str, Any]]:
    """Rows ``{name, seconds, vs_cnnmath, error}``: the time of one forward pass per runtime,
    its ratio to cnnmath's (runtime / cnnmath: above 1 means cnnmath is faster) and its
    largest difference from cnnmath's logits relative to their scale."""
    from .. import nn
    from .. import onnx as cm_onnx
    from ..models import resnet18

    model = resnet18(seed=0).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, image_size, image_size))
    x = x.astype(np.float32)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, fair.same_threads(1, torch):
        path = os.path.join(folder, "resnet18.onnx")
        cm_onnx.save(model, path, x)
        graph = cm_onnx.load(path)
        want = np.asarray(model(x), dtype=np.float64)

        def add(name: str, seconds: float, out: Any) -> None:
            rows.append({"name": name, "seconds": seconds, "error": _rel(out, want)})

        add("cnnmath (its own model)", _median(lambda: model(x), repeats), want)
        add("cnnmath (the .onnx, loaded)", _median(lambda: graph(x), repeats), graph(x))
        folded = nn.fold_batch_norm(graph)
        add("cnnmath (loaded, BN folded)", _median(lambda: folded(x), repeats), folded(x))
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            add(
                "onnxruntime",
                _median(lambda: session.run(None, {name: x}), repeats),
                session.run(None, {name: x})[0],
            )
        if torch is not None:
            from .models import torch_resnet18

            twin = torch_resnet18(torch)
            twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
            twin.eval()
            tx = torch.from_numpy(x)

            def t_forward() -> Any:
                with torch.no_grad():
                    return twin(tx)

            add("PyTorch", _median(t_forward, repeats), t_forward().numpy())
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(path)
        feed = {evaluator.input_names[0]: x}
        t0 = time.perf_counter()
        outputs: Any = evaluator.run(None, feed)
        add("onnx ReferenceEvaluator (one call)", time.perf_counter() - t0, outputs[0])
    base = rows[0]["seconds"]
    for row in rows:
        row["vs_cnnmath"] = row["seconds"] / base if base else math.nan
    return rows


def format_table(rows: list[dict[str, Any]], image_size: int = 224) -> str:
    """The rows as a table, with the issue's two targets checked on the loaded graph's time."""
    lines = [
        f"ResNet-18 forward through ONNX (B=1, 3×{image_size}×{image_size}, float32, 1 thread)",
        f"{'runtime':36s} {'seconds':>9s} {'÷ cnnmath':>10s} {'rel. error':>11s}",
    ]
    for r in rows:
        lines.append(
            f"{r['name']:36s} {r['seconds']:9.3f} {r['vs_cnnmath']:10.2f} {r['error']:11.1e}"
        )
    by = {r["name"]: r["seconds"] for r in rows}
    ours = by["cnnmath (the .onnx, loaded)"]
    reference = by.get("onnx ReferenceEvaluator (one call)")
    runtime = by.get("onnxruntime")
    if reference is not None:
        verdict = "ok" if reference / ours >= 10 else "MISS"
        lines.append(
            f"vs ReferenceEvaluator: {reference / ours:.1f}× faster (target ≥ 10) {verdict}"
        )
    if runtime is not None:
        verdict = "ok" if ours / runtime <= 2 else "MISS"
        lines.append(f"vs onnxruntime: {ours / runtime:.2f}× its time (target ≤ 2) {verdict}")
        folded = by.get("cnnmath (loaded, BN folded)")
        if folded is not None:
            lines.append(
                f"vs onnxruntime, both folding batch norm: {folded / runtime:.2f}× its time"
            )
    return "\n".join(lines)
