"""Small helpers for tests: the error measure of SPEC.md and tolerances per dtype."""

import contextlib
import importlib
import os
import pkgutil
import threading

import numpy as np

# Relative-to-scale bounds from DESIGN.md: float64 against the reference, float32 likewise.
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def rel_error(got, want) -> float:
    """max|got - want| / max|want| (0 when both are zero): the error relative to the data's scale."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = np.abs(want).max(initial=0.0)
    diff = np.abs(got - want).max(initial=0.0)
    return diff if scale == 0 else diff / scale


def assert_close(got, want, dtype=np.float64, factor=1.0):
    err = rel_error(got, want)
    bound = TOL[np.dtype(dtype).type] * factor
    assert err <= bound, f"relative error {err:.3g} > {bound:.3g}"


@contextlib.contextmanager
def fifo_never_hangs(path):
    """Make a FIFO at ``path`` for a test that expects it refused unopened: should the code
    under test open it after all, a writer comes and goes after 3 s, so the read ends (empty)
    and the test fails instead of hanging the suite."""
    os.mkfifo(path)
    done = threading.Event()

    def unblock():
        if done.wait(3):
            return
        while not done.is_set():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader: nothing to unblock
                pass
            done.wait(0.1)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def interrupted_at_batch(n):
    """Inside: ``cnnmath.recipes``' augmentation raises KeyboardInterrupt (as Ctrl-C would)
    at its n-th call, so a training run of the recipe stops in its n-th batch."""
    import cnnmath.recipes

    real = cnnmath.recipes.random_shift
    calls = {"n": 0}

    def shift_then_interrupt(x, rng, max_shift=1):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(x, rng, max_shift)

    cnnmath.recipes.random_shift = shift_then_interrupt
    try:
        yield
    finally:
        cnnmath.recipes.random_shift = real


def trains_as_torch(model, x, graph):
    """One backward of ⟨model(x), G⟩: cnnmath's gradients of x and of every parameter equal
    PyTorch's autograd's (float64). A parameter is found by its ONNX name
    (``initializer_names``), or, where the exporter stored a (transposed) copy under a name
    of its own (a Linear's weight before MatMul), by its values."""
    import torch

    G = torch.randn_like(model(x))
    xt = x.clone().requires_grad_()
    model.zero_grad()
    (model(xt) * G).sum().backward()
    graph.train()
    graph.zero_grad()
    graph(x.numpy())
    grad_x = graph.backward(G.numpy())
    assert rel_error(grad_x, xt.grad.numpy()) <= 1e-10
    ours = dict(graph.named_parameters())
    assert len(ours) == len(list(model.parameters()))
    for name, p in model.named_parameters():
        want = p.grad.numpy()
        if name in graph.initializer_names:
            got = ours[graph.initializer_names[name]].grad
        else:
            value = p.detach().numpy()
            (got,) = [
                grad
                for q in ours.values()
                for data, grad in ((q.data, q.grad), (q.data.T, q.grad.T))
                if data.shape == value.shape and np.array_equal(data, value)
            ]
        assert rel_error(got, want) <= 1e-10, name


def torch_onnx_export(model, x, **kwargs):
    """The bytes of ``torch.onnx.export(model, (x,))`` with PyTorch's TorchScript exporter
    (``dynamo=False``: the dynamo one needs onnxscript), input "x", output "y"."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"], **kwargs
        )
    return buffer.getvalue()


def loads_as_onnxruntime(model, x, **kwargs):
    """A float32 copy of the torch ``model`` exported (onnxruntime has no float64 Conv):
    cnnmath's load of the file gives onnxruntime's output on float32 ``x``, to 1e-5 of its
    scale."""
    import copy

    import onnxruntime as ort

    from cnnmath.onnx import load

    x32 = x.float()
    data = torch_onnx_export(copy.deepcopy(model).float(), x32, **kwargs)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    witness = session.run(None, {"x": x32.numpy()})[0]
    assert rel_error(load(data)(x32.numpy()), witness) <= 1e-5


def onnx_model_bytes(nodes, inputs, outputs, initializers=(), opset=17):
    """A serialised ONNX model of ``nodes``: inputs [(name, element type, shape)], outputs
    [(name, element type)] of undeclared shape, ``initializers`` TensorProtos, IR version 8."""
    from onnx import helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def run_onnxruntime(data, feeds):
    """Every output of onnxruntime's CPU run of the serialised model ``data`` on ``feeds``."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def torch_layout(module):
    """{state_dict key: (shape, NumPy dtype)} of a torch module, on any device ("meta" too)."""
    import torch

    return {
        k: (tuple(v.shape), torch.empty(0, dtype=v.dtype).numpy().dtype)
        for k, v in module.state_dict().items()
    }


def meta_device(name=""):
    """A context building torch modules on the "meta" device (shapes and dtypes, no memory
    or initialisation), except RegNets, whose builders read the values of tensors they
    compute (their widths)."""
    import torch

    return contextlib.nullcontext() if "regnet" in name else torch.device("meta")


def randomise_batchnorm(model, seed=0):
    """Every torch BatchNorm (1-D, 2-D, 3-D) of ``model`` given random γ ~ 0.5 + U(0, 1),
    β ~ 0.1·N(0, 1) and running statistics (mean 0.1·N(0, 1), variance 0.5 + U(0, 1)), in
    module order from ``torch.Generator().manual_seed(seed)``: eval mode then does more than
    the identity, and a witness model's BatchNorm is not at its defaults. Returns model."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                C = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(C, generator=g))
                m.running_var.copy_(0.5 + torch.rand(C, generator=g))
                m.weight.copy_(0.5 + torch.rand(C, generator=g))
                m.bias.copy_(0.1 * torch.randn(C, generator=g))
    return model


def check_input_gradients(graph, args, wrt=None):
    """∂⟨graph(*args), G⟩ with respect to the float64 arguments ``wrt`` (indices; default:
    every float64 one), from ``graph.backward``, against central finite differences."""
    from cnnmath.gradcheck import check_gradients

    wrt = [i for i, a in enumerate(args) if a.dtype == np.float64] if wrt is None else wrt

    def f(*xs):
        full = list(args)
        for i, x in zip(wrt, xs):
            full[i] = x
        return graph(*full)

    def backward(G, *xs):
        f(*xs)
        grads = graph.backward(G)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return tuple(grads[i] for i in wrt) if len(wrt) > 1 else grads[wrt[0]]

    check_gradients(f, backward, [args[i] for i in wrt])


def unpool_sized(layer, size):
    """A MaxUnpool layer as a graph node of (x, indices) called with a fixed ``output_size``
    (as PyTorch's forward takes it); its backward gives (∂x, None)."""
    from cnnmath import nn

    class _Sized(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer, self.size = layer, size

        def forward_ctx(self, x, indices):
            return self.layer.forward_ctx(x, indices, self.size)

        def backward_ctx(self, ctx, grad_output):
            return self.layer.backward_ctx(ctx, grad_output)[:2]

    return _Sized()


def bindings(package, name):
    """The modules of a package split into modules (the package itself included; a plain
    module is its one module) that bind ``name``: a module reads a name another module owns
    through its own binding (``from ._blocks import _CHUNK_BYTES``), so a replacement takes
    effect only in the modules it is set in. All of them must bind the same object (one name,
    one meaning)."""
    modules = [package] + [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(getattr(package, "__path__", []))
    ]
    bound = [module for module in modules if name in vars(module)]
    assert bound, f"no module of {package.__name__} binds {name}"
    assert len({id(vars(module)[name]) for module in bound}) == 1, (
        f"{name} is bound to different objects in {package.__name__}"
    )
    return bound


def set_everywhere(monkeypatch, package, name, value):
    """``monkeypatch.setattr(module, name, value)`` in every module of ``package`` that binds
    ``name`` (`bindings`): the replacement is seen wherever the package looks the name up,
    as when the package was one module."""
    for module in bindings(package, name):
        monkeypatch.setattr(module, name, value)


def small_cnn_pair(seed=0):
    """The same small CNN in cnnmath and in PyTorch (float64, the same weights): conv,
    batch norm, ReLU, max pool, conv, ReLU, flatten, linear, for (B, 3, 8, 8) inputs."""
    import torch

    from cnnmath import nn

    tm = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 5),
    ).double()
    torch.manual_seed(seed)
    for p in tm.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ours = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64),
        nn.BatchNorm2d(4, dtype=np.float64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, dtype=np.float64),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(24, 5, dtype=np.float64),
    )
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return ours, tm
