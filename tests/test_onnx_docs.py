"""docs/onnx.md's op tables against the loader: they list exactly the op types it reads (its
converter tables, ``CONVERTERS`` and ``MICROSOFT``, and the ops it reads itself), each once;
the layers they name exist; and their gradient column says what ``graph.backward`` does.

The gradient column is checked by running: every one-node model of ONNX's own backend node
tests (``onnx.backend.test``, models and inputs written by ONNX, not by cnnmath) that loads,
plus one-node models built here for the ops those tests do not reach (their models' opsets
are older than the loader's, or the op has none), is run forward and backward with a random
output gradient G. No model may fail with an error. A row saying "yes" needs some model
whose float input receives a nonzero gradient; a row saying "no" needs every model to give its float inputs zero (or no)
gradient, or ``backward`` to raise, and at least one model to show it. The quantized ops, whose
inputs are integers, are checked by their classes: every op class of their modules passes
no gradient (``gradients`` gives None for every operand).
"""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from cnnmath import nn  # noqa: E402
from cnnmath.onnx import load  # noqa: E402
from cnnmath.onnx._ops import CONVERTERS, MICROSOFT, _Op, qcontrib, qlinear  # noqa: E402
from onnx_node_case import node_model  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "onnx.md"
DEFAULT_HEADING = "### ONNX's own ops (the default domain)"
MICROSOFT_HEADING = "### com.microsoft ops (the domain's opset 1)"
# read by load.py itself, not through CONVERTERS ("Constant is read by the loader itself")
READ_BY_THE_LOADER = {"Constant"}
# the integer and quantized ops, whose inputs are integers: checked by class, not by running
QUANTIZED_MODULES = {"QLinearConv": qlinear, "QLinearMatMul": qlinear, "ConvInteger": qlinear}
QUANTIZED_MODULES |= {"MatMulInteger": qlinear}
# ops of no input (a draw of a given shape): "no gradient" says nothing to check; their *Like
# forms, which have an input, are checked
NO_INPUT = {"RandomNormal", "RandomUniform"}


def _table(heading: str) -> dict[str, tuple[str, str, str]]:
    """{op: (loads as, gradient, notes)} of the markdown table after ``heading``; an op listed
    twice is an error."""
    text = DOC.read_text(encoding="utf-8")
    assert heading in text, f"docs/onnx.md has no section {heading!r}"
    rows: dict[str, tuple[str, str, str]] = {}
    started = False
    for line in text[text.index(heading) + len(heading) :].splitlines():
        if not line.startswith("|"):
            if started:
                break
            continue
        started = True
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells[0] in ("op", "") or set(cells[0]) <= {"-"}:
            continue
        assert len(cells) == 4, f"docs/onnx.md: row {line!r}: expected 4 cells"
        assert cells[0] not in rows, f"docs/onnx.md: {cells[0]} is listed twice"
        rows[cells[0]] = (cells[1], cells[2], cells[3])
    assert rows, f"docs/onnx.md: no table after {heading!r}"
    return rows


def _says(gradient: str) -> str:
    word = gradient.split(":")[0].split()[0].lower()
    assert word in ("yes", "no"), f"gradient column: expected 'yes' or 'no: why', got {gradient!r}"
    return word


def test_the_tables_list_exactly_the_ops_the_loader_reads():
    default, contrib = _table(DEFAULT_HEADING), _table(MICROSOFT_HEADING)
    expected = set(CONVERTERS) | READ_BY_THE_LOADER
    assert set(default) == expected, (
        f"undocumented: {sorted(expected - set(default))}; "
        f"documented but not read: {sorted(set(default) - expected)}"
    )
    assert set(contrib) == set(MICROSOFT), (
        f"undocumented: {sorted(set(MICROSOFT) - set(contrib))}; "
        f"documented but not read: {sorted(set(contrib) - set(MICROSOFT))}"
    )
    assert not READ_BY_THE_LOADER & set(CONVERTERS)


def test_constant_is_read_by_the_loader():
    """The row for Constant is true: a Constant node loads (its value feeding an Add)."""
    from onnx import helper, numpy_helper

    c = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "c")
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["c"], value=c),
            helper.make_node("Add", ["x", "c"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([3.0, 5.0], np.float32)
    np.testing.assert_array_equal(load(model.SerializeToString())(x), [4.0, 7.0])


def test_the_layers_named_exist():
    for op, (loads_as, _, _) in {**_table(DEFAULT_HEADING), **_table(MICROSOFT_HEADING)}.items():
        for name in re.findall(r"`nn\.([^`(]+)", loads_as):
            first, *more = name.split("/")
            names = [first] + [re.sub(r"\d+d$", m, first) for m in more]
            for n in names:
                assert isinstance(getattr(nn, n, None), type), f"{op}: nn.{n} does not exist"


def _random_like(rng, value):
    return rng.standard_normal(np.shape(value)).astype(np.asarray(value).dtype)


def _is_float(a) -> bool:
    return np.issubdtype(np.asarray(a).dtype, np.floating)


def _backward_outcome(graph, inputs, rng) -> str:
    """'grad' (some float input gets a nonzero gradient), 'none' (float inputs, each given
    zero or no gradient), 'raises' (backward refuses), or 'no float input'."""
    y = graph(*inputs)
    ys = y if isinstance(y, tuple) else (y,)
    gs = tuple(_random_like(rng, v) if _is_float(v) else None for v in ys)
    try:
        grads = graph.backward(gs if isinstance(y, tuple) else gs[0])
    except RuntimeError as err:
        assert "backward" in str(err), err
        return "raises"
    grads = grads if isinstance(grads, tuple) else (grads,)
    floats = [g for a, g in zip(inputs, grads, strict=True) if _is_float(a)]
    if not floats:
        return "no float input"
    nonzero = any(g is not None and np.any(np.asarray(g) != 0) for g in floats)
    return "grad" if nonzero else "none"


def _backend_cases():
    """(op, model bytes, inputs) for each one-node backend node test that loads and runs."""
    from onnx import TensorProto, numpy_helper
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    for case in cases:
        if case.model is None or len(case.model.graph.node) != 1:
            continue
        op = case.model.graph.node[0].op_type
        if op not in CONVERTERS or not case.data_sets:
            continue
        inputs = [
            numpy_helper.to_array(a) if isinstance(a, TensorProto) else a
            for a in case.data_sets[0][0]
        ]
        yield op, case.model.SerializeToString(), inputs


def _hand_cases():
    """(op, model bytes, inputs): one-node models for ops the backend tests do not reach."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 4))
    cases = [
        ("RandomNormalLike", {"x": x}, {}, {}, 18),
        ("RandomUniformLike", {"x": x}, {}, {}, 18),
        ("Multinomial", {"x": np.log(rng.uniform(0.1, 1, (3, 4)))}, {"sample_size": 2}, {}, 18),
        ("GlobalLpPool", {"x": x}, {}, {}, 18),
        ("Trilu", {"x": rng.standard_normal((4, 4))}, {}, {}, 18),
        ("Shrink", {"x": x}, {"bias": 0.5}, {}, 18),
        ("Not", {"x": x > 0}, {}, {}, 13),
        ("And", {"x": x > 0, "z": x > 0.5}, {}, {}, 13),
        ("Xor", {"x": x > 0, "z": x > 0.5}, {}, {}, 13),
        ("Or", {"x": x > 0, "z": x > 0.5}, {}, {}, 13),
        (
            "MaxRoiPool",
            {"x": x, "r": np.array([[0, 0, 0, 3, 3.0]])},
            {"pooled_shape": [2, 2]},
            {},
            18,
        ),
        (
            "Col2Im",
            {"x": rng.standard_normal((1, 4, 9))},
            {},
            {"i": np.array([4, 4]), "b": np.array([2, 2])},
            18,
        ),
        (
            "AffineGrid",
            {"t": rng.standard_normal((2, 2, 3))},
            {},
            {"s": np.array([2, 3, 4, 4])},
            20,
        ),
        ("Conv", {"x": x}, {}, {"w": rng.standard_normal((2, 3, 3, 3))}, 17),
        ("Range", {"s": np.array(0.5), "l": np.array(4.0), "d": np.array(1.5)}, {}, {}, 17),
    ]
    for op, feeds, attrs, inits, opset in cases:
        yield op, node_model(op, feeds, attrs, opset, inits), list(feeds.values())


@pytest.fixture(scope="module")
def outcomes():
    """{op: [backward outcome of each model of it that loads]}."""
    rng = np.random.default_rng(11)
    found: dict[str, list[str]] = {}
    for op, data, inputs in [*_backend_cases(), *_hand_cases()]:
        try:
            graph = load(data)
        except ValueError:  # refused at load time (an old opset, a type): nothing to run
            continue
        try:
            outcome = _backward_outcome(graph, inputs, rng)
        except (TypeError, ValueError, np.exceptions.AxisError):
            outcome = "error"  # a bug: no row allows it
        found.setdefault(op, []).append(outcome)
    return found


def test_the_gradient_column_says_what_backward_does(outcomes):
    rows = _table(DEFAULT_HEADING)
    unchecked = []
    for op, (_, gradient, _) in rows.items():
        says = _says(gradient)
        seen = outcomes.get(op, [])
        if op in QUANTIZED_MODULES or op in READ_BY_THE_LOADER | NO_INPUT or op == "If":
            continue  # by class below; no input; test_onnx_if.py trains through If
        if says == "yes":
            if not seen:
                unchecked.append(op)
                continue
            assert "grad" in seen and "error" not in seen, (
                f"{op}: the table says 'yes', backward gave {seen}"
            )
        else:
            assert not {"grad", "error"} & set(seen), f"{op}: table says 'no', got {seen}"
            assert {"none", "raises", "no float input"} & set(seen), f"{op}: no model ran"
    assert unchecked == [], f"'yes' rows that no model here checks: {unchecked}"


@pytest.mark.parametrize(
    "op, module",
    [*QUANTIZED_MODULES.items(), *((op, qcontrib) for op in MICROSOFT)],
)
def test_quantized_rows_pass_no_gradient(op, module):
    table = _table(MICROSOFT_HEADING if op in MICROSOFT else DEFAULT_HEADING)
    assert _says(table[op][1]) == "no"
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, _Op) and c.__module__ == module.__name__ and c.__name__ != "_Integer"
    ]
    assert classes
    for c in classes:
        if c.__name__ == "_DynamicQuantize":
            continue  # raises instead: its backend node tests check that
        grads = c.gradients(None, None, [0, 1, 2], np.ones(2))  # type: ignore[arg-type]
        assert grads == [None, None, None], f"{c.__name__} passes a gradient"
