"""Module hooks, ``apply``, ``add_module`` and the path getters against PyTorch's: the same hooks on the same
network record the same feature maps and gradients and change the same values; Grad-CAM on
ResNet-18 as PyTorch's users write it."""

import copy
import pickle

import numpy as np
import pytest

from cnnmath import models, nn
from helpers import rel_error, small_cnn_pair
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 5))


def _hook_both(ours, theirs, register):
    """``register(model, index, lib)`` on both models; returns the two record dicts."""
    records = {"ours": {}, "theirs": {}}
    for model, lib in ((ours, "ours"), (theirs, "theirs")):
        register(model, records[lib], lib)
    return records["ours"], records["theirs"]


def _array(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


def test_forward_hooks_record_and_replace_as_torch():
    """A hook records the second convolution's maps, one doubles the first ReLU's output
    (so that ReLU runs alone, not fused with the pooling after it), a pre-hook adds 1 to
    the classifier's input: PyTorch's output and maps."""
    ours, tm = small_cnn_pair(3)

    def register(model, record, lib):
        model[4].register_forward_hook(lambda m, args, y: record.update(conv=y))
        model[2].register_forward_hook(lambda m, args, y: 2 * y)
        model[7].register_forward_pre_hook(lambda m, args: (args[0] + 1,))

    got, want = _hook_both(ours, tm, register)
    x, _ = _batch()
    y = ours(x)
    assert rel_error(y, _array(tm(torch.from_numpy(x)))) <= 1e-12
    assert rel_error(got["conv"], _array(want["conv"])) <= 1e-12


def test_backward_hooks_see_and_replace_gradients_as_torch():
    """Full backward hooks record the second convolution's grad_input and grad_output,
    halve the batch norm's grad_input; a backward pre-hook triples the classifier's
    grad_output: every recorded gradient, ∂ℓ/∂x and every parameter's gradient are
    PyTorch's."""
    ours, tm = small_cnn_pair(4)

    def register(model, record, lib):
        def keep(m, grad_input, grad_output):
            record["in"], record["out"] = grad_input[0], grad_output[0]

        model[4].register_full_backward_hook(keep)
        model[1].register_full_backward_hook(lambda m, gi, go: tuple(0.5 * g for g in gi))
        model[7].register_full_backward_pre_hook(lambda m, go: (3 * go[0],))

    got, want = _hook_both(ours, tm, register)
    x, G = _batch(5)
    xt = torch.from_numpy(x).requires_grad_()
    (tm(xt) * torch.from_numpy(G)).sum().backward()
    ours(x)
    grad_x = ours.backward(G)
    assert rel_error(grad_x, xt.grad.numpy()) <= 1e-12
    for key in ("in", "out"):
        assert rel_error(got[key], _array(want[key])) <= 1e-12, key
    # all gradients at once: the first bias's is rounding noise (the batch norm after it
    # cancels it), which only the scale of the others can judge
    got_grads = np.concatenate([p.grad.ravel() for p in ours.parameters()])
    assert (
        rel_error(got_grads, np.concatenate([p.grad.numpy().ravel() for p in tm.parameters()]))
        <= 1e-12
    )


def test_grad_cam_on_resnet18_as_torchs():
    """Grad-CAM: layer4's maps A (forward hook) and ∂score/∂A (full backward hook),
    weights α = mean of the gradient over the map, cam = ReLU(Σ_k α_k A_k); torchvision's
    ResNet-18 with the same weights, A's gradient taken by a tensor hook (its in-place
    ReLU rules out a module backward hook there)."""
    tv = import_torchvision()
    ours = models.resnet18(num_classes=4, seed=0, dtype=np.float64).eval()
    tm = tv.models.resnet18(num_classes=4).double().eval()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(6).standard_normal((1, 3, 64, 64))
    got = {}

    def maps(m, args, y):
        got["A"] = y

    def gradients(m, grad_input, grad_output):
        got["dA"] = grad_output[0]

    ours.layer4.register_forward_hook(maps)
    ours.layer4.register_full_backward_hook(gradients)
    scores = ours(x)
    G = np.zeros_like(scores)
    G[0, 2] = 1.0
    ours.backward(G)
    want = {}

    def keep(m, args, y):
        want["A"] = y
        y.register_hook(lambda g: want.setdefault("dA", g))

    tm.layer4.register_forward_hook(keep)
    tm(torch.from_numpy(x))[0, 2].backward()

    def cam(A, dA):
        alpha = dA.mean(axis=(2, 3), keepdims=True)
        return np.maximum((alpha * A).sum(axis=1), 0)

    assert rel_error(got["dA"], want["dA"].numpy()) <= 1e-10
    assert rel_error(cam(got["A"], got["dA"]), cam(_array(want["A"]), want["dA"].numpy())) <= 1e-10


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # torch's, on layer 1
def test_a_skipped_module_calls_no_backward_hook_as_torch():
    """The first convolution frozen, the input needing no gradient: neither library calls
    its backward hook; the next layer's is called once in each."""
    ours, tm = small_cnn_pair(7)
    ours[0].requires_grad_(False)
    tm[0].requires_grad_(False)
    calls = {"ours": [], "theirs": []}
    for model, lib in ((ours, "ours"), (tm, "theirs")):
        for i in (0, 1):
            model[i].register_full_backward_hook(
                lambda m, gi, go, i=i, lib=lib: calls[lib].append(i)
            )
    x, G = _batch(8)
    (tm(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
    ours(x)
    ours.backward(G, input_grad=False)
    assert calls["ours"] == calls["theirs"] == [1]


def test_handles_remove_hooks_and_hooks_run_in_order():
    layer = nn.Linear(2, 2, dtype=np.float64)
    x = np.ones((1, 2))
    plain = layer(x)
    first = layer.register_forward_hook(lambda m, a, y: y + 1)
    with layer.register_forward_hook(lambda m, a, y: 10 * y):
        assert np.array_equal(layer(x), 10 * (plain + 1))
    assert np.array_equal(layer(x), plain + 1)
    first.remove()
    first.remove()
    assert np.array_equal(layer(x), plain)


def test_copies_keep_hooks_and_pickles_drop_them():
    seen = []
    layer = nn.Linear(2, 2, dtype=np.float64)
    handle = layer.register_forward_hook(lambda m, a, y: seen.append(type(m).__name__))
    twin = copy.deepcopy(layer)
    handle.remove()
    twin(np.ones((1, 2)))
    layer(np.ones((1, 2)))
    assert seen == ["Linear"]
    loaded = pickle.loads(pickle.dumps(twin))
    loaded(np.ones((1, 2)))
    assert seen == ["Linear"]
    assert np.array_equal(loaded.weight.data, layer.weight.data)


def test_hooks_refuse_what_is_not_callable():
    with pytest.raises(TypeError, match=r"Linear.register_forward_hook: hook: expected a callable"):
        nn.Linear(2, 2).register_forward_hook("print")
    with pytest.raises(TypeError, match=r"ReLU.apply: fn: expected a callable, got int"):
        nn.ReLU().apply(3)


def test_apply_visits_modules_in_torchs_order():
    ours, tm = small_cnn_pair()
    got, want = [], []
    outer = nn.Sequential(ours, nn.Sequential(nn.ReLU()))
    touter = torch.nn.Sequential(tm, torch.nn.Sequential(torch.nn.ReLU()))
    assert outer.apply(lambda m: got.append(type(m).__name__)) is outer
    touter.apply(lambda m: want.append(type(m).__name__))
    assert got == want


def test_paths_reach_what_torchs_reach():
    ours = models.resnet18(num_classes=4, seed=1, dtype=np.float64)
    tv = import_torchvision()
    tm = tv.models.resnet18(num_classes=4).double()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert type(ours.get_submodule("layer2.1.bn2")).__name__ == "BatchNorm2d"
    assert ours.get_submodule("") is ours
    for name in ("layer3.0.downsample.0.weight", "fc.bias"):
        assert np.array_equal(
            ours.get_parameter(name).data, tm.get_parameter(name).detach().numpy()
        )
    want = tm.get_buffer("layer1.0.bn1.running_var").numpy()
    assert np.array_equal(ours.get_buffer("layer1.0.bn1.running_var"), want)
    with pytest.raises(AttributeError, match=r"'layer2.7.conv1'.* has no submodule '7'"):
        ours.get_submodule("layer2.7.conv1")
    with pytest.raises(AttributeError, match=r"has no parameter 'gamma'"):
        ours.get_parameter("bn1.gamma")
    with pytest.raises(AttributeError, match=r"has no buffer 'weight'"):
        ours.get_buffer("bn1.weight")


def test_float_and_double_cast_as_to():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    assert {p.dtype for p in model.double().parameters()} == {np.dtype(np.float64)}
    assert model[1].running_mean.dtype == np.float64
    assert {p.dtype for p in model.float().parameters()} == {np.dtype(np.float32)}


def test_blocks_added_in_a_loop_have_torchs_names():
    """A block built with add_module / register_module / register_parameter in a loop, as
    torchvision's DenseNet does: torch's state_dict keys, in torch's order."""

    def build(lib, parameter):
        class Block(lib.Module):
            def __init__(self):
                super().__init__()
                for i in range(2):
                    self.add_module(f"conv{i}", lib.Conv2d(2, 2, 3))
                self.register_module("norm", lib.BatchNorm2d(2))
                self.register_parameter("scale", parameter(np.ones(2)))
                self.register_parameter("shift", None)

        return Block()

    ours = build(nn, nn.Parameter)
    theirs = build(torch.nn, lambda a: torch.nn.Parameter(torch.from_numpy(a)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    with pytest.raises(KeyError, match=r"add_module: name: attribute 'scale' already exists"):
        ours.add_module("scale", nn.ReLU())
    with pytest.raises(TypeError, match=r"register_parameter: param: expected a cnnmath"):
        ours.register_parameter("bias", np.zeros(2))
    with pytest.raises(ValueError, match=r"name: expected a non-empty str without '.'"):
        ours.add_module("a.b", nn.ReLU())


def test_a_backward_after_a_hook_replaced_a_value_is_refused():
    """PyTorch differentiates through a forward hook's result; cnnmath cannot, so the
    backward of such a forward is refused, naming the module, rather than giving a gradient
    that ignores the hook; under no_grad nothing is differentiated and nothing refused.
    A hook that records (returns None, or what it was given) changes nothing."""
    ours, _ = small_cnn_pair(9)
    x, G = _batch(10)
    keep = ours[4].register_forward_hook(lambda m, args, y: y)
    ours(x)
    want = ours.backward(G)
    for register, hook in (
        (ours[4].register_forward_hook, lambda m, args, y: 3 * y),
        (ours[7].register_forward_pre_hook, lambda m, args: (3 * args[0],)),
    ):
        with register(hook):
            ours(x)
            with pytest.raises(RuntimeError, match=r"(Conv2d|Linear).backward: a forward hook"):
                ours.backward(G)
            with nn.no_grad():
                ours(x)
        ours(x)
        assert np.array_equal(ours.backward(G), want)
    keep.remove()


def test_prepend_and_the_keywords_torch_takes():
    layer = nn.Linear(2, 2, dtype=np.float64)
    order = []
    layer.register_forward_hook(lambda m, a, y: order.append("first"))
    layer.register_forward_hook(lambda m, a, y: order.append("prepended"), prepend=True)
    layer(np.ones((1, 2)))
    assert order == ["prepended", "first"]
    with pytest.raises(TypeError, match=r"register_forward_hook: with_kwargs: expected a bool"):
        layer.register_forward_hook(print, with_kwargs="yes")
    with pytest.raises(TypeError, match=r"register_forward_hook: always_call: expected a bool"):
        layer.register_forward_hook(print, always_call=1)
    with pytest.raises(
        ValueError, match=r"Linear: a backward hook returned 2 value\(s\) for the 1"
    ):
        layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        layer(np.ones((1, 2)))
        layer.backward(np.ones((1, 2)))


class _Doubler(nn.Module):
    """A hand-written module: its own forward and backward, state on itself."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return 2 * grad_output


def test_a_hand_written_model_calls_its_forward_hooks():
    """Its forward hooks run when it is called; one that replaces the output works under
    no_grad and is refused otherwise (its own backward, called directly, could not see
    the change)."""
    model = _Doubler()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape))
    assert np.array_equal(model(np.ones(3)), np.full(3, 2.0))
    model.register_forward_hook(lambda m, args, y: y + 1)
    with nn.no_grad():
        assert np.array_equal(model(np.ones(3)), np.full(3, 3.0))
    assert seen == [(3,), (3,)]
    with pytest.raises(RuntimeError, match=r"_Doubler: a forward hook .* hand-written module"):
        model(np.ones(3))


def test_getters_and_requires_grad_name_their_argument():
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match=r"Sequential.requires_grad_: requires_grad: expected"):
        model.requires_grad_("no")
    with pytest.raises(TypeError, match=r"Sequential.get_parameter: target: expected a str"):
        model.get_parameter(3)
    with pytest.raises(TypeError, match=r"Sequential.get_buffer: target: expected a str"):
        model.get_buffer(None)
