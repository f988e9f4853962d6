"""cnnmath.nn: every layer's backward against finite differences and against PyTorch, a whole
LeNet's gradients against PyTorch, names/shapes/repr/parameter counts against torch.nn, the
default initialisation, state dicts and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnmath import nn
from cnnmath.gradcheck import check_gradients
from cnnmath.losses import softmax_cross_entropy
from helpers import rel_error

# ---------------------------------------------------------------------------------------------
# Sample table: (id, layer factory taking dtype, input shape). Each layer is checked by finite
# differences in float64 and against its torch.nn twin in float64 and float32.

ACTIVATIONS = [
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "ELU",
    "GELU",
    "SiLU",
    "Mish",
    "Identity",
]

SAMPLES = [
    ("conv", lambda dt: nn.Conv2d(2, 3, 3, rng=0, dtype=dt), (2, 2, 6, 5)),
    (
        "conv-stride-pad-dil",
        lambda dt: nn.Conv2d(
            2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), rng=1, dtype=dt
        ),
        (2, 2, 7, 8),
    ),
    (
        "conv-same-nobias",
        lambda dt: nn.Conv2d(2, 2, 4, padding="same", bias=False, rng=2, dtype=dt),
        (1, 2, 5, 5),
    ),
    ("conv-unbatched", lambda dt: nn.Conv2d(2, 2, 3, padding=1, rng=3, dtype=dt), (2, 4, 4)),
    ("linear", lambda dt: nn.Linear(5, 3, rng=4, dtype=dt), (4, 5)),
    ("linear-3d-nobias", lambda dt: nn.Linear(5, 3, bias=False, rng=5, dtype=dt), (2, 3, 5)),
    ("maxpool", lambda dt: nn.MaxPool2d(2), (2, 2, 4, 4)),
    ("maxpool-pad", lambda dt: nn.MaxPool2d(3, stride=2, padding=1), (1, 2, 5, 6)),
    ("avgpool", lambda dt: nn.AvgPool2d(2), (2, 2, 4, 4)),
    ("avgpool-pad", lambda dt: nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0)), (1, 2, 5, 4)),
    ("flatten", lambda dt: nn.Flatten(), (2, 3, 2, 2)),
    ("flatten-1-2", lambda dt: nn.Flatten(1, 2), (2, 3, 2, 2)),
    ("dropout-eval", lambda dt: nn.Dropout(0.3, rng=0).eval(), (3, 4)),
] + [(name, (lambda dt, n=name: getattr(nn, n)()), (3, 4)) for name in ACTIVATIONS]


def _torch_twin(torch, layer):
    """The torch.nn layer with the same configuration, carrying the same parameters."""
    tnn = torch.nn
    if isinstance(layer, nn.Conv2d):
        twin = tnn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            bias=layer.bias is not None,
        )
    elif isinstance(layer, nn.Linear):
        twin = tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    elif isinstance(layer, nn.MaxPool2d):
        twin = tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
    elif isinstance(layer, nn.AvgPool2d):
        twin = tnn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
    elif isinstance(layer, nn.Flatten):
        twin = tnn.Flatten(layer.start_dim, layer.end_dim)
    elif isinstance(layer, nn.Dropout):
        twin = tnn.Dropout(layer.p)
    elif isinstance(layer, nn.Sequential):
        twin = tnn.Sequential(*[_torch_twin(torch, child) for child in layer])
    else:
        twin = getattr(tnn, type(layer).__name__)()
    twin.train(layer.training)
    if layer.parameters():
        twin = twin.to(
            torch.float64 if layer.parameters()[0].dtype == np.float64 else torch.float32
        )
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return twin


def _input(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _layer_functions(layer):
    """func(x, *param_values) and backward(G, x, *param_values) for check_gradients."""
    params = layer.parameters()

    def load(values):
        for p, v in zip(params, values, strict=True):
            p.data[...] = v

    def func(x, *values):
        load(values)
        return layer.forward(x)

    def backward(grad_output, x, *values):
        load(values)
        layer.zero_grad()
        layer.forward(x)
        grad_x = layer.backward(grad_output)
        return (grad_x, *[p.grad.copy() for p in params])

    return func, backward, [p.data.copy() for p in params]


@pytest.mark.parametrize("name, make, shape", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_backward_matches_finite_differences(name, make, shape):
    layer = make(np.float64)
    func, backward, values = _layer_functions(layer)
    errors = check_gradients(func, backward, [_input(shape, np.float64), *values], rtol=1e-6)
    assert max(errors) <= 1e-6


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("name, make, shape", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_layer_matches_torch(name, make, shape, dtype, tol):
    torch = pytest.importorskip("torch")
    layer = make(dtype)
    twin = _torch_twin(torch, layer)
    x = _input(shape, dtype, seed=1)
    grad_output_seed = 2
    y = layer(x)
    G = _input(y.shape, dtype, seed=grad_output_seed)
    grad_x = layer.backward(G)

    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(G))
    assert y.dtype == dtype and grad_x.dtype == dtype
    assert rel_error(y, yt.detach().numpy()) <= tol
    assert rel_error(grad_x, xt.grad.numpy()) <= tol
    torch_grads = {k: p.grad.numpy() for k, p in twin.named_parameters()}
    ours = dict(layer.named_parameters())
    assert ours.keys() == torch_grads.keys()
    for key, p in ours.items():
        assert p.grad.dtype == dtype
        assert rel_error(p.grad, torch_grads[key]) <= tol, key


@given(
    C_in=st.integers(1, 3),
    C_out=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    bias=st.booleans(),
    pool=st.sampled_from(["max", "avg"]),
    seed=st.integers(0, 2**16),
)
def test_random_conv_pool_stacks_match_torch(
    C_in, C_out, kernel, stride, padding, dilation, bias, pool, seed
):
    """Drawn Conv2d → Tanh → pool stacks: output, input and parameter gradients as torch's."""
    torch = pytest.importorskip("torch")
    pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
    pool_layer = pool_cls(2, stride=1, padding=1)  # fits every drawn conv output size
    model = nn.Sequential(
        nn.Conv2d(
            C_in, C_out, kernel, stride, padding, dilation, bias=bias, rng=seed, dtype=np.float64
        ),
        nn.Tanh(),
        pool_layer,
    )
    twin = _torch_twin(torch, model)
    x = _input((2, C_in, 7, 6), np.float64, seed=seed)
    y = model(x)
    G = _input(y.shape, np.float64, seed=seed + 1)
    grad_x = model.backward(G)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(G))
    assert rel_error(y, yt.detach().numpy()) <= 1e-12
    assert rel_error(grad_x, xt.grad.numpy()) <= 1e-12
    # A parameter gradient is a sum over batch and positions that can cancel to far below its
    # terms (SPEC.md: errors are relative to the data's scale, never element by element), so
    # the scale is a bound on the summed terms: Σ|G| (tanh' <= 1, pooling routes or splits G)
    # times the largest input value.
    term_scale = np.abs(G).sum() * max(1.0, np.abs(x).max())
    for name, p in twin.named_parameters():
        got, want = dict(model.named_parameters())[name].grad, p.grad.numpy()
        assert np.abs(got - want).max() <= 1e-12 * max(np.abs(want).max(), term_scale)


# ---------------------------------------------------------------------------------------------
# A whole LeNet against PyTorch


def lenet(dtype=np.float32, rng=0):
    g = np.random.default_rng(rng)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, rng=g, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=g, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, rng=g, dtype=dtype),
        nn.ReLU(),
        nn.Linear(120, 84, rng=g, dtype=dtype),
        nn.ReLU(),
        nn.Linear(84, 10, rng=g, dtype=dtype),
    )


def torch_lenet(torch):
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 6, 5, padding=2),
        t.ReLU(),
        t.MaxPool2d(2),
        t.Conv2d(6, 16, 5),
        t.ReLU(),
        t.MaxPool2d(2),
        t.Flatten(),
        t.Linear(16 * 5 * 5, 120),
        t.ReLU(),
        t.Linear(120, 84),
        t.ReLU(),
        t.Linear(84, 10),
    )


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_lenet_loss_and_every_gradient_match_torch(dtype, tol):
    torch = pytest.importorskip("torch")
    model = lenet(dtype)
    twin = torch_lenet(torch).to(torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = _input((4, 1, 28, 28), dtype, seed=3)
    labels = np.array([3, 0, 9, 3])

    loss, grad_logits = softmax_cross_entropy(model(x), labels)
    grad_x = model.backward(grad_logits)

    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    loss_t = torch.nn.functional.cross_entropy(twin(xt), torch.from_numpy(labels))
    loss_t.backward()
    assert abs(loss - loss_t.item()) <= tol * abs(loss_t.item())
    assert rel_error(grad_x, xt.grad.numpy()) <= tol
    torch_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert rel_error(p.grad, torch_params[name].grad.numpy()) <= tol, name


def test_lenet_names_shapes_count_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    model, twin = lenet(), torch_lenet(torch)
    ours = {k: v.shape for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert list(ours) == list(theirs)
    assert ours == theirs
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    assert model.num_parameters() == sum(p.numel() for p in twin.parameters())
    assert repr(model) == repr(twin)


def test_nested_sequential_names_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh()), nn.Linear(3, 1, rng=1))
    t = torch.nn
    theirs = t.Sequential(t.Sequential(t.Linear(2, 3), t.Tanh()), t.Linear(3, 1))
    assert (
        list(ours.state_dict())
        == list(theirs.state_dict())
        == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    )
    assert repr(ours) == repr(theirs)


REPR_CASES = [
    (lambda m: m.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), bias=False)),
    (lambda m: m.Conv2d(2, 2, 3, padding="same")),
    (lambda m: m.Conv2d(2, 2, 3, padding="valid")),
    (lambda m: m.Conv2d(1, 6, 5, padding=2)),
    (lambda m: m.Linear(3, 4, bias=False)),
    (lambda m: m.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0))),
    (lambda m: m.MaxPool2d(2)),
    (lambda m: m.AvgPool2d(3, 2, 1)),
    (lambda m: m.AvgPool2d(2)),
    (lambda m: m.Flatten(1, 2)),
    (lambda m: m.Dropout(0.25)),
] + [(lambda m, n=name: getattr(m, n)()) for name in ACTIVATIONS]


REPR_CASES += [
    (lambda m: m.LeakyReLU(0.2)),
    (lambda m: m.ELU(0.5)),
    (lambda m: m.Softplus(2.0, 10.0)),
]


@pytest.mark.parametrize("make", REPR_CASES)
def test_layer_repr_matches_torch(make):
    torch = pytest.importorskip("torch")
    assert repr(make(nn)) == repr(make(torch.nn))
    # extra_repr's contract: the text between the parentheses, as torch prints it
    assert make(nn).extra_repr() == make(torch.nn).extra_repr()


def test_sequential_named_children_are_positions_as_in_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Sequential(nn.Linear(3, 1, rng=1)))
    t = torch.nn
    theirs = t.Sequential(t.Linear(2, 3), t.Tanh(), t.Sequential(t.Linear(3, 1)))
    names = [name for name, _ in ours.named_children()]
    assert names == [name for name, _ in theirs.named_children()] == ["0", "1", "2"]
    assert [child for _, child in ours.named_children()] == ours.children()
    # the same names prefix the state_dict keys
    assert {key.split(".")[0] for key in ours.state_dict()} == {"0", "2"}


# ---------------------------------------------------------------------------------------------
# Initialisation


def test_default_init_is_uniform_with_torch_bound():
    torch = pytest.importorskip("torch")
    stats = pytest.importorskip("scipy.stats")
    torch.manual_seed(0)
    for ours, theirs, fan_in in [
        (nn.Conv2d(8, 64, 3, rng=0), torch.nn.Conv2d(8, 64, 3), 8 * 9),
        (nn.Linear(300, 100, rng=1), torch.nn.Linear(300, 100), 300),
    ]:
        bound = 1 / np.sqrt(fan_in)
        for name, p in ours.named_parameters():
            t = dict(theirs.named_parameters())[name].detach().numpy().astype(np.float64)
            w = p.data.astype(np.float64)
            assert p.dtype == np.float32 and p.shape == t.shape
            # Both inside the same bound and filling it (PyTorch: kaiming_uniform(a=√5)).
            assert np.abs(w).max() <= bound and np.abs(t).max() <= bound
            if w.size > 1000:
                assert np.abs(w).max() > 0.99 * bound and np.abs(t).max() > 0.99 * bound
                assert stats.kstest(w.ravel(), "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3
                assert stats.ks_2samp(w.ravel(), t.ravel()).pvalue > 1e-3


def test_rng_seed_and_generator():
    a, b = nn.Conv2d(2, 3, 3, rng=5), nn.Conv2d(2, 3, 3, rng=5)
    c = nn.Conv2d(2, 3, 3, rng=6)
    assert np.array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(nn.Linear(4, 2, rng=g1).weight.data, nn.Linear(4, 2, rng=g2).weight.data)
    assert nn.Linear(4, 2, dtype=np.float64).weight.dtype == np.float64


# ---------------------------------------------------------------------------------------------
# Module behaviour


def test_gradients_accumulate_and_zero_grad_resets():
    layer = nn.Linear(3, 2, rng=0, dtype=np.float64)
    x, G = _input((4, 3), np.float64), _input((4, 2), np.float64, seed=1)
    layer(x)
    layer.backward(G)
    once = layer.weight.grad.copy()
    layer.backward(G)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-15)
    np.testing.assert_allclose(once, G.T @ x, rtol=1e-14)  # ∂ℓ/∂W = Gᵀ x
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_train_eval_and_dropout():
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Dropout(0.5, rng=1))
    assert model.training and model[1].training
    assert model.eval() is model and not model[1].training
    x = np.ones((2000, 4), dtype=np.float32)
    drop = nn.Dropout(0.25, rng=0)
    y = drop(x)
    kept = y != 0
    # Inverted dropout: survivors scaled by 1/(1-p); about 1-p of them survive.
    np.testing.assert_array_equal(y[kept], np.float32(1 / 0.75))
    assert abs(kept.mean() - 0.75) < 0.02
    G = _input(x.shape, np.float32)
    np.testing.assert_array_equal(drop.backward(G), G * y)  # the same mask and scale
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    np.testing.assert_array_equal(drop.backward(G), G)
    assert not nn.Dropout(1.0).forward(x).any()


def test_state_dict_round_trip_and_copies():
    a, b = lenet(rng=0), lenet(rng=1)
    x = _input((2, 1, 28, 28), np.float32)
    state = a.state_dict()
    state["0.weight"][...] = 0  # a copy: the model is unaffected
    assert a[0].weight.data.any()
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x), b(x))


def test_load_state_dict_from_torch_gives_torch_outputs():
    torch = pytest.importorskip("torch")
    twin = torch_lenet(torch)
    model = lenet()
    model.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    x = _input((3, 1, 28, 28), np.float32)
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    assert rel_error(model(x), want) <= 1e-5


def test_load_state_dict_errors_name_the_key():
    model = lenet()
    before = model.state_dict()
    good = model.state_dict()

    missing = {k: v for k, v in good.items() if k != "3.bias"}
    with pytest.raises(KeyError, match=r"missing.*'3\.bias'"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected.*'12\.weight'"):
        model.load_state_dict({**good, "12.weight": np.zeros(3, np.float32)})

    wrong_shape = dict(good, **{"7.weight": np.zeros((120, 401), np.float32)})
    wrong_shape["0.weight"] = np.zeros((6, 1, 5, 5), np.float32)  # valid, must not be applied
    with pytest.raises(ValueError, match=r"'7\.weight'.*\(120, 400\).*\(120, 401\)"):
        model.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match=r"'9\.bias'.*float32.*float64"):
        model.load_state_dict(dict(good, **{"9.bias": good["9.bias"].astype(np.float64)}))
    for k, v in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(v, before[k])

    result = model.load_state_dict(missing | {"extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["3.bias"] and result.unexpected_keys == ["extra"]
    with pytest.raises(TypeError, match="state_dict"):
        model.load_state_dict([("0.weight", good["0.weight"])])


def test_to_changes_dtype():
    model = lenet().to(np.float64)
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model(_input((1, 1, 28, 28), np.float64)).dtype == np.float64


def test_sequential_container():
    model = lenet()
    assert len(model) == 12 and isinstance(model[0], nn.Conv2d)
    head = model[7:]
    assert isinstance(head, nn.Sequential) and len(head) == 5
    assert head[0] is model[7]
    assert [type(m).__name__ for m in model][:3] == ["Conv2d", "ReLU", "MaxPool2d"]


def test_sequential_slice_keeps_torchs_names():
    """A slice keeps its layers' names, as torch's does (model[7:] holds "7" … "11"), so
    state dicts, reprs and walks name the same layers; appending to a slice takes the next
    free number ("5" after "7" … "11", as torch's str(len))."""
    torch = pytest.importorskip("torch")
    model = lenet()
    twin = torch.nn.Sequential(
        *[torch.nn.Linear(1, 1) if m.parameters() else torch.nn.ReLU() for m in model]
    )
    for index in (slice(7, None), slice(2, 9, 3), slice(None, None, -1), slice(1, 4)):
        ours, theirs = model[index], twin[index]
        assert list(ours.state_dict()) == list(theirs.state_dict()), index
        assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
        assert [node.name for node in ours.walk()] == list(theirs._modules)
    head, twin_head = model[7:], twin[7:]
    head.append(nn.ReLU())
    twin_head.append(torch.nn.ReLU())
    assert [n for n, _ in head.named_children()] == list(twin_head._modules)


def test_activation_layer_factory():
    assert isinstance(nn.activation_layer("gelu"), nn.GELU)
    with pytest.raises(ValueError, match="name"):
        nn.activation_layer("swishy")


def test_parametrised_activations_pass_their_settings():
    torch = pytest.importorskip("torch")
    x = _input((5, 6), np.float64) * 10
    for ours, theirs in [
        (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
        (nn.ELU(alpha=0.5), torch.nn.ELU(alpha=0.5)),
        (nn.Softplus(beta=2.0, threshold=5.0), torch.nn.Softplus(beta=2.0, threshold=5.0)),
    ]:
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        yt = theirs(xt)
        yt.sum().backward()
        assert rel_error(ours(x), yt.detach().numpy()) <= 1e-12
        assert rel_error(ours.backward(np.ones_like(x)), xt.grad.numpy()) <= 1e-12
        assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("name, make, shape", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_backward_before_forward_is_a_runtime_error(name, make, shape):
    with pytest.raises(RuntimeError, match="before forward"):
        make(np.float64).backward(np.zeros(shape))


def test_backward_checks_grad_output():
    relu = nn.ReLU()
    relu(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"grad_output.*\(2, 3\).*\(3, 2\)"):
        relu.backward(np.zeros((3, 2)))
    conv = nn.Conv2d(1, 1, 3, dtype=np.float64)
    conv(np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="grad_output"):
        conv.backward(np.zeros((1, 1, 5, 5)))


ERROR_INPUTS = [
    # (call, exception, message pattern)
    (
        lambda: nn.Linear(400, 10)(np.zeros((4, 16, 5, 5), np.float32)),
        ValueError,
        r"Linear.*x.*\(4, 16, 5, 5\).*Flatten",
    ),
    (lambda: nn.Linear(3, 2)(np.zeros((4, 5), np.float32)), ValueError, r"in_features=3.*\(4, 5\)"),
    (lambda: nn.Linear(3, 2)(np.zeros((), np.float32)), ValueError, r"x.*shape \(\)"),
    (lambda: nn.Linear(3, 2)(np.zeros((4, 3), np.float64)), TypeError, "float32.*float64"),
    (lambda: nn.Linear(3, 2)(np.zeros((4, 3), np.int64)), TypeError, "x.*int64"),
    (
        lambda: nn.Conv2d(3, 2, 3)(np.zeros((1, 2, 5, 5), np.float32)),
        ValueError,
        r"Conv2d.forward: x: expected 3 channels on axis 1 \(in_channels=3\)",
    ),
    (lambda: nn.Conv2d(1, 2, 3)(np.zeros((5, 5), np.float32)), ValueError, r"x\[None, None\]"),
    (lambda: nn.Conv2d(0, 2, 3), ValueError, "in_channels"),
    (lambda: nn.Conv2d(1, 2, -1), ValueError, "kernel_size"),
    (lambda: nn.Conv2d(1, 2, 3, padding="full"), ValueError, "padding"),
    (lambda: nn.Conv2d(1, 2, 3, stride=2, padding="same"), ValueError, "padding.*stride"),
    (lambda: nn.Conv2d(1, 2, 3, rng="seed"), TypeError, "rng"),
    (lambda: nn.Conv2d(1, 2, 3, dtype=np.int32), TypeError, "dtype"),
    (lambda: nn.Linear(2, 2, bias=1), TypeError, "bias"),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, "padding"),
    (lambda: nn.AvgPool2d(0), ValueError, "kernel_size"),
    (lambda: nn.Dropout(1.5), ValueError, "p"),
    (lambda: nn.Flatten(2)(np.zeros((3, 4), np.float32)), ValueError, "start_dim"),
    (lambda: nn.Sequential(nn.ReLU(), "relu"), TypeError, r"layers\[1\]"),
    (lambda: nn.ReLU()([1.0, 2.0]), TypeError, "x"),
    (lambda: nn.Parameter([1.0]), TypeError, "data"),
    (lambda: nn.LeakyReLU(float("nan")), ValueError, "negative_slope"),
    (lambda: nn.ReLU().train(1), TypeError, "mode"),
    (lambda: lenet().to(np.int8), TypeError, "dtype"),
]


@pytest.mark.parametrize("call, exc, pattern", ERROR_INPUTS)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_custom_module_names_and_repr_match_torch():
    torch = pytest.importorskip("torch")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, rng=0)
            self.act = nn.Tanh()
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4, rng=1))

    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.act = torch.nn.Tanh()
            self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 4))

    ours, theirs = Block(), TorchBlock()
    assert repr(ours).replace("Block", "TorchBlock", 1) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert list(ours.state_dict()) == ["conv.weight", "conv.bias", "head.1.weight", "head.1.bias"]
    assert ours.eval() is ours and not ours.head[1].training


def test_a_layer_used_twice_in_a_sequential_matches_torch():
    """Each call keeps its own context: the reused layer's weight collects both uses'
    gradients, and state_dict lists it under both positions, as torch.nn does."""
    torch = pytest.importorskip("torch")
    lin, tanh = nn.Linear(3, 3, rng=0, dtype=np.float64), nn.Tanh()
    model = nn.Sequential(lin, tanh, lin)
    t_lin = torch.nn.Linear(3, 3).double()
    t_lin.load_state_dict({k: torch.from_numpy(v) for k, v in lin.state_dict().items()})
    twin = torch.nn.Sequential(t_lin, torch.nn.Tanh(), t_lin)
    assert list(model.state_dict()) == list(twin.state_dict())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    x, G = _input((4, 3), np.float64), _input((4, 3), np.float64, seed=1)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(G))
    assert rel_error(model(x), yt.detach().numpy()) <= 1e-12
    assert rel_error(model.backward(G), xt.grad.numpy()) <= 1e-12
    assert rel_error(lin.weight.grad, t_lin.weight.grad.numpy()) <= 1e-12
    assert rel_error(lin.bias.grad, t_lin.bias.grad.numpy()) <= 1e-12


def test_a_sequential_cannot_contain_itself():
    outer = nn.Sequential(nn.ReLU())
    with pytest.raises(ValueError, match=r"layers\[1\].*contains this Sequential"):
        outer.append(nn.Sequential(outer))


def test_shared_parameter_is_listed_once():
    a, b = nn.Linear(3, 3, rng=0), nn.Linear(3, 3, rng=1)
    b.weight = a.weight  # tied weights
    model = nn.Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert model.num_parameters() == 9 + 3 + 3


def test_an_error_inside_a_container_says_which_layer_or_node_raised_it():
    """The layer's own message stays as it is; the traceback adds (an exception note) which
    layer of a Sequential, or node of a Graph, raised it: the layer that a ReLU runs fused
    with, too, and each level of a nested container, innermost first."""
    if not hasattr(BaseException, "add_note"):  # Python 3.10: the message alone
        return
    x = np.zeros((2, 3, 8, 8), np.float32)
    inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"^Linear\.forward: x: expected shape") as caught:
        nn.Sequential(inner)(x)
    assert caught.value.__notes__ == [
        "in layer '3' (Linear) of a Sequential",
        "in layer '0' (Sequential) of a Sequential",
    ]
    wrong_pool = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(9))  # 6×6 maps
    with pytest.raises(ValueError) as caught:
        wrong_pool(x)
    assert caught.value.__notes__ == ["in layer '2' (MaxPool2d) of a Sequential"]
    graph = nn.Graph(["x"])
    graph.add(nn.Conv2d(3, 4, 3), "x", name="conv")
    graph.add(nn.Linear(5, 2), "conv", name="head")
    graph.set_output("head")
    with pytest.raises(ValueError) as caught:
        graph(x)
    assert caught.value.__notes__ == ["in node 'head' (Linear) of a Graph"]
