"""cnnmath.nn.Module's declared state: buffers (state_dict names and dtypes against torch.nn,
load, to), generators, modules — all found by declaration, never by naming convention."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, optim


class Stats(nn.Module):
    """A module with a parameter, two persistent buffers (one int64 0-d) and a scratch one."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.ones(3, np.float32))
        self.register_buffer("running_mean", np.arange(3, dtype=np.float32))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self.register_buffer("scratch", np.zeros(2, np.float32), persistent=False)


def _model():
    return nn.Sequential(nn.Linear(2, 3, rng=0), Stats(), nn.Dropout(0.5, rng=1))


def test_state_dict_has_buffers_with_torch_names_and_dtypes():
    torch = pytest.importorskip("torch")

    class TorchStats(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("running_mean", torch.arange(3, dtype=torch.float32))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.int64))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

    ours = _model().state_dict()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(2, 3), TorchStats(), torch.nn.Dropout()
    ).state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert ours[key].shape == tuple(value.shape), key
        assert str(ours[key].dtype) == str(value.dtype).removeprefix("torch."), key
    model = _model()
    assert [n for n, _ in model.named_buffers()] == [
        n for n, _ in torch.nn.Sequential(torch.nn.Linear(2, 3), TorchStats()).named_buffers()
    ]
    assert len(model.buffers()) == 3


def test_load_state_dict_restores_buffers_and_checks_them():
    a, b = _model(), _model()
    state = a.state_dict()
    state["1.running_mean"] = np.array([5.0, 6.0, 7.0], np.float32)
    state["1.num_batches_tracked"] = np.array(9, np.int64)
    b.load_state_dict(state)
    np.testing.assert_array_equal(b[1].running_mean, [5.0, 6.0, 7.0])
    assert b[1].num_batches_tracked == 9 and b[1].num_batches_tracked.dtype == np.int64
    before = b.state_dict()
    bad = dict(state, **{"1.num_batches_tracked": np.array(1.0)})
    bad["0.weight"] = np.zeros((3, 2), np.float32)  # valid, must not be applied
    with pytest.raises(ValueError, match=r"'1\.num_batches_tracked'.*int64.*float64"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_to_converts_parameters_and_float_buffers_not_integer_ones():
    model = _model().to(np.float64)
    stats = model[1]
    assert stats.weight.dtype == np.float64 and stats.running_mean.dtype == np.float64
    assert stats.scratch.dtype == np.float64
    assert stats.num_batches_tracked.dtype == np.int64
    assert model.state_dict()["1.running_mean"].dtype == np.float64


def test_to_finds_nothing_by_naming_convention():
    """An undeclared array attribute is not state: to() leaves it alone (only declared
    parameters and buffers are converted)."""
    stats = Stats()
    stats.not_a_buffer = np.zeros(2, np.float32)
    stats._cache_x = np.zeros(2, np.float32)
    stats.to(np.float64)
    assert stats.not_a_buffer.dtype == np.float32 and stats._cache_x.dtype == np.float32
    assert "not_a_buffer" not in stats.state_dict()


def test_generators_are_declared():
    model = _model()
    named = list(model.named_generators())
    assert [n for n, _ in named] == ["2.rng"] and named[0][1] is model[2].rng
    g = np.random.default_rng(0)
    shared = nn.Sequential(nn.Dropout(rng=g), nn.Dropout(rng=g))
    assert [n for n, _ in shared.named_generators()] == ["0.rng"]  # one stream, listed once


def test_named_modules_lists_each_module_once():
    relu = nn.ReLU()
    inner = nn.Sequential(nn.Linear(2, 2), relu)
    model = nn.Sequential(inner, relu, nn.Tanh())
    assert [n for n, _ in model.named_modules()] == ["", "0", "0.0", "0.1", "2"]


def test_reassigning_a_buffer_replaces_it():
    stats = Stats()
    stats.running_mean = np.full(3, 2.0, np.float32)
    np.testing.assert_array_equal(stats.state_dict()["running_mean"], [2.0, 2.0, 2.0])


REGISTER_ERRORS = [
    (lambda m: m.register_buffer("a.b", np.zeros(1)), ValueError, "identifier"),
    (lambda m: m.register_buffer("_x", np.zeros(1)), ValueError, "'_'"),
    (lambda m: m.register_buffer("weight", np.zeros(1)), ValueError, "already an attribute"),
    (lambda m: m.register_buffer("forward", np.zeros(1)), ValueError, "already an attribute"),
    (lambda m: m.register_buffer(3, np.zeros(1)), TypeError, "name"),
    (lambda m: m.register_buffer("b", [1.0]), TypeError, "tensor"),
    (lambda m: m.register_buffer("b", np.zeros(1), persistent=1), TypeError, "persistent"),
    (lambda m: m.register_generator("g", 0), TypeError, "generator"),
]


@pytest.mark.parametrize("call, exc, pattern", REGISTER_ERRORS)
def test_register_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call(Stats())


def test_buffers_round_trip_through_a_weights_file(tmp_path):
    pytest.importorskip("safetensors")
    from cnnmath import weights

    a, b = _model(), _model()
    a[1].num_batches_tracked[...] = 4
    a[1].running_mean[...] = [1.0, -2.0, 3.0]
    weights.save(a, tmp_path / "m.safetensors")
    weights.load(b, tmp_path / "m.safetensors")
    for key, value in a.state_dict().items():
        got = b.state_dict()[key]
        assert got.dtype == value.dtype
        np.testing.assert_array_equal(got, value)


def test_named_parameters_prefix_is_joined_with_a_dot_as_torchs():
    """named_parameters("net") gives "net.0.weight", as named_buffers, named_modules and
    torch's named_parameters do (it gave "net0.weight")."""
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    twin = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    for prefix in ("net", ""):
        assert [k for k, _ in ours.named_parameters(prefix)] == [
            k for k, _ in twin.named_parameters(prefix)
        ]
        assert [k for k, _ in ours.named_buffers(prefix)] == [
            k for k, _ in twin.named_buffers(prefix)
        ]


def test_a_child_held_twice_is_one_child_but_two_state_entries_as_torchs():
    """named_children / children list a module once, under its first name; state_dict and
    repr list it under every name (torch's rules)."""
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Module(), torch.nn.Module()
    ours.bn = nn.BatchNorm2d(2)
    ours.alias = ours.bn
    theirs.bn = torch.nn.BatchNorm2d(2)
    theirs.alias = theirs.bn
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(ours.children()) == len(list(theirs.children())) == 1
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours).replace("Module", "") == repr(theirs).replace("Module", "")
    seq = nn.Sequential(ours.bn, nn.ReLU(), ours.bn)
    twin = torch.nn.Sequential(theirs.bn, torch.nn.ReLU(), theirs.bn)
    assert [n for n, _ in seq.named_children()] == [n for n, _ in twin.named_children()]
    assert list(seq.state_dict()) == list(twin.state_dict())


def test_a_gradient_set_to_none_is_cleared_as_in_pytorch_and_a_wrong_one_refused():
    """``p.grad = None`` (PyTorch's way of clearing): the next backward and SGD step give
    what PyTorch's give from the same weights; an array of another shape or dtype, or a
    non-array, is refused naming the parameter's shape and dtype."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, G = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    ours = nn.Linear(4, 3, rng=0).to(np.float64)
    theirs = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    for _ in range(2):  # a second round: no gradient of the first may remain
        for p in ours.parameters():
            p.grad = None
        for q in theirs.parameters():
            q.grad = None
        ours(x)
        ours.backward(G)
        theirs(torch.from_numpy(x)).backward(torch.from_numpy(G))
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
        optim.SGD(ours.parameters(), lr=0.1).step()
        torch.optim.SGD(theirs.parameters(), lr=0.1).step()
        np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-12)
    p = ours.weight
    with pytest.raises(ValueError, match=r"Parameter\(shape=\(3, 4\).*got shape \(4, 3\)"):
        p.grad = np.zeros((4, 3))
    with pytest.raises(
        ValueError, match=r"dtype float64 \(the data's\), got shape \(3, 4\) and dtype float32"
    ):
        p.grad = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match=r"or None to clear it, got list"):
        p.grad = [[0.0] * 4] * 3
    frozen = np.zeros((3, 4))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"expected a writeable array"):
        p.grad = frozen
    mine = np.ones((3, 4))
    p.grad = mine  # an array of the right kind is kept as given, as before
    assert p.grad is mine
    p.grad += 1.0  # in place, as the backward passes add: the same array
    assert p.grad is mine and mine[0, 0] == 2.0
