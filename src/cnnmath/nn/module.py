"""Module, the base class of every layer, and state-dict errors."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array, cpu_device, flag
from ..ops._random import default_generator
from . import hooks as _hooks
from ._common import _float_dtype
from ._running import run_backward, run_forward
from .grad_mode import _NO_GRAD_CALL, grad_enabled
from .parameter import Parameter, UninitializedParameter


class StateDictError(KeyError, ValueError):
    """A state dict does not fit the module: a missing or unexpected key, or a value of the
    wrong shape or dtype. It is both a ``KeyError`` and a ``ValueError``; the message names
    the key and, for a mismatch, what the module expects and what was given."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class IncompatibleKeys(NamedTuple):
    """Keys ``load_state_dict(..., strict=False)`` skipped, as PyTorch returns them."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def key_mismatch(expected: Iterable[str], given: Iterable[str]) -> tuple[list[str], list[str], str]:
    """Compare a model's parameter names with a state_dict's: (missing, unexpected, words).

    ``missing`` are expected keys not given, ``unexpected`` given keys not expected (each in
    its own order); ``words`` describes both ("missing key(s) [...] and unexpected key(s)
    [...]", the first _LISTED of each and how many more: a whole other network's keys
    would make a message of kilobytes), or is "" when the sets are equal.
    """
    expected, given = list(expected), list(given)
    expected_set, given_set = set(expected), set(given)
    missing = [k for k in expected if k not in given_set]
    unexpected = [k for k in given if k not in expected_set]

    def listed(keys: list[str]) -> str:
        more = len(keys) - _LISTED
        return f"{keys[:_LISTED]}" + (f" and {more} more" if more > 0 else "")

    parts = [f"missing key(s) {listed(missing)}"] * bool(missing)
    parts += [f"unexpected key(s) {listed(unexpected)}"] * bool(unexpected)
    return missing, unexpected, " and ".join(parts)


_LISTED = 8  # keys a mismatch message lists of each kind


class Node(NamedTuple):
    """One step of a model's walk (:meth:`Module.walk`): the node's ``name`` (its path, as
    "layer1.0.conv1"; a module used twice gets "relu" and "relu_1"), the ``module`` that
    computes it (a leaf layer or op: never a container), the names of the values it reads
    (``inputs``, in argument order) and of the value it writes (``output``); a layer of
    several outputs (``MaxPool2d(return_indices=True)``: Y, then the indices) names the
    values after its first in ``extra_outputs`` (empty for a layer of one output)."""

    name: str
    module: Module
    inputs: tuple[str, ...]
    output: str
    extra_outputs: tuple[str, ...] = ()


class _HandWrittenCall:
    """The context of one call of a module with a hand-written ``forward``/``backward``: its
    state lives on the module, so only the module's latest call can be differentiated."""

    __slots__ = ("token",)

    def __init__(self, token: int) -> None:
        self.token = token


def _device_like(value: Any) -> bool:
    """Whether ``value`` names a device rather than a dtype: a str NumPy does not read as a
    dtype ("cuda", "mps:0"), or a torch.device."""
    if type(value).__name__ == "device":
        return True
    if isinstance(value, str):
        try:
            np.dtype(value)
        except TypeError:
            return True
    return False


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class: a differentiable map with parameters, buffers, generators and sub-modules.

    **The computation.** A layer implements the pair

        forward_ctx(*inputs) -> (y, ctx)        backward_ctx(ctx, G) -> ∂ℓ/∂input(s)

    where ``ctx`` is whatever the backward pass needs from *this call* (its input, a mask, …)
    and ``G = ∂ℓ/∂y`` has y's shape. ``backward_ctx`` returns the input's gradient (a tuple,
    one per input, for a module of several inputs) and *adds* each parameter's ∂ℓ/∂θ into
    ``parameter.grad``. Nothing of a call is kept on the layer, so one layer may be used at
    several places of a model and a shared parameter collects the sum of its uses' gradients
    — the chain rule's sum over paths (result 6). Containers (:class:`Sequential`,
    :class:`Graph`) compose these pairs.

    The user-facing ``model(x)`` (``forward``) runs ``forward_ctx`` and keeps the context of
    that one top-level call, which ``model.backward(G)`` then uses.

    **A hand-written module** may instead override ``forward(x)`` and ``backward(G)`` and keep
    its state on ``self``, as before: it still trains inside a Sequential or a Graph, but
    only its latest call can be differentiated (a second use before the backward is an
    error that says so), and tools that must see inside it (``walk``) see one opaque node;
    ``hand_written`` tells them.

    **State.** Attributes holding a :class:`Parameter` are the module's parameters and
    attributes holding a Module its children, in assignment order (names starting with "_"
    are private and skipped). Buffers (non-trainable arrays, e.g. BatchNorm's running
    statistics) and random generators are declared with :meth:`register_buffer` and
    :meth:`register_generator`. ``state_dict``, ``to``, ``load_state_dict`` and checkpoints
    walk exactly these declarations — nothing is found by naming convention.
    """

    training: bool = True
    #: Labels of the values a layer returns after its first, e.g. ("indices",) for
    #: ``MaxPool2d(return_indices=True)``, whose ``forward_ctx`` then returns a tuple
    #: (Y, I) and whose ``backward_ctx`` takes a tuple of gradients (None for I). A
    #: :class:`Graph` gives each its own value, "<node>_<label>"; empty: one output.
    extra_outputs: tuple[str, ...] = ()
    #: True for the containers (Sequential, Graph), whose backward passes run each child
    #: through `run_backward`; any other module's backward is run as one step, its frozen
    #: parameters' gradients shielded (`run_backward`).
    _routes_backward: bool = False

    def __init__(self) -> None:
        self.training = True
        self._buffers: dict[str, bool] = {}  # declared buffer name -> persistent
        self._generators: list[str] = []  # declared generator attribute names
        self._last_ctx: Any = None  # the context of the last top-level forward
        self._calls = 0  # calls of a hand-written forward (see _HandWrittenCall)

    # -- the computation -------------------------------------------------------------------
    @property
    def hand_written(self) -> bool:
        """True when the class overrides ``forward`` without defining ``forward_ctx``: its
        state is kept on the module and its inside is invisible to ``walk``."""
        cls = type(self)
        return cls.forward is not Module.forward and cls.forward_ctx is Module.forward_ctx

    def forward_ctx(self, *inputs: Any, **kwargs: Any) -> tuple[Any, Any]:
        """(y, ctx): the output and what ``backward_ctx`` needs from this call. Layers
        implement it; for a hand-written module it calls ``forward`` and remembers the call."""
        if not self.hand_written:
            raise NotImplementedError(f"{type(self).__name__}.forward_ctx is not implemented")
        calls = vars(self).get("_calls", 0) + 1
        self._calls = calls
        return self.forward(*inputs, **kwargs), _HandWrittenCall(calls)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """∂ℓ/∂input from ``ctx`` (one call's context) and G = ∂ℓ/∂y; adds each parameter's
        ∂ℓ/∂θ into its ``grad``. A tuple of gradients for a module of several inputs."""
        if not isinstance(ctx, _HandWrittenCall):
            raise NotImplementedError(f"{type(self).__name__}.backward_ctx is not implemented")
        if ctx.token != vars(self).get("_calls"):
            name = type(self).__name__
            raise RuntimeError(
                f"{name}.backward: this hand-written module keeps its state on itself and was "
                "called again before the backward pass of an earlier call; use a separate "
                f"{name} instance for each use, or implement forward_ctx/backward_ctx"
            )
        return self.backward(grad_output)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """y = f(x); keeps this call's context for ``backward``."""
        y, ctx = run_forward(self, *inputs, **kwargs)
        self._last_ctx = ctx if grad_enabled() else _NO_GRAD_CALL
        return y

    def backward(self, grad_output: Any, *, input_grad: bool = True) -> Any:
        """∂ℓ/∂x from G = ∂ℓ/∂y (y's shape; a tuple, one per output, for a Graph of several
        outputs) for the last ``forward``; adds each parameter's ∂ℓ/∂θ into its ``grad``
        (calling it twice adds twice).

        ``input_grad=False`` (a training step, which needs only the parameters' gradients,
        as PyTorch skips the gradient of an input that does not require it) returns None and
        lets the layers skip what only ∂ℓ/∂x needs (``backward_params_ctx``); the
        parameters' gradients are the same.
        """
        ctx = vars(self).get("_last_ctx")
        if ctx is None and self.hand_written:  # its forward kept nothing; no own backward
            name = type(self).__name__
            raise NotImplementedError(
                f"{name}.backward: {name} defines forward but not backward, and cnnmath has no "
                "autograd to derive one from arbitrary code: subclass nn.Graph instead and wire "
                "the layers with self.add(...) in __init__ (the backward follows from the "
                "wiring; docs/porting.md, 'A model class of your own'), or write "
                f"{name}.backward(G), which returns ∂ℓ/∂x and adds into each parameter's grad"
            )
        if ctx is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: called before forward; run forward(x) first "
                "so the layer has the input its gradient depends on"
            )
        if ctx is _NO_GRAD_CALL:
            raise RuntimeError(
                f"{type(self).__name__}.backward: the last forward ran under "
                "cnnmath.nn.no_grad(), which keeps nothing for a backward pass; run the "
                "forward outside it"
            )
        return run_backward(self, ctx, grad_output, input_grad=input_grad)

    def backward_params_ctx(self, ctx: Any, grad_output: np.ndarray) -> None:
        """``backward_ctx`` for a caller that needs no ∂ℓ/∂input: adds each parameter's
        ∂ℓ/∂θ into its ``grad`` and returns None. By default the whole ``backward_ctx``;
        a layer whose input gradient costs extra work (Conv2d) and the containers skip it."""
        self.backward_ctx(ctx, grad_output)

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        hooks = vars(self).get("_hooks")
        if hooks is None or not self.hand_written or not (hooks.forward_pre or hooks.forward):
            return self.forward(*inputs, **kwargs)
        # a hand-written forward does not pass through run_forward: its hooks run here
        args, new_kwargs, y, out, _ = _hooks.run_forward(
            hooks, self, lambda *a, **k: (self.forward(*a, **k), None), inputs, kwargs
        )
        if grad_enabled() and (
            _hooks.replaced(inputs, args)
            or _hooks.replaced_kwargs(kwargs, new_kwargs)
            or _hooks.replaced(y, out)
        ):
            raise RuntimeError(
                f"{type(self).__name__}: a forward hook (or pre-hook) replaced a value of this "
                "hand-written module, whose own backward would not see it; run it under "
                "nn.no_grad() (no backward follows), or put the module in a Sequential, "
                "whose backward refuses such a forward"
            )
        return out

    def _cached(self, *names: str) -> tuple[Any, ...]:
        """For hand-written modules: the values ``forward`` stored on self, or a RuntimeError
        when backward comes first."""
        values = tuple(getattr(self, name, None) for name in names)
        if any(v is None for v in values):
            raise RuntimeError(
                f"{type(self).__name__}.backward: called before forward; run forward(x) first "
                "so the layer has the input its gradient depends on"
            )
        return values

    def _check_grad_output(self, grad_output: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        func = f"{type(self).__name__}.backward"
        check_float_array("grad_output", grad_output, func=func)
        if grad_output.shape != shape or grad_output.dtype != dtype:
            raise ValueError(
                f"{func}: grad_output: expected the forward output's shape {shape} and dtype "
                f"{dtype}, got shape {grad_output.shape} and dtype {grad_output.dtype}"
            )

    def _check_input_dtype(self, x: Any, dtype: np.dtype) -> None:
        """x must be a float array of the layer's parameter dtype (no silent casts)."""
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        if x.dtype != dtype:
            raise TypeError(
                f"{func}: x: expected dtype {dtype} (the layer's parameters), got {x.dtype}; "
                f"convert x with x.astype(numpy.{dtype}) or the model with .to(numpy.{x.dtype})"
            )

    def _check_input_channels(self, x: np.ndarray, channels: int, attribute: str) -> None:
        """x (C, H, W) or (B, C, H, W), or (N, C, …) for a norm, must hold the layer's
        ``channels`` (its ``attribute``) on its channel axis; other ranks are left to the op.
        The op would otherwise blame the layer's own weight for the user's input."""
        axis = x.ndim - 3 if attribute.endswith("in_channels") else 1
        if x.ndim >= 2 and 0 <= axis and x.shape[axis] != channels:
            raise ValueError(
                f"{type(self).__name__}.forward: x: expected {channels} channels on axis {axis} "
                f"({attribute}={channels}), got shape {x.shape}"
            )

    # -- the walk ----------------------------------------------------------------------------
    def walk(self, inputs: Iterable[str] | None = None) -> Iterator[Node]:
        """The model node by node, in topological order, down to its leaf layers and ops.

        Containers (Sequential, Graph) are entered, so every yielded node's module is a leaf:
        a layer or an op (``Add``, ``Concat``), or a hand-written module (``hand_written``)
        whose inside cannot be seen. Values are named by the node that writes them; the
        model's inputs are named ``inputs`` (default: a Graph's input names, else ("x",)).
        A node's inputs are always written earlier in the walk (or are model inputs).

        >>> from cnnmath import nn
        >>> [n[:1] + n[2:4] for n in nn.Sequential(nn.Linear(2, 2), nn.ReLU()).walk()]
        [('0', ('x',), '0'), ('1', ('0',), '1')]
        """
        names = tuple(inputs) if inputs is not None else self.input_names
        yield from self._walk("", names, None)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of the model's inputs in ``walk``: ("x",) for a one-input module."""
        return ("x",)

    def _walk(self, name: str, inputs: tuple[str, ...], output: str | None) -> Iterator[Node]:
        """Nodes of this module called as node ``name`` on values ``inputs``, its result
        named ``output`` (None: named by the node). A leaf yields itself."""
        name = name or type(self).__name__.lower()
        out = output or name
        yield Node(name, self, tuple(inputs), out, tuple(f"{out}_{x}" for x in self.extra_outputs))

    # -- structure ---------------------------------------------------------------------------
    def _child_items(self) -> Iterator[tuple[str, Module]]:
        """(name, child module) for every public attribute holding a module, in assignment
        order: a module held under two names comes twice (``state_dict`` and ``repr`` list
        it under each, as PyTorch's do)."""
        for name, value in vars(self).items():
            if isinstance(value, Module) and not name.startswith("_"):
                yield name, value

    def __deepcopy__(self, memo: dict[int, Any]) -> Module:
        """A deep copy (attributes as ``__getstate__`` gives them), except that the package's
        default generator, which a layer made with ``rng=None`` draws from, stays shared: the
        copy's Dropout draws from it too and ``manual_seed`` reaches it, as a copied PyTorch
        model draws from the global generator (a copy of it would repeat the original's
        masks)."""
        shared = default_generator()
        memo.setdefault(id(shared), shared)
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        getstate = getattr(self, "__getstate__", None)  # object's since Python 3.11
        state = copy.deepcopy(getstate() if getstate is not None else dict(vars(self)), memo)
        setstate = getattr(new, "__setstate__", None)
        if setstate is not None:
            setstate(state)
        else:
            vars(new).update(state)
        return new

    def _child(self, name: str) -> Module | None:
        """The child named ``name`` (as ``_child_items`` names it), or None: one lookup,
        where a scan of ``_child_items`` would cost as many steps as there are children."""
        value = vars(self).get(name)
        return value if isinstance(value, Module) and not name.startswith("_") else None

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, child module) pairs in assignment order, each module once, under its first
        name (as PyTorch's)."""
        seen: set[int] = set()
        for name, child in self._child_items():
            if id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> list[Module]:
        """The direct sub-modules, in ``named_children`` order."""
        return [child for _, child in self.named_children()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(path, module) for this module ("" or ``prefix``) and every descendant, depth
        first; a module reachable along several paths is listed once, under its first path
        (as PyTorch's)."""
        seen: set[int] = set()

        def visit(module: Module, path: str) -> Iterator[tuple[str, Module]]:
            if id(module) in seen:
                return
            seen.add(id(module))
            yield path, module
            for name, child in module.named_children():
                yield from visit(child, _join(path, name))

        yield from visit(self, prefix)

    def modules(self) -> list[Module]:
        """This module and all its descendants, each once, in ``named_modules`` order."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(name, Parameter) pairs: own parameters first, then each child's under
        "childname." — "weight", "bias"; in a Sequential "0.weight", "0.bias", "3.weight".
        A Parameter shared by several modules is listed once, under its first name (as
        PyTorch's default)."""
        seen: set[int] = set()
        for name, p in self._walk_parameters(prefix + "." if prefix else ""):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter) and not name.startswith("_"):
                yield name, value

    def _walk_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in self._own_parameters():
            yield prefix + name, value
        for name, child in self.named_children():
            yield from child._walk_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        """All parameters, in ``named_parameters`` order."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """The number of scalar parameters, Σ size over ``parameters()``."""
        return sum(p.size for p in self.parameters())

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (False freezes the model or this part of
        it, PyTorch's idiom for fine-tuning); returns self.

        A frozen parameter's ``grad`` is left as it is by backward passes and optimisers do
        not update it. A layer whose parameters are all frozen and whose input needs no
        gradient — every layer before the first trainable one, when the model's input needs
        none (``backward(G, input_grad=False)``, as ``fit`` calls it) — is skipped by the
        backward pass: fine-tuning a head on a frozen backbone runs the head's backward only.
        A frozen layer whose input needs a gradient still computes its parameters' (into a
        scratch array: the layers compute them together), so there freezing saves no time.

        >>> from cnnmath import nn
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> [p.requires_grad for p in model.requires_grad_(False)[2].requires_grad_().parameters()]
        [True, True]
        >>> [p.requires_grad for p in model.parameters()]
        [False, False, True, True]
        """
        flag("requires_grad", requires_grad, func=f"{type(self).__name__}.requires_grad_")
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def trains(self) -> bool:
        """Whether any parameter of the module (its own or its children's) requires a
        gradient (``requires_grad_``)."""
        return any(p.requires_grad for _, p in self._walk_parameters(""))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's ``grad`` to zero (in place: a gradient here is always an
        array). With ``set_to_none`` (PyTorch's default) each then has no gradient, as
        PyTorch's grad of None: an optimiser's step skips a parameter no backward reached
        since (``Parameter.has_grad``); without, each has a zero gradient."""
        flag("set_to_none", set_to_none, func=f"{type(self).__name__}.zero_grad")
        for p in self.parameters():
            p.zero_grad(set_to_none)

    def apply(self, fn: Any) -> Module:
        """Call ``fn(module)`` on every child (each child's children first), then on self,
        as PyTorch's ``apply`` (the idiom for a custom initialisation); returns self.

        >>> from cnnmath import nn
        >>> seen = []
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> _ = model.apply(lambda m: seen.append(type(m).__name__))
        >>> seen
        ['Linear', 'ReLU', 'Sequential']
        """
        if not callable(fn):
            raise TypeError(
                f"{type(self).__name__}.apply: fn: expected a callable, got {type(fn).__name__}"
            )
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _check_slot(self, func: str, name: Any, kind: type) -> None:
        """``name`` may hold a ``kind`` (Module or Parameter) here: a non-empty str without
        '.' nor a leading '_' (private names are not walked), not a method or an attribute
        holding something else."""
        where = f"{type(self).__name__}.{func}"
        if not isinstance(name, str) or not name or "." in name or name.startswith("_"):
            raise ValueError(
                f"{where}: name: expected a non-empty str without '.' that does not start "
                f"with '_' (a state_dict name), got {name!r}"
            )
        held = vars(self).get(name)
        if hasattr(type(self), name) or (held is not None and not isinstance(held, kind)):
            raise KeyError(f"{where}: name: attribute {name!r} already exists")

    def _register(self, func: str, name: Any, argument: str, value: Any, kind: type) -> None:
        """``setattr(self, name, value)`` once `_check_slot` allows it and ``value`` is a
        ``kind`` (Module or Parameter) or None."""
        self._check_slot(func, name, kind)
        if value is not None and not isinstance(value, kind):
            raise TypeError(
                f"{type(self).__name__}.{func}: {argument}: expected a cnnmath.nn."
                f"{kind.__name__} or None, got {type(value).__name__}"
            )
        setattr(self, name, value)

    def add_module(self, name: str, module: Module | None) -> None:
        """``self.<name> = module`` with PyTorch's checks (``add_module``, the idiom of
        blocks built in a loop): a child under ``name`` (None: an empty slot); a child
        already there is replaced."""
        self._register("add_module", name, "module", module, Module)

    def register_module(self, name: str, module: Module | None) -> None:
        """``add_module`` (PyTorch's other name for it)."""
        self.add_module(name, module)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """``self.<name> = param`` with PyTorch's checks: a parameter under ``name`` (None:
        an empty slot, as a layer's ``bias=False``)."""
        self._register("register_parameter", name, "param", param, Parameter)

    def get_submodule(self, target: str) -> Module:
        """The module at the dotted path ``target`` ("layer1.0.conv1"; "" is self), as
        ``named_modules`` names it. AttributeError naming the first part that is missing."""
        func = f"{type(self).__name__}.get_submodule"
        if not isinstance(target, str):
            raise TypeError(f"{func}: target: expected a str, got {type(target).__name__}")
        module: Module = self
        path = ""
        for part in target.split(".") if target else []:
            child = dict(module.named_children()).get(part)
            if child is None:
                raise AttributeError(
                    f"{func}: target {target!r}: {type(module).__name__} "
                    f"{path or '(the model)'} has no submodule {part!r}; it has "
                    f"{[name for name, _ in module.named_children()]}"
                )
            module, path = child, _join(path, part)
        return module

    def _split_target(self, func: str, target: Any) -> tuple[Module, str]:
        """(the module holding it, the last name) of a dotted path to an attribute."""
        if not isinstance(target, str):
            raise TypeError(
                f"{type(self).__name__}.{func}: target: expected a str, got {type(target).__name__}"
            )
        module_path, _, name = target.rpartition(".")
        return self.get_submodule(module_path), name

    def get_parameter(self, target: str) -> Parameter:
        """The Parameter at the dotted path ``target`` ("layer1.0.conv1.weight")."""
        value: Parameter = self._held("get_parameter", "parameter", target)
        return value

    def get_buffer(self, target: str) -> np.ndarray:
        """The buffer at the dotted path ``target`` ("bn1.running_mean")."""
        value: np.ndarray = self._held("get_buffer", "buffer", target)
        return value

    def _held(self, func: str, kind: str, target: Any) -> Any:
        """What the module at ``target``'s path holds under its last name: one of its own
        parameters or buffers (``kind``); AttributeError naming those it has."""
        module, name = self._split_target(func, target)
        held = dict(module._own_parameters() if kind == "parameter" else module._own_buffers())
        if name not in held:
            raise AttributeError(
                f"{type(self).__name__}.{func}: target {target!r}: {type(module).__name__} "
                f"has no {kind} {name!r}; it has {list(held)}"
            )
        return held[name]

    # -- hooks ---------------------------------------------------------------------------------
    def _hook(
        self, kind: str, hook: Any, func: str, prepend: Any, **flags: Any
    ) -> _hooks.RemovableHandle:
        table = vars(self).get("_hooks")
        if table is None:
            table = self._hooks = _hooks.Hooks()
        return table.add(kind, hook, prepend=prepend, func=f"{type(self).__name__}.{func}", **flags)

    def register_forward_pre_hook(
        self, hook: Any, *, prepend: bool = False, with_kwargs: bool = False
    ) -> _hooks.RemovableHandle:
        """``hook(module, args)`` before each forward of this module; a value it returns
        replaces the inputs (`cnnmath.nn.hooks`: such a forward cannot be differentiated).
        With ``with_kwargs=True``: ``hook(module, args, kwargs)``, returning None or
        (args, kwargs). Returns a handle: ``handle.remove()``."""
        return self._hook(
            "forward_pre", hook, "register_forward_pre_hook", prepend, with_kwargs=with_kwargs
        )

    def register_forward_hook(
        self,
        hook: Any,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> _hooks.RemovableHandle:
        """``hook(module, args, output)`` after each forward of this module (what PyTorch's
        users record feature maps with); a value it returns replaces the output (such a
        forward cannot be differentiated: `cnnmath.nn.hooks`). ``with_kwargs=True``:
        ``hook(module, args, kwargs, output)``; ``always_call=True``: run also when the
        forward raises (given the output as far as it got, None if the forward failed)."""
        return self._hook(
            "forward",
            hook,
            "register_forward_hook",
            prepend,
            with_kwargs=with_kwargs,
            always_call=always_call,
        )

    def register_full_backward_pre_hook(
        self, hook: Any, prepend: bool = False
    ) -> _hooks.RemovableHandle:
        """``hook(module, grad_output)`` before this module's backward; a value it returns
        replaces ∂ℓ/∂outputs (a tuple, one per output)."""
        return self._hook("backward_pre", hook, "register_full_backward_pre_hook", prepend)

    def register_full_backward_hook(
        self, hook: Any, prepend: bool = False
    ) -> _hooks.RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once this module's backward has given
        ∂ℓ/∂inputs (Grad-CAM reads grad_output here); a value it returns replaces
        grad_input. Not called for a module the backward skips (``requires_grad_``)."""
        return self._hook("backward", hook, "register_full_backward_hook", prepend)

    # -- buffers and generators --------------------------------------------------------------
    def _check_new_name(self, kind: str, name: Any) -> None:
        func = f"{type(self).__name__}.register_{kind}"
        if not isinstance(name, str):
            raise TypeError(f"{func}: name: expected a str, got {type(name).__name__} {name!r}")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(
                f"{func}: name: expected an identifier without '.' that does not start with "
                f"'_', got {name!r}"
            )
        declared = name in vars(self).get(f"_{kind}s", ())
        value = vars(self).get(name)
        if not declared and (isinstance(value, (Parameter, Module)) or hasattr(type(self), name)):
            raise ValueError(f"{func}: name: {name!r} is already an attribute of the module")

    def register_buffer(
        self, name: str, tensor: np.ndarray | None, persistent: bool = True
    ) -> None:
        """Declare the attribute ``name`` a buffer holding ``tensor``: state that is not
        trained (BatchNorm's ``running_mean``). A persistent buffer is in ``state_dict`` under
        its PyTorch name ("bn1.running_mean"); ``to(dtype)`` converts floating buffers and
        leaves integer ones (``num_batches_tracked``, int64) as they are. ``tensor`` may be
        None (declared but absent: not in ``state_dict``). Reassigning ``self.name`` later
        replaces the buffer's array."""
        self._check_new_name("buffer", name)
        if tensor is not None and (
            not isinstance(tensor, np.ndarray)
            or not (np.issubdtype(tensor.dtype, np.number) or tensor.dtype == np.bool_)
        ):
            raise TypeError(
                f"{type(self).__name__}.register_buffer: tensor: expected a numeric "
                f"numpy.ndarray or None, got {type(tensor).__name__}"
            )
        if not isinstance(persistent, bool):
            raise TypeError(
                f"{type(self).__name__}.register_buffer: persistent: expected a bool, "
                f"got {persistent!r}"
            )
        if "_buffers" not in vars(self):
            self._buffers = {}
        setattr(self, name, tensor)
        self._buffers[name] = persistent

    def _own_buffers(self, *, persistent_only: bool = False) -> Iterator[tuple[str, np.ndarray]]:
        for name, persistent in vars(self).get("_buffers", {}).items():
            value = getattr(self, name)
            if value is not None and (persistent or not persistent_only):
                yield name, value

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) of every declared buffer: own first, then each child's under
        "childname." ("bn1.running_mean"); a shared array is listed once."""
        seen: set[int] = set()
        for path, module in self.named_modules(prefix):
            for name, value in module._own_buffers():
                if id(value) not in seen:
                    seen.add(id(value))
                    yield _join(path, name), value

    def buffers(self) -> list[np.ndarray]:
        """All buffers, in ``named_buffers`` order."""
        return [b for _, b in self.named_buffers()]

    def register_generator(self, name: str, generator: np.random.Generator) -> None:
        """Declare the attribute ``name`` a random generator of the module (Dropout's mask
        stream), so checkpoints can save and restore its state (``named_generators``)."""
        self._check_new_name("generator", name)
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"{type(self).__name__}.register_generator: generator: expected a "
                f"numpy.random.Generator, got {type(generator).__name__}"
            )
        if "_generators" not in vars(self):
            self._generators = []
        setattr(self, name, generator)
        if name not in self._generators:
            self._generators.append(name)

    def named_generators(self, prefix: str = "") -> Iterator[tuple[str, np.random.Generator]]:
        """(name, Generator) of every declared generator, own first, then each child's under
        "childname." ("3.rng"); a generator shared by several modules is listed once."""
        seen: set[int] = set()
        for path, module in self.named_modules(prefix):
            for name in vars(module).get("_generators", []):
                g = getattr(module, name)
                if id(g) not in seen:
                    seen.add(id(g))
                    yield _join(path, name), g

    # -- modes and dtype ---------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (``training = True``) for this module and all children; returns self.
        Dropout and BatchNorm behave differently between the two modes."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode: expected a bool, got {mode!r}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``training = False``); same as ``train(False)``."""
        return self.train(False)

    def cpu(self) -> Module:
        """Self, unchanged (PyTorch's ``cpu()``: cnnmath's arrays are NumPy's, in memory)."""
        return self

    def float(self) -> Module:
        """``to(numpy.float32)``, as PyTorch's ``float()``."""
        return self.to(np.float32)

    def double(self) -> Module:
        """``to(numpy.float64)``, as PyTorch's ``double()``."""
        return self.to(np.float64)

    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> Module:
        """Convert every parameter (data and grad) and every floating buffer to ``dtype``
        (float32 or float64; NumPy's, or PyTorch's torch.float32 / torch.float64), replacing
        the old arrays; integer buffers are kept. Returns self. The context kept by the last
        top-level forward is dropped.

        As PyTorch's ``to``, a device may come too, positionally or as ``device=``
        (``to("cpu")``, ``to(device, dtype)``): "cpu" (or a torch.device of type cpu) and
        None change nothing; any other device is refused: cnnmath computes with NumPy on the
        CPU."""
        func = f"{type(self).__name__}.to"
        dtypes = [] if dtype is None else [dtype]
        for value in (*args, device):
            if value is None or cpu_device(value):
                continue
            if _device_like(value):
                raise ValueError(
                    f"{func}: {value!r}: cnnmath computes with NumPy on the CPU; the one device "
                    "it takes is 'cpu' (a no-op); a dtype is numpy.float32 or numpy.float64"
                )
            dtypes.append(value)
        if not dtypes:
            return self
        if len(dtypes) > 1:
            raise TypeError(f"{func}: expected at most one dtype, got {dtypes}")
        dt = _float_dtype(dtypes[0], func=func)
        for module in self.modules():
            for _, p in module._own_parameters():
                p._astype(dt)  # (a lazy module's UninitializedParameter: its future dtype)
            for name, value in list(module._own_buffers()):
                if np.issubdtype(value.dtype, np.floating):
                    setattr(module, name, value.astype(dt))
            module._last_ctx = None
        return self

    def _descendants(self) -> list[Module]:
        return self.modules()[1:]

    # -- state dict --------------------------------------------------------------------------
    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Module, str, Any]]:
        """(key, owner, attribute, Parameter or array) in PyTorch's ``state_dict`` order: a
        module's parameters, then its persistent buffers, then each child's. A module used
        at several places appears under each of its names, as in PyTorch."""
        for name, p in self._own_parameters():
            yield prefix + name, self, name, p
        for name, value in self._own_buffers(persistent_only=True):
            yield prefix + name, self, name, value
        for name, child in self._child_items():
            yield from child._state_items(prefix + name + ".")

    def state_dict(self) -> dict[str, np.ndarray]:
        """{name: copy of the array}: parameters and persistent buffers, with PyTorch's names,
        shapes and dtypes ("0.weight"; "bn1.running_mean", "bn1.num_batches_tracked" int64).
        A lazy module not yet run has no arrays to give: refused, naming the entry (PyTorch
        gives its UninitializedParameters)."""
        out = {}
        for key, owner, _, value in self._state_items():
            if isinstance(value, UninitializedParameter):
                raise RuntimeError(
                    f"state_dict: {key!r} ({type(owner).__name__}) has no shape yet: run one "
                    "forward pass first (a lazy module infers its input size)"
                )
            out[key] = (value.data if isinstance(value, Parameter) else value).copy()
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy ``state_dict``'s arrays into the parameters and buffers (in place).

        Every value must have its entry's shape and dtype (no silent casts: convert with
        ``.astype``). With ``strict`` (default) the keys must be exactly ``state_dict()``'s;
        otherwise missing and unexpected keys are skipped and returned. Everything is checked
        before anything is copied, so a failed load leaves the module unchanged.

        A lazy module not yet called (``LazyConv2d``, …) takes its inferred size from the
        loaded shapes (a weight's input channels or features, a norm's C) and becomes its
        eager class first, as PyTorch's materialises its parameters from them; a failed load
        leaves it lazy.

        Raises StateDictError (a KeyError and a ValueError) naming the key, with the expected
        and the given shape or dtype.
        """
        func = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{func}: state_dict: expected a mapping of str to arrays, got "
                f"{type(state_dict).__name__}"
            )
        undo = []  # lazy modules materialised from the loaded shapes, undone if the load fails
        try:
            for path, module in self.named_modules():
                undo.append(module._materialize_from_state(state_dict, _join(path, ""), func))
            return self._load(state_dict, strict, func)
        except BaseException:
            for restore in reversed(undo):
                if restore is not None:
                    restore()
            raise

    def _materialize_from_state(
        self, state_dict: Mapping[str, Any], prefix: str, func: str
    ) -> Callable[[], None] | None:
        """A lazy module (`cnnmath.nn.lazy`) takes its size from the state_dict's entries
        under ``prefix`` and becomes its eager class, returning what undoes that; any other
        module returns None."""
        return None

    def _load(self, state_dict: Mapping[str, Any], strict: bool, func: str) -> IncompatibleKeys:
        own = {key: value for key, _, _, value in self._state_items()}
        missing, unexpected, mismatch = key_mismatch(own, state_dict)
        if strict and mismatch:
            raise StateDictError(
                f"{func}: state_dict: {mismatch}; expected exactly the module's {len(own)} keys, "
                f"got {len(state_dict)}"
            )
        values = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            want = target.data if isinstance(target, Parameter) else target
            if value.shape != want.shape:
                raise StateDictError(
                    f"{func}: state_dict[{key!r}]: expected shape {want.shape}, "
                    f"got shape {value.shape}"
                )
            if value.dtype != want.dtype:
                hint = ""
                if np.issubdtype(want.dtype, np.floating):
                    hint = (
                        f"; convert with .astype(numpy.{want.dtype}) or the model with "
                        f".to(numpy.{value.dtype})"
                    )
                raise StateDictError(
                    f"{func}: state_dict[{key!r}]: expected dtype {want.dtype}, got dtype "
                    f"{value.dtype} (shape {value.shape}){hint}"
                )
            values[key] = (want, value)
        for want, value in values.values():
            want[...] = value
        return IncompatibleKeys(missing, unexpected)

    # -- repr ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of ``repr`` (PyTorch's convention)."""
        return ""

    def __repr__(self) -> str:
        children = list(self._child_items())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _note(err: BaseException, text: str) -> None:
    """Add ``text`` below ``err``'s message in its traceback (Python 3.11's exception notes;
    nothing on 3.10): which layer of a container or node of a graph raised it."""
    add = getattr(err, "add_note", None)
    if add is not None:
        add(text)
