"""Graph: modules wired as a directed acyclic graph, and its wiring ops ``Add`` and ``Concat``.

A model is a DAG of nodes. Node v computes ``y_v = f_v(y_{u_1}, …, y_{u_k})`` from the values
of its inputs; the forward pass visits nodes in topological order. For a scalar loss ℓ of
the output, the chain rule gives each value's gradient as a sum over the nodes that read it,

    ∂ℓ/∂y_u = Σ_{v reads u} (∂y_v/∂y_u)ᵀ ∂ℓ/∂y_v,

which, unrolled, is the sum over every path from u to the output of the product of the
Jacobians along the path (for several outputs y_1, …, y_m and a loss of all of them, the
outputs' own gradients G_k = ∂ℓ/∂y_k start the sum): result 6's chain rule (a product of
Jacobians along the one path of an MLP) generalised to a DAG. The backward pass visits
nodes in reverse topological order, so a value's gradient is complete — every reader has
added its term — before it is used. A parameter used by several nodes (a shared layer)
likewise collects the sum of its uses' terms in ``grad``. Backward passes stay
closed-form: the graph only routes and adds gradients between them; it is not a general
autodiff.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._checks import check_float_array, positive_int
from ._running import run_backward, run_forward
from .grad_mode import grad_enabled
from .module import Module, Node, _join, _note

__all__ = ["Add", "Concat", "Graph", "Mul", "Narrow"]


class Add(Module):
    """y = x_1 + x_2 + … + x_k (``torch.add`` / ``out += identity``): all inputs of one shape
    and dtype (no broadcasting). Backward: ∂ℓ/∂x_i = G for every i.

    An op of the graph's wiring (``functional``): a :class:`Graph` does not make it a child,
    so it is in neither ``repr`` nor ``state_dict`` — as torchvision writes the residual sum.

    >>> Add()(np.ones(2), np.ones(2))
    array([2., 2.])
    """

    functional = True

    def forward_ctx(self, *inputs: np.ndarray) -> tuple[np.ndarray, int]:
        """The sum of the inputs (at least two); the context is their number."""
        func = "Add.forward"
        if len(inputs) < 2:
            raise ValueError(f"{func}: inputs: expected at least 2 arrays, got {len(inputs)}")
        first = inputs[0]
        for i, x in enumerate(inputs):
            check_float_array(f"inputs[{i}]", x, func=func)
            if x.shape != first.shape or x.dtype != first.dtype:
                raise ValueError(
                    f"{func}: inputs[{i}]: expected inputs[0]'s shape {first.shape} and dtype "
                    f"{first.dtype}, got shape {x.shape} and dtype {x.dtype}"
                )
        y = first + inputs[1]
        for x in inputs[2:]:
            y += x
        return y, len(inputs)

    def backward_ctx(self, ctx: int, grad_output: np.ndarray) -> tuple[np.ndarray, ...]:
        """(G, G, …): the sum's Jacobian with respect to each input is the identity."""
        check_float_array("grad_output", grad_output, func="Add.backward")
        return (grad_output,) * ctx


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of an operand of ``shape`` that broadcasting stretched to g's shape: g
    summed over the axes broadcasting added or stretched (the adjoint of the stretch)."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)


class Mul(Module):
    """y = a ⊙ b, elementwise with NumPy's broadcasting (``scale * x``): a squeeze-and-
    excitation block's per-channel scale (B, C, 1, 1) times its input (B, C, H, W), or a
    gate times a signal. Both inputs float, of one dtype. Backward: ∂ℓ/∂a = G ⊙ b and
    ∂ℓ/∂b = G ⊙ a, each summed over the axes broadcasting stretched it along. A wiring op
    (``functional``), like :class:`Add`.

    >>> Mul()(np.full((1, 2, 1, 1), 0.5), np.ones((1, 2, 3, 3))).shape
    (1, 2, 3, 3)
    """

    functional = True

    def forward_ctx(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        """a ⊙ b; the context is (a, b)."""
        func = "Mul.forward"
        check_float_array("a", a, func=func)
        check_float_array("b", b, func=func)
        if a.dtype != b.dtype:
            raise TypeError(f"{func}: b: expected a's dtype {a.dtype}, got {b.dtype}")
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(
                f"{func}: b: expected a shape that broadcasts with a's {a.shape}, got {b.shape}"
            ) from None
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return np.multiply(a, b), (a, b, shape)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unbroadcast(G ⊙ b), unbroadcast(G ⊙ a))."""
        a, b, shape = ctx
        check_float_array("grad_output", grad_output, func="Mul.backward")
        if grad_output.shape != shape:
            raise ValueError(
                f"Mul.backward: grad_output: expected the output's shape {shape}, got "
                f"{grad_output.shape}"
            )
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return unbroadcast(grad_output * b, a.shape), unbroadcast(grad_output * a, b.shape)


class Narrow(Module):
    """y = x[…, start : start + length, …] along axis ``dim`` (``torch.narrow``; one piece of
    ``x.chunk(k, dim)``, as ShuffleNetV2 splits its channels in halves). Backward: G placed
    back at those indices, zeros elsewhere. A wiring op (``functional``), like :class:`Add`.

    >>> Narrow(1, 2, 3)(np.arange(6.0).reshape(1, 6))
    array([[2., 3., 4.]])
    """

    functional = True

    def __init__(self, dim: int, start: int, length: int) -> None:
        super().__init__()
        func = "Narrow"
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{func}: dim: expected an int, got {dim!r}")
        self.dim = int(dim)
        self.start = positive_int("start", start, func=func, minimum=0)
        self.length = positive_int("length", length, func=func, minimum=0)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """The slice; the context is x's shape and dtype."""
        func = "Narrow.forward"
        check_float_array("x", x, func=func)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(
                f"{func}: dim: expected an axis of x (shape {x.shape}), got {self.dim}"
            )
        axis = self.dim % x.ndim
        if self.start + self.length > x.shape[axis]:
            raise ValueError(
                f"{func}: x: expected at least start + length = {self.start + self.length} "
                f"entries along dim {self.dim}, got shape {x.shape}"
            )
        index = (slice(None),) * axis + (slice(self.start, self.start + self.length),)
        return x[index].copy(), (x.shape, x.dtype, index)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """Zeros of x's shape holding G at the slice."""
        shape, dtype, index = ctx
        check_float_array("grad_output", grad_output, func="Narrow.backward")
        grad = np.zeros(shape, dtype)
        if grad[index].shape != grad_output.shape:
            raise ValueError(
                f"Narrow.backward: grad_output: expected the output's shape {grad[index].shape},"
                f" got {grad_output.shape}"
            )
        grad[index] = grad_output
        return grad

    def extra_repr(self) -> str:
        """``dim=d, start=s, length=n``."""
        return f"dim={self.dim}, start={self.start}, length={self.length}"


class Concat(Module):
    """y = the inputs joined along axis ``dim`` (``torch.cat(inputs, dim)``; channels of a
    (B, C, H, W) batch by default). Backward: G split back along ``dim`` into pieces of the
    inputs' sizes. A wiring op (``functional``), like :class:`Add`.

    >>> Concat()(np.zeros((1, 2, 3, 3)), np.zeros((1, 5, 3, 3))).shape
    (1, 7, 3, 3)
    """

    functional = True

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"Concat: dim: expected an int, got {dim!r}")
        self.dim = int(dim)

    def forward_ctx(self, *inputs: np.ndarray) -> tuple[np.ndarray, tuple[int, list[int]]]:
        """The inputs concatenated along ``dim``; the context is (axis, the inputs' sizes)."""
        func = "Concat.forward"
        if not inputs:
            raise ValueError(f"{func}: inputs: expected at least 1 array, got none")
        first = inputs[0]
        check_float_array("inputs[0]", first, func=func)
        if not -first.ndim <= self.dim < first.ndim:
            raise ValueError(
                f"{func}: dim: expected an axis of inputs[0] (shape {first.shape}), got {self.dim}"
            )
        axis = self.dim % first.ndim
        others = first.shape[:axis] + first.shape[axis + 1 :]
        for i, x in enumerate(inputs):
            check_float_array(f"inputs[{i}]", x, func=func)
            if x.ndim != first.ndim or x.shape[:axis] + x.shape[axis + 1 :] != others:
                raise ValueError(
                    f"{func}: inputs[{i}]: expected inputs[0]'s shape {first.shape} except "
                    f"along dim {self.dim}, got shape {x.shape}"
                )
            if x.dtype != first.dtype:
                raise TypeError(f"{func}: inputs[{i}]: expected dtype {first.dtype}, got {x.dtype}")
        return np.concatenate(inputs, axis=axis), (axis, [x.shape[axis] for x in inputs])

    def backward_ctx(
        self, ctx: tuple[int, list[int]], grad_output: np.ndarray
    ) -> tuple[np.ndarray, ...] | np.ndarray:
        """G split along ``dim`` at the inputs' boundaries (one piece per input)."""
        axis, sizes = ctx
        check_float_array("grad_output", grad_output, func="Concat.backward")
        if grad_output.ndim <= axis or grad_output.shape[axis] != sum(sizes):
            raise ValueError(
                f"Concat.backward: grad_output: expected {sum(sizes)} entries along dim "
                f"{self.dim}, got shape {grad_output.shape}"
            )
        pieces = tuple(np.split(grad_output, np.cumsum(sizes)[:-1], axis=axis))
        return pieces if len(pieces) > 1 else pieces[0]

    def extra_repr(self) -> str:
        """``dim=d``."""
        return f"dim={self.dim}"


def _recount(index: dict[int, int], value: Any, step: int) -> None:
    """Add ``step`` to the count of ``value`` in a Graph's child index if it is a Module."""
    if isinstance(value, Module):
        key = id(value)
        count = index.get(key, 0) + step
        if count > 0:
            index[key] = count
        else:
            index.pop(key, None)


def _last_reads(nodes: Any, run: list[bool], outputs: tuple[str, ...]) -> dict[str, int]:
    """For each value a node run reads, the index of the last such node; the outputs are
    never let go (-1)."""
    last: dict[str, int] = {}
    for k, node in enumerate(nodes):
        if run[k]:
            last.update((v, k) for v in node.inputs)
    last.update((v, -1) for v in outputs)
    return last


class _GraphNode(NamedTuple):
    name: str
    module: Module
    inputs: tuple[str, ...]
    # the path of module in the graph: its attribute ("fc"), or a deeper descendant's dotted
    # path ("block.0", a member of a container the graph holds); None for a wiring op
    attr: str | None = None
    extra: tuple[str, ...] = ()  # the values of the module's outputs after its first
    seen: Module | None = None  # for a dotted path: the module found there when last read

    @property
    def values(self) -> tuple[str, ...]:
        """The names of the values the node writes: its own, then its extra outputs'."""
        return (self.name, *self.extra)

    def under(self, attr: str) -> bool:
        """Whether the node applies the module at the graph's attribute ``attr`` or inside it."""
        return self.attr is not None and (self.attr == attr or self.attr.startswith(attr + "."))


def _child_at(module: Module, path: str) -> Module | None:
    """The module at the dotted ``path`` below ``module`` (each part a name its
    ``_child_items`` gives, looked up by ``_child``); None where a part is missing."""
    for part in path.split("."):
        found = module._child(part)
        if found is None:
            return None
        module = found
    return module


def _default_name(path: str) -> str:
    """A node's name from a module's dotted path: "block.0" -> "block_0" (each run of
    characters that may not stand in an identifier becomes one "_")."""
    return re.sub(r"\W+", "_", path).strip("_")


class Graph(Module):
    """Modules wired as a DAG: each node applies a module (a layer, a container, or a wiring
    op such as :class:`Add`, :class:`Concat`, ``Identity``) to one or more named values.

    Build it with :meth:`add` — each call names a node, whose value later nodes read by that
    name — and :meth:`set_output`; nodes are added after their inputs, so the order of
    addition is a topological order. Forward runs the nodes in that order; backward runs
    them in reverse and *adds* the gradients of a value read by several nodes (see the
    module docstring: the chain rule's sum over paths, result 6 on a DAG).

    A graph may return several values (``set_output(a, b)``: a network with auxiliary heads,
    an ONNX file of several outputs) as a tuple, and its backward then takes one gradient per
    output. Forward runs only the nodes its outputs need, so a head that is not an output in
    the current mode costs nothing.

    A module added to a graph becomes its child under the node's name (so its parameters
    are "<name>.weight"), unless it already is a child — as in a subclass that assigns its
    layers in ``__init__`` with torchvision's names and then wires them — or a deeper
    descendant (a member of a ModuleList, ModuleDict or Sequential the graph holds:
    ``g.add(g.block[0], "x")``), or is a wiring op (``functional``). A child or descendant
    is not registered again: the node applies it by its path ("fc", "block.0"), so
    ``state_dict``, ``repr`` and ``weights.save`` list it once, under PyTorch's keys
    ("block.0.weight"), as a PyTorch model whose forward calls ``self.block[0](x)``. The
    same module may be used by several nodes: each call keeps its own context, and shared
    parameters collect every use's gradient.

    Assigning a new module to a child's attribute (``model.fc = nn.Linear(512, 10)``) makes
    the nodes that applied the old one apply the new one, as the same assignment does to a
    PyTorch model's forward; so does assigning one at a descendant's path
    (``model.block[0] = nn.Conv2d(…)``, ``model.heads["cls"] = …``, or a new
    ``model.block``), seen when the graph next runs or is walked: as PyTorch's forward, a
    node reads the module at its path then (after ``del model.block[0]``, "block.0" is the
    block that was "block.1"; a path that no longer exists is an error naming the node). An
    attribute that nodes read cannot be deleted, nor replaced by a module lacking the paths
    they read.

    >>> from cnnmath import nn
    >>> g = nn.Graph()
    >>> g.add(nn.Linear(3, 3, rng=0, dtype=np.float64), "x", name="fc")
    'fc'
    >>> g.add(nn.Add(), "fc", "x")
    'add'
    >>> g.set_output("add")
    >>> [(n.name, n.inputs, n.output) for n in g.walk()]
    [('fc', ('x',), 'fc'), ('add', ('fc', 'x'), 'add')]
    """

    def __init__(self, inputs: str | Iterable[str] = "x") -> None:
        super().__init__()
        names = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        if not names:
            raise ValueError("Graph: inputs: expected at least one input name, got none")
        for name in names:
            self._check_value_name("inputs", name, set())
        if len(set(names)) != len(names):
            raise ValueError(f"Graph: inputs: expected distinct names, got {names}")
        self._inputs: tuple[str, ...] = names
        self._nodes: list[_GraphNode] = []
        self._value_names: set[str] = set(names)  # inputs and nodes, kept by add
        self._outputs: tuple[str, ...] = ()

    # -- the children, counted as they are assigned --------------------------------------------
    # ``add`` must tell whether a module is already a child. Scanning the attributes for it
    # costs a pass over every node's child per add (quadratic in the nodes); instead the
    # graph counts, per module id, the public attributes holding that module, kept by
    # __setattr__ / __delattr__ and built from the attributes when absent. A copy (copy,
    # deepcopy, pickle) does not carry the counts (``__getstate__``): it rebuilds its own.

    def _child_index(self) -> dict[int, int]:
        """id(module) -> how many public attributes of the graph hold that module."""
        index = vars(self).get("_children_by_id")
        if index is None:
            index = {}
            for _, child in self._child_items():
                index[id(child)] = index.get(id(child), 0) + 1
            self._children_by_id = index
        return index

    if not TYPE_CHECKING:  # hidden from mypy, which would then let any attribute be assigned

        def __setattr__(self, name: str, value: Any) -> None:
            if name.startswith("_"):
                super().__setattr__(name, value)
                return
            self._rewire(name, value)
            index = vars(self).get("_children_by_id")
            old = vars(self).get(name)
            super().__setattr__(name, value)
            if index is not None:
                _recount(index, old, -1)
                _recount(index, vars(self).get(name), 1)

        def __delattr__(self, name: str) -> None:
            readers = [] if name.startswith("_") else self._readers_of(name)
            if readers:
                inside = any(n.attr != name for n in self._nodes if n.name in readers)
                raise AttributeError(
                    f"{type(self).__name__}: {name}: node(s) {readers} apply "
                    + (
                        "modules inside this attribute's module; it cannot be deleted (put "
                        "nn.Identity() at their paths to bypass them)"
                        if inside
                        else "this module; it cannot be deleted (assign nn.Identity() to bypass it)"
                    )
                )
            index = None if name.startswith("_") else vars(self).get("_children_by_id")
            old = vars(self).get(name)
            super().__delattr__(name)
            if index is not None:
                _recount(index, old, -1)

    def _readers_of(self, attr: str) -> list[str]:
        """The names of the nodes that apply the module held by the attribute ``attr``, or
        one inside it (a node of ``self.block[0]`` reads "block")."""
        return [n.name for n in vars(self).get("_nodes", ()) if n.under(attr)]

    def _rewire(self, attr: str, value: Any) -> None:
        """Make the nodes that apply ``self.<attr>`` (or a module inside it, by its path)
        apply ``value`` (the module at the same path in ``value``) instead, so that
        replacing a child (``model.fc = nn.Linear(512, 10)``, PyTorch's fine-tuning idiom)
        changes what forward runs, as it changes the parameters and the state dict. Refused,
        changing nothing, where ``value`` is not a module or lacks a path a node reads."""
        readers = self._readers_of(attr)
        if not readers:
            return
        where = f"{type(self).__name__}: {attr}"
        if not isinstance(value, Module):
            raise TypeError(
                f"{where}: node(s) {readers} apply this attribute's module; expected a "
                f"cnnmath.nn.Module to replace it, got {type(value).__name__}"
            )
        if any(m is self for m in value.modules()):
            raise ValueError(
                f"{where}: the module contains this graph; a model cannot contain itself"
            )
        nodes = []
        for n in self._nodes:
            if n.attr == attr:
                n = n._replace(module=value)
            elif n.under(attr):
                inner = (n.attr or "")[len(attr) + 1 :]
                found = _child_at(value, inner)
                if found is None:
                    raise ValueError(
                        f"{where}: node {n.name!r} applies {n.attr!r}; expected a module "
                        f"holding {inner!r} to replace it, got a {type(value).__name__} that "
                        "has none"
                    )
                n = n._replace(module=found, seen=found)
            nodes.append(n)
        self._nodes = nodes

    def _sync(self) -> list[_GraphNode]:
        """The nodes, each applying the module now at its dotted path (a descendant's, "block.0")
        where a module other than the one last read there has been put there
        (``model.block[0] = nn.Conv2d(…)``), as PyTorch's forward reads ``self.block[0]``
        when it runs. A node whose module was swapped while the path still holds the one
        last read (``fold_batch_norm`` replacing a BatchNorm by an Identity) keeps its own."""
        nodes = self._nodes
        synced, changed = list(nodes), False
        for k, n in enumerate(nodes):
            if n.attr is None or "." not in n.attr:
                continue
            found = _child_at(self, n.attr)
            if found is None:
                raise AttributeError(
                    f"{type(self).__name__}: node {n.name!r} applies the module at {n.attr!r}, "
                    "which the model no longer has (a container shortened or emptied); put a "
                    "module back at that path"
                )
            if found is not n.seen:
                if any(m is self for m in found.modules()):
                    raise ValueError(
                        f"{type(self).__name__}: node {n.name!r}: the module at {n.attr!r} "
                        "contains this graph; a model cannot contain itself"
                    )
                synced[k], changed = n._replace(module=found, seen=found), True
        if changed:
            self._nodes = synced
        return self._nodes

    def __getstate__(self) -> dict[str, Any]:
        """The attributes, without the child counts (ids are this object's, not a copy's)."""
        return {k: v for k, v in vars(self).items() if k != "_children_by_id"}

    @staticmethod
    def _check_value_name(arg: str, name: Any, taken: set[str]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Graph: {arg}: expected a str, got {type(name).__name__} {name!r}")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(
                f"Graph: {arg}: expected an identifier without '.' not starting with '_', "
                f"got {name!r}"
            )
        if name in taken:
            raise ValueError(f"Graph: {arg}: the name {name!r} is already used in this graph")

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of the graph's inputs, in call order."""
        return self._inputs

    @property
    def nodes(self) -> list[Node]:
        """This graph's own nodes (not recursing into containers), in topological order."""
        return [Node(n.name, n.module, n.inputs, n.name, n.extra) for n in self._sync()]

    @property
    def output(self) -> str | None:
        """The name of the value the graph returns (set with :meth:`set_output`); None
        before it is set. A graph of several outputs names them in :attr:`outputs`."""
        outputs = self.outputs
        if len(outputs) > 1:
            raise ValueError(
                f"{type(self).__name__}.output: the graph has {len(outputs)} outputs "
                f"{outputs}; read graph.outputs"
            )
        return outputs[0] if outputs else None

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of the values the graph returns, in return order (set with
        :meth:`set_output`; empty before). Those it returns in its current mode:
        a model whose extra outputs serve training only (GoogLeNet's auxiliary
        classifiers) returns fewer in evaluation mode (:meth:`_active_outputs`)."""
        return self._active_outputs()

    def _active_outputs(self) -> tuple[str, ...]:
        """The outputs this call returns: all of them; a subclass may return fewer in some
        mode (GoogLeNet's auxiliary heads, in training only)."""
        return self._outputs

    def _values(self) -> set[str]:
        """The names of the graph's values (inputs and nodes), kept by ``add``; rebuilt
        when the nodes were replaced from outside (the names are distinct: a count tells)."""
        known: set[str] | None = vars(self).get("_value_names")
        count = len(self._inputs) + sum(1 + len(n.extra) for n in self._nodes)
        if known is None or len(known) != count:
            known = set(self._inputs) | {v for n in self._nodes for v in n.values}
            self._value_names = known
        return known

    def add(self, module: Module, *inputs: str, name: str | None = None) -> Any:
        """Add a node computing ``module(*values named inputs)``; returns its name.

        ``inputs`` name graph inputs or earlier nodes' values. ``name`` defaults to the
        module's child name if it is a child of this graph ("fc"); to its path with "_" for
        "." if it is a deeper descendant (``g.add(g.block[0], "x")`` is "block_0",
        ``g.add(g.heads["cls"], …)`` "heads_cls": a value name has no "."); else to its class
        name in lower case ("add"). "_1", "_2", … is appended for a repeated use ("relu",
        "relu_1"). A child or descendant is applied by its path and not registered again
        (the class docstring), so ``state_dict`` keeps PyTorch's keys; any other module
        that is not a wiring op becomes the child named ``name``.

        A layer of several outputs (``MaxPool2d(return_indices=True)``, whose ``extra_outputs``
        label the values after its first) writes one value per output, as PyTorch's
        ``y, indices = pool(x)`` unpacks them: its first is named by the node, the others
        "<name>_<label>" ("pool_indices"; a default name moves on to one whose values are all
        free), and ``add`` returns the tuple of these names, so
        ``y, indices = g.add(nn.MaxPool2d(2, return_indices=True), "conv1", name="pool")``
        reads as the PyTorch line. An integer value (the indices) takes no gradient: its
        readers return None for it (``MaxUnpool2d``).
        """
        return self._add(module, inputs, name, deep=True)

    def _add_made(self, module: Module, *inputs: str, name: str) -> Any:
        """``add`` for a module the caller has just made (the ONNX loader's), so never a
        descendant of the graph: its children are searched, not its descendants (a search
        linear in the model's size per node, quadratic in all)."""
        return self._add(module, inputs, name, deep=False)

    def _path_of(self, module: Module, *, deep: bool) -> str | None:
        """The module's first name among the graph's children, else (``deep``) its first
        dotted path among its descendants ("block.0", as ``named_modules``); None if neither."""
        if id(module) in self._child_index():  # a child: the scan finds its first name
            return next((n for n, c in self.named_children() if c is module), None)
        if deep:
            return next((p for p, m in self.named_modules() if m is module and p), None)
        return None

    def _add(self, module: Module, inputs: tuple[str, ...], name: str | None, *, deep: bool) -> Any:
        """``add``; with ``deep``, a descendant deeper than a child is found too."""
        if not isinstance(module, Module):
            raise TypeError(
                f"Graph.add: module: expected a cnnmath.nn.Module, got {type(module).__name__}"
            )
        if any(m is self for m in module.modules()):
            raise ValueError(
                "Graph.add: module: contains this graph; a model cannot contain itself"
            )
        values = self._values()
        if not inputs:
            raise ValueError("Graph.add: inputs: expected at least one value name, got none")
        for value in inputs:
            if not isinstance(value, str) or value not in values:
                raise ValueError(
                    f"Graph.add: inputs: {value!r} is not a value of this graph; expected one "
                    f"of {sorted(values)} (add a node before the nodes that read it)"
                )
        path = self._path_of(module, deep=deep)
        register = path is None and not getattr(module, "functional", False)

        def clashes(candidate: str) -> bool:  # would shadow an attribute of the graph
            return register and hasattr(self, candidate)

        def taken(candidate: str) -> bool:  # the name, or one of its extra outputs' names
            extra = (f"{candidate}_{label}" for label in module.extra_outputs)
            return candidate in values or clashes(candidate) or any(v in values for v in extra)

        if name is None:
            base = (path and _default_name(path)) or type(module).__name__.lower()
            name, k = base, 0
            while taken(name):
                k += 1
                name = f"{base}_{k}"
        else:
            self._check_value_name("name", name, values)
            if clashes(name):
                raise ValueError(f"Graph.add: name: {name!r} is already an attribute of the graph")
        extra = tuple(f"{name}_{label}" for label in module.extra_outputs)
        for value in extra:
            self._check_value_name("name", value, values | {name})
        if register:
            setattr(self, name, module)
        attr = name if register else path
        seen = module if attr is not None and "." in attr else None
        self._nodes.append(_GraphNode(name, module, tuple(inputs), attr, extra, seen))
        values.update((name, *extra))
        return (name, *extra) if extra else name

    def set_output(self, *values: str) -> None:
        """Make the values named ``values`` (nodes or inputs, distinct) the graph's outputs.

        One name: ``forward`` returns that array and ``backward`` takes its gradient G.
        Several (a network with auxiliary heads, an ONNX graph of several outputs):
        ``forward`` returns a tuple of arrays in this order, and ``backward`` takes a tuple
        of their gradients (G_1, …, G_m), None for an output the loss does not read; an
        output that later nodes also read adds its G to theirs, as any value read twice.
        Such a graph is a model's top level: it cannot be a node of another model.
        """
        if not values:
            raise ValueError("Graph.set_output: values: expected at least one value name, got none")
        known = self._values()
        for value in values:
            if not isinstance(value, str) or value not in known:
                raise ValueError(
                    f"Graph.set_output: values: expected names among {sorted(known)}, got {value!r}"
                )
        if len(set(values)) != len(values):
            raise ValueError(f"Graph.set_output: values: expected distinct names, got {values}")
        self._outputs = tuple(values)

    def _require_outputs(self) -> tuple[str, ...]:
        outputs = self._active_outputs()
        if not outputs:
            raise RuntimeError(
                f"{type(self).__name__}: the graph has no output; call set_output(name) after "
                "adding its nodes"
            )
        return outputs

    def _schedule(self) -> tuple[tuple[str, ...], list[bool]]:
        """The outputs of this call, and for each node whether they need it: a node whose
        value reaches no output (an auxiliary head in evaluation mode) is not run. Each node
        applies the module now at its path (``_sync``)."""
        outputs = self._require_outputs()
        self._sync()
        needed = set(outputs)
        run = [False] * len(self._nodes)
        for k in range(len(self._nodes) - 1, -1, -1):
            node = self._nodes[k]
            if not needed.isdisjoint(node.values):
                run[k] = True
                needed.update(node.inputs)
        return outputs, run

    def fix_input_sizes(self, sizes: dict[str, tuple[int | None, ...]], why: str) -> None:
        """Hold the inputs named in ``sizes`` to those shapes (an int an axis's size, None any
        size): ``forward`` refuses an input of another rank or size, naming the input, the
        axis and ``why`` (the graph's computation assumes these sizes: an ONNX file whose
        sizes were computed at load time). ``{}`` lifts every hold."""
        for name, dims in sizes.items():
            if name not in self._inputs:
                raise ValueError(
                    f"Graph.fix_input_sizes: sizes: {name!r} is not an input of the graph "
                    f"{self._inputs}"
                )
            if not isinstance(dims, tuple) or not all(
                d is None or (isinstance(d, int) and d >= 0) for d in dims
            ):
                raise TypeError(
                    f"Graph.fix_input_sizes: sizes[{name!r}]: expected a tuple of sizes "
                    f"(int >= 0, or None for any), got {dims!r}"
                )
        self._fixed_sizes = (dict(sizes), str(why)) if sizes else None

    @property
    def fixed_input_sizes(self) -> dict[str, tuple[int | None, ...]]:
        """The shapes ``fix_input_sizes`` holds the inputs to (None: any size on that axis);
        {} when they may take any shape."""
        held = vars(self).get("_fixed_sizes")
        return dict(held[0]) if held is not None else {}

    def _check_fixed_sizes(self, inputs: tuple[Any, ...]) -> None:
        held = vars(self).get("_fixed_sizes")
        if held is None:
            return
        sizes, why = held
        for name, x in zip(self._inputs, inputs, strict=True):
            dims = sizes.get(name)
            shape = np.shape(x)
            if dims is None:
                continue
            wrong = len(shape) != len(dims) or any(
                d is not None and n != d for n, d in zip(shape, dims)
            )
            if wrong:
                want = "(" + ", ".join("any" if d is None else str(d) for d in dims) + ")"
                raise ValueError(
                    f"{type(self).__name__}.forward: input {name!r}: expected shape {want}, got "
                    f"{tuple(shape)}: {why}"
                )

    def forward_ctx(self, *inputs: np.ndarray) -> tuple[Any, Any]:
        """The output value (a tuple of them for several outputs) after running, in
        topological order, every node the outputs need; the context is each node's context
        (None for a node not run) and the inputs' and outputs' shapes and dtypes."""
        outputs, run = self._schedule()
        if len(inputs) != len(self._inputs):
            raise TypeError(
                f"{type(self).__name__}.forward: expected {len(self._inputs)} input(s) "
                f"{self._inputs}, got {len(inputs)}"
            )
        self._check_fixed_sizes(inputs)
        env = dict(zip(self._inputs, inputs, strict=True))
        contexts: list[Any] = [None] * len(self._nodes)
        keep = grad_enabled()  # else no context is kept and each value goes after its last read
        last_read = {} if keep else _last_reads(self._nodes, run, outputs)
        for k, node in enumerate(self._nodes):
            if not run[k]:
                continue
            try:
                y, node_ctx = run_forward(node.module, *(env[v] for v in node.inputs))
            except (ValueError, TypeError) as err:  # which node failed, in the traceback
                _note(err, f"in node {node.name!r} ({type(node.module).__name__}) of a Graph")
                raise
            if keep:
                contexts[k] = node_ctx
            else:
                node_ctx = None
                for v in node.inputs:
                    if last_read.get(v) == k:
                        env.pop(v, None)
            if isinstance(y, tuple) and isinstance(node.module, Graph):
                raise TypeError(
                    f"{type(self).__name__}.forward: node {node.name!r}: its graph returns "
                    f"{len(y)} outputs; a graph of several outputs cannot be a node of "
                    "another model"
                )
            if node.extra:  # a layer of several outputs: one value each
                if not isinstance(y, tuple) or len(y) != 1 + len(node.extra):
                    raise TypeError(
                        f"{type(self).__name__}.forward: node {node.name!r}: expected "
                        f"{1 + len(node.extra)} outputs {node.values} from "
                        f"{type(node.module).__name__}, got {type(y).__name__}"
                    )
                env.update(zip(node.values, y))
                continue
            env[node.name] = y
        shapes = [(np.shape(x), np.asarray(x).dtype) for x in inputs]
        ys = tuple(env[v] for v in outputs)
        meta = [(np.shape(y), np.asarray(y).dtype) for y in ys]
        return (ys[0] if len(ys) == 1 else ys), (contexts, shapes, outputs, meta)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> Any:
        """∂ℓ/∂inputs from G = ∂ℓ/∂output (a tuple of the outputs' gradients, None for an
        output the loss does not read, for several outputs): nodes in reverse order, each
        value's gradient the sum of its readers' terms (the chain rule's sum over paths).
        One array for a one-input graph, else a tuple; an input the outputs do not depend on
        gets zeros."""
        contexts, shapes = ctx[:2]
        grads = self._backward(ctx, grad_output, inputs_grad=True)
        out = tuple(
            grads[v] if v in grads else np.zeros(shape, dtype)
            for v, (shape, dtype) in zip(self._inputs, shapes, strict=True)
        )
        return out[0] if len(out) == 1 else out

    def backward_params_ctx(self, ctx: Any, grad_output: Any) -> None:
        """``backward_ctx`` without ∂ℓ/∂inputs: a node that reads only the graph's inputs
        computes only its parameters' gradients (``Module.backward_params_ctx``; a ResNet's
        stem convolution then skips its input gradient, as PyTorch does for a batch)."""
        self._backward(ctx, grad_output, inputs_grad=False)

    def _output_grads(self, ctx: Any, grad_output: Any) -> dict[str, np.ndarray]:
        """The outputs' gradients by value name, checked against the outputs of the call
        ``ctx`` (a tuple of as many, None where the loss does not read the output)."""
        _, _, outputs, meta = ctx
        if len(outputs) == 1:
            return {outputs[0]: grad_output}
        func = f"{type(self).__name__}.backward"
        if not isinstance(grad_output, (tuple, list)) or len(grad_output) != len(outputs):
            given = (
                f"{len(grad_output)} values"
                if isinstance(grad_output, (tuple, list))
                else type(grad_output).__name__
            )
            raise TypeError(
                f"{func}: grad_output: expected a tuple of {len(outputs)} gradients, one per "
                f"output {outputs} (None for an output the loss does not read), got {given}"
            )
        grads: dict[str, np.ndarray] = {}
        for i, (value, g, (shape, dtype)) in enumerate(zip(outputs, grad_output, meta)):
            if g is None:
                continue
            if not np.issubdtype(dtype, np.floating):
                raise TypeError(
                    f"{func}: grad_output[{i}]: output {value!r} holds {dtype} values, which "
                    "have no gradient; expected None in its place"
                )
            check_float_array(f"grad_output[{i}]", g, func=func)
            if g.shape != shape or g.dtype != dtype:
                raise ValueError(
                    f"{func}: grad_output[{i}]: expected output {value!r}'s shape {shape} and "
                    f"dtype {dtype}, got shape {g.shape} and dtype {g.dtype}"
                )
            grads[value] = g
        return grads

    _routes_backward = True

    def _backward(self, ctx: Any, grad_output: Any, *, inputs_grad: bool) -> dict[str, np.ndarray]:
        """The nodes' backward passes in reverse order; returns the gradients of the values
        left, the inputs' among them when ``inputs_grad``.

        As PyTorch's autograd, a value needs a gradient when it is an input and
        ``inputs_grad``, or a node that trains (``requires_grad``) or reads such a value
        wrote it: a node whose value needs none is skipped, and a node that reads none
        computes only its parameters' gradients (a ResNet's stem on a batch of images)."""
        contexts = ctx[0]
        grads = self._output_grads(ctx, grad_output)
        tracked = set(self._inputs) if inputs_grad else set()
        for node in self._nodes:
            if not tracked.isdisjoint(node.inputs) or node.module.trains():
                tracked.update(node.values)
        for node, node_ctx in zip(reversed(self._nodes), reversed(contexts), strict=True):
            g: Any = grads.pop(node.name, None)
            if node.extra:  # (G_1, G_2, …): None for an output no loss term reads
                g = (g, *(grads.pop(v, None) for v in node.extra))
                if all(t is None for t in g):
                    continue
            elif g is None:  # the output does not depend on this node
                continue
            if node.name not in tracked:  # frozen, and nothing before it trains
                continue
            if tracked.isdisjoint(node.inputs):
                run_backward(node.module, node_ctx, g, input_grad=False)
                continue
            result = run_backward(node.module, node_ctx, g, input_grad=True)
            terms = (result,) if len(node.inputs) == 1 else tuple(result)
            for value, term in zip(node.inputs, terms, strict=True):
                if term is None or value not in tracked:
                    continue  # None: an integer input (indices), which takes no gradient
                # a new array, never +=: a term may alias G or another node's gradient
                grads[value] = grads[value] + term if value in grads else term
        return grads

    def _walk(self, name: str, inputs: tuple[str, ...], output: str | None) -> Iterator[Node]:
        """Each node's nodes in topological order, node v named "<name>.v", but those no
        output needs (as forward); the graph's inputs are the given values and its output
        value is named ``output`` when given (a node of another model: one output)."""
        outputs, run = self._schedule()
        if output is not None and len(outputs) > 1:
            raise ValueError(
                f"{type(self).__name__}.walk: the graph has {len(outputs)} outputs {outputs}; "
                "a graph of several outputs is a model's top level, not a node of another model"
            )
        result = outputs[0]
        if len(inputs) != len(self._inputs):
            raise ValueError(
                f"{type(self).__name__}.walk: inputs: expected {len(self._inputs)} name(s), "
                f"got {inputs}"
            )
        env = dict(zip(self._inputs, inputs, strict=True))
        for node, needed in zip(self._nodes, run, strict=True):
            if not needed:
                continue
            path = _join(name, node.name)
            outs = [
                output if (v == result and output is not None) else _join(name, v)
                for v in node.values
            ]
            reads = tuple(env[v] for v in node.inputs)
            if node.extra:  # a layer (never a container) of several outputs
                yield Node(path, node.module, reads, outs[0], tuple(outs[1:]))
            else:
                yield from node.module._walk(path, reads, outs[0])
            env.update(zip(node.values, outs))
