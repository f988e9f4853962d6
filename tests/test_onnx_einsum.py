"""ONNX's Einsum, ConstantOfShape at run time and ScatterND (what maxvit_t's and swin_t's
exports need) load, agree with PyTorch and onnxruntime, train as PyTorch, refuse what they
cannot compute naming the node, and save back as read: onnxruntime runs the written file to
the same numbers. ScatterND's gradients under every reduction ("mul", "max", "min" included:
repeated places, ties, zero updates). Witnesses: torch (float64 and its autograd; its
``scatter_reduce`` for ScatterND's reductions), onnxruntime (float32 and float64), ONNX's
reference evaluator, central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import (
    check_input_gradients,
    loads_as_onnxruntime,
    rel_error,
    torch_onnx_export,
    trains_as_torch,
)

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load, save  # noqa: E402

F32, F64, I64 = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64


def _model(nodes, inputs, output_type=F64, inits=(), opset=17):
    """A model of ``nodes`` on graph inputs [(name, ONNX type)] (shapes undeclared) and
    initializers [(name, array)], output "y"."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, None) for n, t in inputs],
        [helper.make_tensor_value_info("y", output_type, None)],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _onnxruntime(data, feeds):
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _ops(graph):
    return {getattr(n.module, "onnx_op", None) for n in graph.walk()}


# ---------------------------------------------------------------------------------------------
# Einsum


class _Attention(torch.nn.Module):
    """Three einsums: a projection by a weight (an initializer: it must train), scores, and
    their softmax-weighted sum, as maxvit_t's attention writes them."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 5))

    def forward(self, x):
        q = torch.einsum("bci,io->bco", x, self.w)
        scores = torch.einsum("bio,bjo->bij", q, q)
        return torch.einsum("bij,bjo->bio", scores.softmax(-1), q)


def test_an_einsum_attention_agrees_and_trains_as_torch():
    torch.manual_seed(0)
    model = _Attention().double()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    graph = load(torch_onnx_export(model, x, opset_version=17))
    assert "Einsum" in _ops(graph)
    assert set(graph.initializer_names) == {"w"}  # the weight is a parameter
    with torch.no_grad():
        assert rel_error(graph(x.numpy()), model(x).numpy()) <= 1e-12
    trains_as_torch(model, x, graph)
    loads_as_onnxruntime(model, x, opset_version=17)


EQUATIONS = [
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij, bjk -> bik", [(2, 2, 3), (2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ii", [(3, 3)]),
    ("i,i", [(4,)] * 2),
    ("ij->ji", [(2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ij,k->i", [(2, 3), (4,)]),
]


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_nodes_agree_with_onnxruntime_and_finite_differences(equation, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    data = _model([node], [(n, F64) for n in names]).SerializeToString()
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s) for s in shapes]
    graph = load(data)
    want = _onnxruntime(data, dict(zip(names, args)))
    got = graph(*args)
    assert got.shape == want.shape and got.dtype == np.float64
    assert rel_error(got, want) <= 1e-12
    check_input_gradients(graph, args)


@pytest.mark.parametrize(
    "equation, n, message",
    [
        ("ij;jk", 2, r"attribute 'equation': expected terms of letters .* \(found ';'"),
        ("ij,jk", 1, r"attribute 'equation': expected one comma-separated term per operand \(1\)"),
        ("ij->ik", 1, r"attribute 'equation': expected output labels .* \['k'\] do not, got"),
        (None, 1, r"attribute 'equation': expected a str, got NoneType"),
    ],
)
def test_a_bad_equation_is_refused_at_load_naming_the_node(equation, n, message):
    names = [f"x{i}" for i in range(n)]
    kwargs = {} if equation is None else dict(equation=equation)
    node = helper.make_node("Einsum", names, ["y"], name="e", **kwargs)
    with pytest.raises(ValueError, match=r"^cnnmath.onnx.load: node 'e' \(Einsum\): " + message):
        load(_model([node], [(m, F64) for m in names]).SerializeToString())


def test_operands_that_do_not_fit_the_equation_are_refused_naming_the_node():
    node = helper.make_node("Einsum", ["a", "b"], ["y"], name="e", equation="ij,jk->ik")
    graph = load(_model([node], [("a", F64), ("b", F64)]).SerializeToString())
    with pytest.raises(ValueError, match=r"node 'e' \(Einsum\): .*operands\[1\]: expected size 3"):
        graph(np.zeros((2, 3)), np.zeros((2, 3)))
    message = r"node 'e' \(Einsum\): inputs: expected one dtype for all, float32, float64 or an "
    with pytest.raises(
        ValueError, match=message + r"integer type, got inputs\[0\] int64, inputs\[1\] float64"
    ):
        graph(np.zeros((2, 3), np.int64), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=message + r".*got inputs\[0\] bool, inputs\[1\] bool"):
        graph(np.zeros((2, 3), bool), np.zeros((3, 2), bool))


def _wrapped(exact, dtype):
    """Python integers (an object array) reduced modulo 2^bits into ``dtype``: two's
    complement for a signed type, as the integer types wrap."""
    bits = 8 * np.dtype(dtype).itemsize
    signed = np.dtype(dtype).kind == "i"
    values = [int(v) % 2**bits for v in np.ravel(exact)]
    values = [v - 2**bits if signed and v >= 2 ** (bits - 1) else v for v in values]
    return np.array(values, dtype).reshape(np.shape(exact))


def _integer_args(shapes, dtype, rng):
    """Draws over the type's whole range (products and sums overflow), and draws below
    2^(bits/4 − 1) in magnitude (sums of a dozen products of three never reach 2^(bits−1))."""
    info = np.iinfo(dtype)
    wide = [rng.integers(info.min, info.max, s, dtype=dtype, endpoint=True) for s in shapes]
    bound = 2 ** (info.bits // 4 - 1)
    small = [
        rng.integers(max(-bound, info.min), bound, s, dtype=dtype, endpoint=True) for s in shapes
    ]
    return wide, small


#: equations onnxruntime (1.32) computes partly through floating point for integers: a label
#: summed out of one operand alone ("ij,k->i": 0 and INT_MIN where int32's sum overflows) and
#: int64's trace (the exact sum rounded to a multiple of 512); exact where nothing overflows
_ORT_FLOAT_PATHS = {"ij,k->i", "ii"}


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_integer_einsum_nodes_equal_onnxruntime_exactly(equation, shapes, dtype):
    """int32 and int64 inputs: Y in their type, equal to numpy.einsum's and to the exact sum
    in Python integers reduced modulo 2^bits (overflow wraps), and to onnxruntime's (where it
    overflows, only for the equations onnxruntime computes in integers)."""
    names = [f"x{i}" for i in range(len(shapes))]
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    data = _model([node], [(n, elem) for n in names], elem).SerializeToString()
    graph = load(data)
    wide, small = _integer_args(shapes, dtype, np.random.default_rng(2))
    info = np.iinfo(dtype)
    for args in (wide, small):
        got = graph(*args)
        assert got.dtype == dtype
        exact = np.einsum(equation, *(a.astype(object) for a in args))
        overflows = any(not info.min <= v <= info.max for v in np.ravel(exact))
        # the wide draws overflow wherever a product is taken; the small never do
        assert overflows if args is wide and len(args) > 1 else args is wide or not overflows
        np.testing.assert_array_equal(got, _wrapped(exact, dtype))
        np.testing.assert_array_equal(got, np.einsum(equation, *args))
        if args is small or equation not in _ORT_FLOAT_PATHS:
            np.testing.assert_array_equal(got, _onnxruntime(data, dict(zip(names, args))))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16], ids=str)
def test_integer_einsum_of_the_other_onnx_integer_types_wraps(dtype):
    """The integer types onnxruntime has no Einsum for (and the loader takes as no graph
    input; uint32 and uint64 tensors it does not read): an Einsum of initializers, folded at load, in their type, wrapping as ONNX's
    reference evaluator and the exact sum reduced modulo 2^bits; y = x + Cast(it)."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(3)
    (a, w, v), _ = _integer_args([(2, 3, 5), (5, 4), (4,)], dtype, rng)
    nodes = [
        helper.make_node("Einsum", ["a", "w", "v"], ["e"], equation="bij,jk,k->bi"),
        helper.make_node("Cast", ["e"], ["f"], to=F64),
        helper.make_node("Add", ["x", "f"], ["y"]),
    ]
    model = _model(nodes, [("x", F64)], inits=[("a", a), ("w", w), ("v", v)])
    x = rng.standard_normal((2, 3))
    got = load(model.SerializeToString())(x)
    np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, dict(x=x))[0])
    exact = np.einsum("bij,jk,k->bi", a.astype(object), w.astype(object), v.astype(object))
    np.testing.assert_array_equal(got, x + _wrapped(exact, dtype).astype(np.float64))


def test_an_integer_einsum_passes_no_gradient_and_the_float_path_keeps_its_own():
    """y = x · Cast(Einsum("ij,ij->i", n, n)) with x float64, n int64: backward gives n a
    zero gradient (an integer value) and x its own, against finite differences."""
    nodes = [
        helper.make_node("Einsum", ["n", "n"], ["s"], equation="ij,ij->i"),
        helper.make_node("Cast", ["s"], ["f"], to=F64),
        helper.make_node("Mul", ["x", "f"], ["y"]),
    ]
    graph = load(_model(nodes, [("x", F64), ("n", I64)]).SerializeToString())
    rng = np.random.default_rng(4)
    x, n = rng.standard_normal(3), rng.integers(-5, 6, (3, 4))
    np.testing.assert_array_equal(graph(x, n), x * (n * n).sum(axis=1))
    g_x, g_n = graph.backward(np.ones(3))
    np.testing.assert_array_equal(g_n, np.zeros((3, 4), np.int64))
    check_input_gradients(graph, [x, n], wrt=[0])


# ---------------------------------------------------------------------------------------------
# ConstantOfShape at run time


class _Ones(torch.nn.Module):
    def forward(self, x):
        return x * 2 + torch.ones(x.shape[0], x.shape[1], dtype=x.dtype)


def test_a_constant_of_a_run_time_shape_follows_the_batch():
    """``torch.ones(x.shape[0], …)`` with a dynamic batch: a ConstantOfShape of a shape the
    graph computes, run per call (onnxruntime's numbers at batches 3 and 5); the gradient
    reaches x through the other term only (PyTorch's)."""
    model = _Ones()
    x = torch.randn(3, 4)
    data = torch_onnx_export(model, x, opset_version=17, dynamic_axes={"x": {0: "b"}})
    graph = load(data)
    assert "ConstantOfShape" in _ops(graph)
    for batch in (3, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        assert rel_error(graph(x), _onnxruntime(data, {"x": x})) <= 1e-7
    x64 = torch.randn(5, 4, dtype=torch.float64)
    trains_as_torch(model, x64, load(torch_onnx_export(model, x64, dynamic_axes={"x": {0: "b"}})))


@pytest.mark.parametrize(
    "value",
    [None, np.array([7], np.int32), np.array([2.5], np.float64), np.array([1], np.int64)],
    ids=["default", "int32", "float64", "int64"],
)
def test_constant_of_shape_fills_with_the_value_in_its_type(value):
    kwargs = {} if value is None else dict(value=numpy_helper.from_array(value))
    out_type = F32 if value is None else helper.np_dtype_to_tensor_dtype(value.dtype)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["y"], **kwargs),
    ]
    data = _model(nodes, [("x", F64)], out_type).SerializeToString()
    graph = load(data)
    for shape in ((2, 3), (0, 4), (5,)):
        x = np.ones(shape)
        got, want = graph(x), _onnxruntime(data, {"x": x})
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_a_run_time_shape_larger_than_memory_is_refused_naming_the_node_and_the_size():
    node = helper.make_node("ConstantOfShape", ["s"], ["y"], name="big")
    graph = load(_model([node], [("s", I64)], F32).SerializeToString())
    with pytest.raises(
        ValueError,
        match=r"node 'big' \(ConstantOfShape\): .*shape \(1099511627776, 1099511627776\).*GiB",
    ):
        graph(np.array([2**40, 2**40], np.int64))
    with pytest.raises(ValueError, match=r"node 'big' \(ConstantOfShape\): .*sizes >= 0"):
        graph(np.array([2, -1], np.int64))
    np.testing.assert_array_equal(graph(np.array([2, 1], np.int64)), np.zeros((2, 1), np.float32))
    # a constant shape is folded at load time, within the load-time budget
    s = np.array([2**20, 2**20], np.int64)
    with pytest.raises(ValueError, match=r"node 'big' \(ConstantOfShape\): .*load-time budget"):
        load(_model([node], [("x", F32)], F32, inits=[("s", s)]).SerializeToString())


def test_an_empty_shape_numpy_cannot_make_is_refused_naming_the_node():
    """[0, 2**62] of float32 has no elements, but NumPy cannot make it (2**62 · 4 bytes past
    its index type): refused naming the node at run time and when folded at load, where
    onnxruntime returns an empty tensor; [0, 2**60] NumPy can make, and does."""
    node = helper.make_node("ConstantOfShape", ["s"], ["y"], name="c")
    graph = load(_model([node], [("s", I64)], F32).SerializeToString())
    assert graph(np.array([0, 2**60], np.int64)).shape == (0, 2**60)
    message = r"node 'c' \(ConstantOfShape\): .*shape \(0, 4611686018427387904\).* even empty"
    with pytest.raises(ValueError, match=message):
        graph(np.array([0, 2**62], np.int64))
    s = np.array([0, 2**62], np.int64)
    with pytest.raises(ValueError, match=message):
        load(_model([node], [("x", F32)], F32, inits=[("s", s)]).SerializeToString())


# ---------------------------------------------------------------------------------------------
# ScatterND


class _Assign(torch.nn.Module):
    """An index assignment into a new zero tensor, as swin_t writes its attention masks:
    exported as ConstantOfShape, Range, …, ScatterND."""

    def forward(self, x):
        m = x.new_zeros(x.shape)
        m[:, 1:3] = x[:, :2] * 3
        return m + x


def test_an_index_assignment_agrees_and_trains_as_torch():
    model = _Assign()
    x = torch.randn(2, 5, dtype=torch.float64)
    graph = load(torch_onnx_export(model, x, opset_version=17, dynamic_axes={"x": {0: "b"}}))
    assert {"ScatterND", "ConstantOfShape"} <= _ops(graph)
    x4 = torch.randn(4, 5, dtype=torch.float64)
    assert rel_error(graph(x4.numpy()), model(x4).numpy()) <= 1e-12
    trains_as_torch(model, x4, graph)
    loads_as_onnxruntime(model, x, opset_version=17, dynamic_axes={"x": {0: "b"}})


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_reductions_are_onnxruntimes(reduction):
    """Rows of indices address the first k axes (k = 1 and 2), a place listed twice combines
    both updates (not for "none": ONNX leaves that undefined), negative rows count from the
    end; the gradients of data and updates against finite differences (normal draws: no
    ties for max and min)."""
    kwargs = {} if reduction == "none" else dict(reduction=reduction)
    node = helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"], name="s", **kwargs)
    data = _model([node], [("data", F64), ("indices", I64), ("updates", F64)], opset=18)
    data = data.SerializeToString()
    graph = load(data)
    rng = np.random.default_rng(3)
    twice = reduction != "none"
    for indices in (np.array([[0], [-1]] + [[0]] * twice), np.array([[1, 2], [0, -3]])):
        x = rng.standard_normal((3, 4, 2))
        updates = rng.standard_normal(indices.shape[:-1] + x.shape[indices.shape[-1] :])
        feeds = dict(data=x, indices=indices, updates=updates)
        got = graph(x, indices, updates)
        assert rel_error(got, _onnxruntime(data, feeds)) <= 1e-15
        check_input_gradients(graph, [x, indices, updates], wrt=[0, 2])


def test_scatter_nd_none_with_a_place_written_twice_differentiates_what_it_computes():
    """Reduction "none", rows repeated (3 writes of row 1, 2 of the 2-D place (0, 3)): the
    last write wins (onnxruntime's value), so only that update gets G there, an overwritten
    one gets 0, and data gets 0 at every written place: finite differences of the forward."""
    node = helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"], name="s")
    data = _model([node], [("data", F64), ("indices", I64), ("updates", F64)]).SerializeToString()
    graph = load(data)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 2))
    for indices in (np.array([[1], [0], [1], [1]]), np.array([[[0, 3], [2, 1]], [[0, 3], [1, 1]]])):
        updates = rng.standard_normal(indices.shape[:-1] + x.shape[indices.shape[-1] :])
        got = graph(x, indices, updates)
        assert (
            rel_error(got, _onnxruntime(data, dict(data=x, indices=indices, updates=updates))) == 0
        )
        check_input_gradients(graph, [x, indices, updates], wrt=[0, 2])
    _, _, g_updates = graph.backward(np.ones_like(got))
    np.testing.assert_array_equal(g_updates[0, 0], np.zeros(2))  # (0, 3) written again later
    np.testing.assert_array_equal(g_updates[1, 0], np.ones(2))


_TORCH_REDUCE = {"mul": "prod", "max": "amax", "min": "amin"}


def _scatter_reduce_by_torch(x, indices, updates, reduction, G):
    """Y and (∂⟨Y, G⟩/∂x, ∂⟨Y, G⟩/∂updates) of ScatterND by torch: x seen as (places, slice)
    with the first k axes flattened, each row of indices one place (negative ones wrapped),
    and ``scatter_reduce(0, …, include_self=True)`` writing the updates' rows there."""
    k = indices.shape[-1]
    lead = x.shape[:k]
    place = np.ravel_multi_index(tuple(indices[..., a] % lead[a] for a in range(k)), lead)
    width = int(np.prod(x.shape[k:]))
    tx = torch.tensor(x.reshape(-1, width), requires_grad=True)
    tu = torch.tensor(updates.reshape(-1, width), requires_grad=True)
    index = torch.tensor(place.reshape(-1, 1)).expand(-1, width)
    y = tx.scatter_reduce(0, index, tu, _TORCH_REDUCE[reduction], include_self=True)
    y.backward(torch.tensor(G.reshape(y.shape)))
    return (
        y.detach().numpy().reshape(x.shape),
        tx.grad.numpy().reshape(x.shape),
        tu.grad.numpy().reshape(updates.shape),
    )


def _scatter_cases(dtype, rng):
    """(data, indices, updates) of small integers as floats: places written by several rows
    (up to 40 rows on one place), updates equal to data or to each other (ties for max and
    min), zeros among the updates (one in one place's rows, two in another's), no rows."""
    cases = []
    x = rng.integers(-2, 3, (3, 4, 2)).astype(dtype)
    indices = np.array([[0], [-3], [2], [0], [1], [2]])  # place 0 three times, 2 twice
    updates = rng.integers(-2, 3, (6, 4, 2)).astype(dtype)
    updates[0] = x[0]  # a tie with data
    updates[3, 0] = 0.0
    cases.append((x, indices, updates))
    x = rng.integers(-2, 3, (3, 4, 2)).astype(dtype)
    indices = np.array([[[1, 2], [0, -1]], [[1, 2], [1, -2]], [[0, 3], [1, 2]]])  # (1, 2) 3 times
    cases.append((x, indices, rng.integers(-1, 2, (3, 2, 2)).astype(dtype)))
    x = rng.choice(np.array([-2, -1, -0.5, 0.5, 1, 2], dtype), (4, 3))
    indices = rng.integers(0, 4, (80, 1))
    indices[:40] = 2  # one place of 40+ rows: the doubling scan's steps 1 … 32
    updates = rng.choice(np.array([-1, -0.5, 0.5, 1, 2], dtype), (80, 3))
    updates[5, 0] = 0.0  # place 2, column 0: one zero among its rows
    updates[[7, 9], 1] = 0.0  # column 1: two zeros
    cases.append((x, indices, updates))
    x = rng.integers(-1, 2, (2, 3, 2)).astype(dtype)  # k = rank: single elements
    indices = np.array([[0, 1, 1], [0, 1, 1], [1, 2, 0], [-2, -2, -1]])  # (0, 1, 1) 3 times
    cases.append((x, indices, x[tuple(indices.T)]))  # each update equal to data there
    x = rng.integers(-1, 2, (3, 2)).astype(dtype)  # no rows at all: Y = data, ∂data = G
    cases.append((x, np.zeros((0, 1), np.int64), np.zeros((0, 2), dtype)))
    return cases


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction, opset", [("mul", 16), ("mul", 18), ("max", 18), ("min", 18)])
def test_scatter_nd_mul_max_min_gradients_are_torchs(reduction, opset, dtype):
    """Y as onnxruntime and ONNX's reference evaluator; ∂ℓ/∂data and ∂ℓ/∂updates as torch's
    scatter_reduce (include_self): "mul" the product of the other rows' updates, finite where
    an update is 0; "max" / "min" G shared evenly among the inputs equal to the result. The
    cases hold repeated places, ties and zeros (asserted, so the test sees them)."""
    from onnx.reference import ReferenceEvaluator

    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    node = helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"], reduction=reduction)
    model = _model([node], [("data", elem), ("indices", I64), ("updates", elem)], elem, opset=opset)
    data = model.SerializeToString()
    graph = load(data)
    rng = np.random.default_rng(7)
    ties = zeros = 0
    for x, indices, updates in _scatter_cases(dtype, rng):
        feeds = dict(data=x, indices=indices, updates=updates)
        got = graph(x, indices, updates)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, _onnxruntime(data, feeds))
        np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, feeds)[0])
        G = rng.standard_normal(x.shape).astype(dtype)
        y, want_x, want_u = _scatter_reduce_by_torch(x, indices, updates, reduction, G)
        np.testing.assert_array_equal(got, y)
        g_x, _, g_u = graph.backward(G)
        assert g_x.dtype == g_u.dtype == dtype
        assert np.isfinite(g_x).all() and np.isfinite(g_u).all()
        tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(g_x, want_x, **tol)
        np.testing.assert_allclose(g_u, want_u, **tol)
        # what the cases hold: updates tied with another input (a share below G), zeros
        at = tuple(indices[..., a] for a in range(indices.shape[-1]))
        equal = updates == got[at]
        ties += np.count_nonzero(want_u[equal] != G[at][equal])
        zeros += np.count_nonzero(updates == 0)
    if reduction != "mul":
        assert ties > 0  # some update shared its G
    assert zeros >= 3


@pytest.mark.parametrize("reduction", ["mul", "max", "min"])
@pytest.mark.parametrize("source", ["shape", "x", "initializer"])
def test_scatter_nd_gradients_reach_a_graph_input_and_a_parameter(reduction, source):
    """y = x + ScatterND(m, const indices, u): m a mask ConstantOfShape(Shape(x)) (x's
    gradient is G alone) or Relu(x) (a second path through the scatter), u a Constant or an
    initializer (a parameter, which gets its gradient); ∂ℓ/∂x and ∂ℓ/∂u as torch's
    scatter_reduce on the same computation."""
    one, u = numpy_helper.from_array(np.array([1.0])), np.array([5.0, 0.0, 0.25])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"], value=one),
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node(
            "ScatterND", ["r" if source == "x" else "c", "idx", "u"], ["mask"], reduction=reduction
        ),
        helper.make_node("Add", ["x", "mask"], ["y"]),
    ]
    idx = np.array([[0, 0], [1, 1], [2, 2]], np.int64)
    inits = [("idx", idx)]
    if source == "initializer":
        inits.append(("u", u))
    else:  # a Constant: a buffer, not trained
        nodes.insert(0, helper.make_node("Constant", [], ["u"], value=numpy_helper.from_array(u)))
    graph = load(_model(nodes, [("x", F64)], inits=inits, opset=18).SerializeToString())
    rng = np.random.default_rng(6)
    x, G = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    tx = torch.tensor(x, requires_grad=True)
    tu = torch.tensor(u, requires_grad=True)
    m = torch.relu(tx) if source == "x" else torch.ones(3, 4, dtype=torch.float64)
    place = torch.tensor(idx[:, 0] * 4 + idx[:, 1])
    mask = m.reshape(-1).scatter_reduce(0, place, tu, _TORCH_REDUCE[reduction], include_self=True)
    want = tx + mask.reshape(3, 4)
    want.backward(torch.tensor(G))
    np.testing.assert_allclose(graph(x), want.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(graph.backward(G), tx.grad.numpy(), rtol=1e-14)
    if source == "initializer":
        (param,) = graph.parameters()
        np.testing.assert_allclose(param.grad, tu.grad.numpy(), rtol=1e-14)
        assert np.any(param.grad != 0)


def test_scatter_nd_refuses_indices_outside_data_naming_the_node():
    node = helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"], name="s")
    graph = load(
        _model([node], [("data", F64), ("indices", I64), ("updates", F64)]).SerializeToString()
    )
    x = np.zeros((3, 2))
    with pytest.raises(
        ValueError, match=r"node 's' \(ScatterND\): input 'indices': .*\[-3, 2\] for axis 0.*got 3"
    ):
        graph(x, np.array([[3]]), np.zeros((1, 2)))
    with pytest.raises(
        ValueError, match=r"node 's' \(ScatterND\): input 'updates': expected shape \(1, 2\)"
    ):
        graph(x, np.array([[1]]), np.zeros((1, 3)))


# ---------------------------------------------------------------------------------------------
# Saved back as read


@pytest.mark.parametrize(
    "model, dynamic",
    [(_Attention(), False), (_Ones(), True), (_Assign(), True)],
    ids=["einsum", "constant-of-shape", "scatter-nd"],
)
def test_graphs_of_these_ops_save_and_run_in_onnxruntime_as_here(model, dynamic, tmp_path):
    """Each op written back as the node it was read as (Einsum with its equation,
    ConstantOfShape with its value, ScatterND); onnxruntime's output of the written file is
    cnnmath's, at another batch size where the axis is dynamic."""
    x = torch.randn(2, 3, 4) if isinstance(model, _Attention) else torch.randn(2, 5)
    axes = {"x": {0: "b"}} if dynamic else None
    graph = load(torch_onnx_export(model, x, opset_version=17, dynamic_axes=axes))
    save(graph, tmp_path / "m.onnx", x.numpy())
    written = onnx.load(tmp_path / "m.onnx")
    ops = _ops(graph) & {"Einsum", "ConstantOfShape", "ScatterND"}
    assert ops and ops <= {n.op_type for n in written.graph.node}
    x3 = np.random.default_rng(4).standard_normal((3 if dynamic else 2, *x.shape[1:]))
    x3 = x3.astype(np.float32)
    got = _onnxruntime((tmp_path / "m.onnx").read_bytes(), {"x": x3})
    # float32 sums in another order: a few units in the last place (1.02e-7 seen for one draw)
    assert rel_error(got, graph(x3)) <= 1e-6
