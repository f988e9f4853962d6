"""The ONNX runtime rows of `cnnmath bench`: every runtime runs the same file and agrees with
cnnmath's logits (tiny images, one repeat; timings are not asserted)."""

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("threadpoolctl")
torch = pytest.importorskip("torch")

from cnnmath.bench import runtimes  # noqa: E402


def test_every_runtime_runs_the_file_and_agrees():
    rows = runtimes.run(repeats=1, torch=torch, image_size=32)
    names = [r["name"] for r in rows]
    assert names == [
        "cnnmath (its own model)",
        "cnnmath (the .onnx, loaded)",
        "cnnmath (loaded, BN folded)",
        "onnxruntime",
        "PyTorch",
        "onnx ReferenceEvaluator (one call)",
    ]
    for r in rows:
        assert r["seconds"] > 0
        assert r["error"] <= 1e-4, r  # float32 logits, relative to their scale
    assert rows[0]["error"] == 0.0 and rows[0]["vs_cnnmath"] == 1.0
    table = runtimes.format_table(rows, image_size=32)
    assert "target ≥ 10" in table and "target ≤ 2" in table
    assert "both folding batch norm" in table
