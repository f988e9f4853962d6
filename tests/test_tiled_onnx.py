"""tiled.apply and receptive_field on graphs read from ONNX, where the loader holds some nodes
as ops of its own: Conv, MaxPool and AveragePool that pad the two ends of an axis differently
(as TensorFlow's "SAME" on an even input writes them), which state their windows; elementwise
ops with constants (a layer scale, a GELU written out) and Transposes between channels first
and last (PyTorch's ConvNeXt exported). Witnesses: the whole image through the same graph,
onnxruntime, and the output's actual shape."""

import warnings

import numpy as np
import pytest

from helpers import assert_close, run_onnxruntime

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
da = pytest.importorskip("dask.array")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath import tiled  # noqa: E402
from cnnmath.onnx import load  # noqa: E402
from cnnmath.receptive import receptive_field  # noqa: E402

F = TensorProto.FLOAT


def _model(nodes, inits, dims):
    """The bytes of an opset-19 model of ``nodes`` from input "x" (its declared ``dims``) to
    output "y", with the initializers ``inits`` (name -> array)."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, dims)],
        [helper.make_tensor_value_info("y", F, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model.SerializeToString()


def _pads(rng, k):
    """Four pads (top, left, bottom, right), each below the window (which pools need), and
    never all four equal in pairs (else the loader makes an nn layer of the node)."""
    while True:
        pads = [int(rng.integers(0, k_)) for k_ in (*k, *k)]
        if pads[0] != pads[2] or pads[1] != pads[3]:
            return pads


def random_graph(rng, channels):
    """2-4 nodes: Conv, MaxPool or AveragePool with pads apart (any stride, dilation,
    ceil_mode, count_include_pad), a Relu after each Conv."""
    nodes, inits, c, value = [], {}, channels, "x"
    for i in range(int(rng.integers(2, 5))):
        kind = ["Conv", "Conv", "MaxPool", "AveragePool"][int(rng.integers(4))]
        k = [int(rng.integers(2, 5)), int(rng.integers(1, 5))]
        stride = [int(rng.integers(1, 3)) for _ in k]
        out = f"v{i}"
        if kind == "Conv":
            c_out = int(rng.integers(1, 4))
            w = rng.standard_normal((c_out, c, *k)).astype(np.float32)
            inits[f"w{i}"] = w
            dilation = [int(rng.integers(1, 3)) for _ in k]
            nodes.append(
                helper.make_node(
                    "Conv",
                    [value, f"w{i}"],
                    [out + "c"],
                    pads=_pads(rng, k),
                    strides=stride,
                    dilations=dilation,
                )
            )
            nodes.append(helper.make_node("Relu", [out + "c"], [out]))
            c = c_out
        else:
            extra = {"count_include_pad": int(rng.integers(2))} if kind == "AveragePool" else {}
            nodes.append(
                helper.make_node(
                    kind,
                    [value],
                    [out],
                    kernel_shape=k,
                    pads=_pads(rng, k),
                    strides=stride,
                    ceil_mode=int(rng.integers(2)),
                    **extra,
                )
            )
        value = out
    nodes.append(helper.make_node("Identity", [value], ["y"]))
    return _model(nodes, inits, [None, channels, None, None])


def _chunks(rng, n):
    cuts = np.sort(rng.choice(np.arange(1, n), size=int(rng.integers(1, 4)), replace=False))
    edges = [0, *cuts.tolist(), n]
    return tuple(int(b - a) for a, b in zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("seed", range(24))
def test_pads_apart_tile_as_the_whole_image_and_as_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    channels = int(rng.integers(1, 3))
    data = random_graph(rng, channels)
    net = load(data)
    x = rng.standard_normal((2, channels, 37, 30)).astype(np.float32)
    whole = net(x)
    assert_close(whole, run_onnxruntime(data, {"x": x})[0], np.float32)
    field = receptive_field(net, x.shape[1:])
    assert field.output.shape == whole.shape[1:]
    chunks = (1, channels, _chunks(rng, 37), _chunks(rng, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        got = tiled.apply(net, da.from_array(x, chunks=chunks)).compute(scheduler="synchronous")
    assert got.shape == whole.shape
    assert_close(got, whole, np.float32)


@pytest.mark.parametrize("op", ["Conv", "MaxPool"])
def test_pads_that_follow_the_input_size_are_refused_naming_the_node(op):
    """auto_pad SAME_UPPER pads by an amount computed from the input's size: a tile would be
    padded as an image of its own, so tiles cannot reproduce it."""
    inits = {"w": np.ones((1, 1, 2, 2), np.float32)} if op == "Conv" else {}
    extra = {} if op == "Conv" else {"kernel_shape": [2, 2]}
    node = helper.make_node(
        op, ["x", *inits], ["y"], "same", auto_pad="SAME_UPPER", strides=[2, 2], **extra
    )
    net = load(_model([node], inits, [1, 1, None, None]))
    x = da.from_array(np.ones((1, 1, 16, 16), np.float32), chunks=(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"node 'same' .*auto_pad=SAME_UPPER.*own"):
        tiled.apply(net, x)


def _convnext_onnx(torch, seed):
    """torchvision's ConvNeXt stem, two CNBlocks (layer scale 1: torchvision's 1e-6 would
    hide them) and its downsample, exported by TorchScript's exporter: a block's Permutes
    become Transposes, its GELU Div, Erf, Add and Mul nodes with constants."""
    from functools import partial

    from torchvision_helper import import_torchvision

    import_torchvision()
    from torchvision.models.convnext import CNBlock, LayerNorm2d

    from helpers import torch_onnx_export

    torch.manual_seed(seed)
    norm = partial(LayerNorm2d, eps=1e-6)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 8, 4, stride=4),
        norm(8),
        CNBlock(8, 1.0, 0.0),
        CNBlock(8, 1.0, 0.0),
        norm(8),
        torch.nn.Conv2d(8, 12, 2, stride=2),
    ).eval()
    x = torch.randn(1, 2, 64, 64)
    return torch_onnx_export(net, x, opset_version=17, dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})


@pytest.mark.parametrize("seed", range(3))
def test_an_exported_convnext_trunk_tiles_as_the_whole_image(seed):
    torch = pytest.importorskip("torch")
    data = _convnext_onnx(torch, seed)
    net = load(data)
    assert {"_Transpose", "_Binary", "_Unary"} <= {type(n.module).__name__ for n in net.walk()}
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(100, 160)), int(rng.integers(100, 160)))
    x = rng.standard_normal((2, 2, *size)).astype(np.float32)
    whole = net(x)
    assert_close(whole, run_onnxruntime(data, {"x": x})[0], np.float32)
    assert receptive_field(net, x.shape[1:]).output.shape == whole.shape[1:]
    chunks = (1, 2, _chunks(rng, size[0]), _chunks(rng, size[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(net, da.from_array(x, chunks=chunks))
    assert len(y.chunks[2]) * len(y.chunks[3]) > 1
    assert_close(y.compute(scheduler="synchronous"), whole, np.float32)


@pytest.mark.parametrize(
    ("shape", "tiles"),
    [
        ((1, 3, 1, 1), True),
        ((3, 1, 1), True),
        ((), True),
        ((1, 1, 1, 9), False),
        ((2, 3, 1, 1), False),
    ],
)
def test_an_elementwise_constant_tiles_only_where_it_is_the_same_at_every_pixel(shape, tiles):
    """Mul(x, c) is pointwise when c is a per-channel or single value; a c that varies
    along W (or along the batch, which tiles split) leaves the node refused by name."""
    c = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float32).reshape(shape)
    data = _model(
        [helper.make_node("Mul", ["x", "c"], ["y"], "scale")], {"c": c}, [None, 3, None, 9]
    )
    net = load(data)
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 9)).astype(np.float32)
    array = da.from_array(x, chunks=(1, 3, 6, 9))
    if not tiles:
        with pytest.raises(
            ValueError, match=r"node 'scale' \(_Binary\).*receptive field is unknown"
        ):
            tiled.apply(net, array)
        return
    got = tiled.apply(net, array).compute(scheduler="synchronous")
    np.testing.assert_array_equal(got, run_onnxruntime(data, {"x": x})[0])


def _times_constant():
    """Mul of a one-channel image by a (1, 3, 1, 1) constant: three channels."""
    c = np.array([1.0, -2.0, 0.5], np.float32).reshape(1, 3, 1, 1)
    return _model([helper.make_node("Mul", ["x", "c"], ["y"])], {"c": c}, [None, 1, None, None])


def _two_channels_last_values():
    """Mul of a one-channel and a four-channel value, both channels last: four channels."""
    w = np.random.default_rng(1).standard_normal((4, 1, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", ["x"], ["tx"], perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["a"], ["ta"], perm=[0, 2, 3, 1]),
        helper.make_node("Mul", ["tx", "ta"], ["u"]),
        helper.make_node("Transpose", ["u"], ["y"], perm=[0, 3, 1, 2]),
    ]
    return _model(nodes, {"w": w}, [None, 1, None, None])


@pytest.mark.parametrize(
    ("build", "channels"), [(_times_constant, 3), (_two_channels_last_values, 4)]
)
def test_one_channel_broadcast_against_more_gives_more(build, channels):
    """The output's channels, as receptive_field and the tiled array declare them, are those
    broadcasting gives (witness: onnxruntime), and the tiled blocks hold them."""
    data = build()
    net = load(data)
    x = np.random.default_rng(0).standard_normal((2, 1, 12, 10)).astype(np.float32)
    want = run_onnxruntime(data, {"x": x})[0]
    assert receptive_field(net, x.shape[1:]).output.shape == want.shape[1:] == (channels, 12, 10)
    y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 6, 5)))
    assert y.shape == want.shape
    assert_close(y[:, 1:].compute(scheduler="synchronous"), want[:, 1:], np.float32)


def test_a_constant_of_four_axes_on_one_unbatched_image_is_refused_by_name():
    """On a (C, H, W) image a (1, C, 1, 1) constant adds a batch axis that the tiles (one
    image each) would not have: refused, naming the node."""
    c = np.ones((1, 3, 1, 1), np.float32)
    net = load(
        _model([helper.make_node("Mul", ["x", "c"], ["y"], "scale")], {"c": c}, [3, None, None])
    )
    x = da.from_array(np.ones((3, 12, 12), np.float32), chunks=(3, 6, 6))
    with pytest.raises(ValueError, match=r"node 'scale' \(_Binary\) holds a value of 4 axes"):
        tiled.apply(net, x)


@pytest.mark.parametrize("transposed", [False, True])
def test_a_filter_the_graph_computes_from_a_weight_trains_it_and_is_refused_by_name(transposed):
    """Conv(x, Expand(W)) and Conv(x, Expand(Transpose(W))): the filter is computed as the
    graph runs (W trains: its gradient is the sum of the expanded filter's, by finite
    differences of ⟨net(x), G⟩), so its window is known only then: tiled.apply refuses the
    node that computes it."""
    rng = np.random.default_rng(11)
    W = rng.standard_normal((1, 2, 3, 3))
    nodes = [helper.make_node("Transpose", ["W"], ["Wt"], perm=[0, 1, 3, 2])] if transposed else []
    nodes += [
        helper.make_node("Expand", ["Wt" if transposed else "W", "shape"], ["We"], "expand"),
        helper.make_node("Conv", ["x", "We"], ["y"], pads=[1, 1, 1, 1]),
    ]
    inits = {"W": W.astype(np.float32), "shape": np.array([4, 2, 3, 3], np.int64)}
    net = load(_model(nodes, inits, [1, 2, 6, 6]))
    assert set(net.initializer_names) == {"W"}  # W is held, and trains
    x = rng.standard_normal((1, 2, 6, 6))
    G = rng.standard_normal((1, 4, 6, 6))
    net.to(np.float64)
    net.zero_grad()
    net(x)
    net.backward(G)
    (param,) = net.parameters()
    eps, numeric = 1e-6, np.zeros_like(param.data)
    for idx in np.ndindex(param.data.shape):
        keep = param.data[idx]
        param.data[idx] = keep + eps
        up = np.sum(net(x) * G)
        param.data[idx] = keep - eps
        down = np.sum(net(x) * G)
        param.data[idx] = keep
        numeric[idx] = (up - down) / (2 * eps)
    assert_close(param.grad, numeric, np.float64, factor=1e4)
    net.to(np.float32)
    tiles = da.from_array(x.astype(np.float32), chunks=(1, 2, 3, 3))
    with pytest.raises(ValueError, match=r"node 'expand' \(_OnWeights\)"):
        tiled.apply(net, tiles)
