"""Forward hooks with PyTorch's ``with_kwargs=True`` and ``always_call=True``: the same hooks
on the same modules, in cnnmath and in PyTorch, are called with the same arguments, in the
same order, change the same values and leave the same error behind."""

import copy
import warnings

import numpy as np
import pytest

from cnnmath import nn

torch = pytest.importorskip("torch")


class _Scale(nn.Module):
    """A hand-written module with a keyword argument: y = scale · x (+ shift)."""

    def forward(self, x, scale=1.0, shift=0.0):
        return scale * x + shift

    def backward(self, grad_output):
        return grad_output


class _TorchScale(torch.nn.Module):
    def forward(self, x, scale=1.0, shift=0.0):
        return scale * x + shift


def _register(module, log):
    def pre(m, args, kwargs):
        log.append(("pre", type(args).__name__, len(args), dict(kwargs)))
        return args, {**kwargs, "scale": 3.0}

    def post(m, args, kwargs, y):
        log.append(("post", len(args), dict(kwargs)))
        return y + 1

    module.register_forward_pre_hook(pre, with_kwargs=True)
    module.register_forward_hook(post, with_kwargs=True)
    module.register_forward_hook(lambda m, args, y: log.append(("plain", len(args))))


def test_with_kwargs_hooks_see_and_change_keywords_as_torch():
    """A pre-hook sets scale=3 in the keywords, a hook reads the keywords and adds 1 to the
    output, a hook without the flag gets (module, args, output): PyTorch's calls and
    values, for a call with a keyword and one without."""
    x = np.arange(4.0).reshape(2, 2)
    ours, theirs, got, want = _Scale(), _TorchScale(), [], []
    _register(ours, got)
    _register(theirs, want)
    with nn.no_grad():  # the replaced keywords cannot be differentiated (test below)
        y1 = ours(x, shift=0.5)
        y2 = ours(x)
    t1 = theirs(torch.from_numpy(x), shift=0.5)
    t2 = theirs(torch.from_numpy(x))
    np.testing.assert_array_equal(y1, t1.numpy())
    np.testing.assert_array_equal(y2, t2.numpy())
    np.testing.assert_array_equal(y1, 3 * x + 0.5 + 1)
    assert got == want


def test_with_kwargs_hooks_on_layers_in_a_sequential():
    """Built-in layers run by a Sequential get empty keywords; a pre-hook that returns the
    pair unchanged but scaled args changes the forward as PyTorch's does."""
    rng = np.random.default_rng(0)
    ours = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64), nn.ReLU(), nn.Linear(4, 2, dtype=np.float64)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)
    ).double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    got, want = [], []
    for model, log in ((ours, got), (theirs, want)):
        model[2].register_forward_pre_hook(
            lambda m, args, kwargs, log=log: (log.append(dict(kwargs)), ((2 * args[0],), kwargs))[
                1
            ],
            with_kwargs=True,
        )
        model[0].register_forward_hook(
            lambda m, args, kwargs, y, log=log: log.append(("out", dict(kwargs), y.shape[-1])),
            with_kwargs=True,
        )
    x = rng.standard_normal((5, 3))
    with nn.no_grad():
        y = ours(x)
    np.testing.assert_allclose(y, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    assert [(e if isinstance(e, dict) else (e[0], e[1], int(e[2]))) for e in got] == [
        (e if isinstance(e, dict) else (e[0], e[1], int(e[2]))) for e in want
    ]


def test_a_replaced_keyword_refuses_the_backward():
    """Changing a keyword argument in a pre-hook changes the forward, which the module's
    own backward would not see: refused outside no_grad, as a replaced input is."""
    ours = _Scale()
    ours.register_forward_pre_hook(lambda m, a, k: (a, {"scale": 2.0}), with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"_Scale: a forward hook \(or pre-hook\) replaced"):
        ours(np.ones(2))
    keep = _Scale()
    keep.register_forward_pre_hook(lambda m, a, k: (a, k), with_kwargs=True)
    np.testing.assert_array_equal(keep(np.ones(2), scale=2.0), 2 * np.ones(2))


def test_a_pre_hook_with_kwargs_must_return_a_pair():
    ours, theirs = _Scale(), _TorchScale()
    for m in (ours, theirs):
        m.register_forward_pre_hook(lambda m, a, k: a, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"must return None or a"):
        theirs(torch.ones(2))
    with pytest.raises(RuntimeError, match=r"_Scale: a forward pre-hook registered with "):
        ours(np.ones(2))


class _Fails(nn.Module):
    def forward(self, x):
        raise ValueError("forward failed")


class _TorchFails(torch.nn.Module):
    def forward(self, x):
        raise ValueError("forward failed")


def _always_hooks(module, log):
    module.register_forward_hook(lambda m, a, y: log.append(("skipped", y)))
    module.register_forward_hook(lambda m, a, y: log.append(("always", y)), always_call=True)
    module.register_forward_hook(
        lambda m, a, k, y: log.append(("always+kwargs", dict(k), y)),
        always_call=True,
        with_kwargs=True,
    )


def test_always_call_hooks_run_when_the_forward_raises():
    """The forward raises: the always_call hooks run (given None), the others do not, and
    the forward's own error is raised — PyTorch's calls."""
    got, want = [], []
    ours, theirs = _Fails(), _TorchFails()
    _always_hooks(ours, got)
    _always_hooks(theirs, want)
    with pytest.raises(ValueError, match="forward failed"):
        theirs(torch.ones(2))
    with pytest.raises(ValueError, match="forward failed"):
        ours(np.ones(2))
    assert got == want == [("always", None), ("always+kwargs", {}, None)]


def test_always_call_hooks_after_a_failing_hook_get_the_output_so_far():
    """A hook that raises after the forward: the always_call hooks it came before still run
    (once), given the output as the hooks before had left it; one that raises itself while
    the forward is failing is a warning; the first error is the one raised."""

    def build(lib, log):
        layer = _Scale() if lib == "ours" else _TorchScale()
        layer.register_forward_hook(
            lambda m, a, y: log.append(("ran first", float(y[0]))) or y * 10
        )
        layer.register_forward_hook(
            lambda m, a, y: log.append(("ran", float(y[0]))), always_call=True
        )

        def broken(m, a, y):
            raise KeyError("a hook broke")

        layer.register_forward_hook(broken)
        layer.register_forward_hook(
            lambda m, a, y: log.append(("always", float(y[0]))), always_call=True
        )

        def also_broken(m, a, y):
            raise OSError("the cleanup broke too")

        layer.register_forward_hook(also_broken, always_call=True)
        return layer

    logs = {}
    for lib, x in (("ours", np.ones(2)), ("theirs", torch.ones(2))):
        log = logs[lib] = []
        layer = build(lib, log)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(KeyError, match="a hook broke"):
                if lib == "ours":
                    with nn.no_grad():
                        layer(x)
                else:
                    layer(x)
        assert [str(w.message) for w in caught if "the cleanup broke too" in str(w.message)], lib
    assert logs["ours"] == logs["theirs"] == [("ran first", 1.0), ("ran", 10.0), ("always", 10.0)]


def test_always_call_on_layers_a_container_runs():
    """A Sequential's layer whose forward raises (a wrong input width) still runs its
    always_call hook, and a copied model keeps both flags."""
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64))
    log = []
    model[0].register_forward_hook(
        lambda m, a, k, y: log.append((dict(k), y)), always_call=True, with_kwargs=True
    )
    with pytest.raises(ValueError):
        model(np.ones((1, 4)))
    assert log == [({}, None)]
    copied = copy.deepcopy(model)
    with pytest.raises(ValueError):
        copied(np.ones((1, 5)))
    assert log == [({}, None), ({}, None)]
    y = copied(np.ones((1, 3)))
    assert len(log) == 3 and log[-1][1] is y
