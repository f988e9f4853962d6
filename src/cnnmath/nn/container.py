"""Sequential: layers applied in order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._running import has_hooks, run_backward, run_forward
from .activation import FUSED, Identity, ReLU
from .grad_mode import grad_enabled
from .module import Module, Node, _note
from .pooling import MaxPool2d


class Sequential(Module):
    """Layers applied in order, the chain case of a graph: forward y = f_L(…f_2(f_1(x))),
    backward the chain rule in reverse, G_{l−1} = ∂ℓ/∂y_{l−1} = f_l's vector-Jacobian product
    with G_l (result 6's product of Jacobians, applied right to left). Children are named "0",
    "1", … as in PyTorch, so parameters are "0.weight", "0.bias", …

    A layer may appear more than once (each call keeps its own context, see
    :class:`Module`); its parameters then collect the gradients of every use, and
    ``state_dict`` lists them under each position, as PyTorch's does.

    Supports ``len``, iteration, indexing (an int gives a layer by position, a slice a
    Sequential sharing the layers and keeping their names, as PyTorch's: ``model[1:]`` of
    three layers holds "1" and "2", so its ``state_dict`` loads into torch's slice) and
    assigning a layer to an int index (the position keeps its name). Layers may be named
    instead, as PyTorch's ``Sequential(OrderedDict([("conv0", conv), …]))`` and
    ``add_module("conv0", conv)`` name them: "conv0.weight", ``model.conv0``.

    >>> from cnnmath import nn
    >>> nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU())
    Sequential(
      (0): Linear(in_features=4, out_features=3, bias=True)
      (1): ReLU()
    )
    """

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        super().__init__()
        self._layers: list[Module] = []
        self._names: list[str] = []  # "0", "1", … or given names; a slice keeps its layers'
        if len(layers) == 1 and isinstance(layers[0], Mapping):  # Sequential(OrderedDict(…))
            for name, named in layers[0].items():
                self.add_module(name, named)
            return
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                self._check_layer(i, layer)  # raises: a Mapping is taken only alone, above
                continue
            self.append(layer)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a layer at the end under ``name`` (``torch.nn.Sequential``'s
        ``add_module``, and ``Sequential(OrderedDict([(name, layer), …]))``): its parameters
        are "<name>.weight", … and ``model.<name>`` returns it, as in PyTorch (a layer, not
        None: a Sequential has no empty slots)."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(
                f"Sequential.add_module: name: expected a non-empty str without '.' (a "
                f"state_dict name), got {name!r}"
            )
        if name in self._names:  # as torch's: the layer of that name is replaced in place
            layer = self._checked_layer(self._names.index(name), module)
            self._layers[self._names.index(name)] = layer
            return
        if name in vars(self) or hasattr(type(self), name):
            raise ValueError(
                f"Sequential.add_module: name: {name!r} is already an attribute of the "
                "Sequential (a layer under it could not be reached as model.<name>)"
            )
        self._layers.append(self._checked_layer(len(self._layers), module))
        self._names.append(name)

    def __getattr__(self, name: str) -> Any:
        names = self.__dict__.get("_names", ())
        if name in names:  # a named layer, as torch's Sequential(OrderedDict(…)) exposes it
            return self.__dict__["_layers"][names.index(name)]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    if not TYPE_CHECKING:  # hidden from mypy, which would then let any attribute be assigned

        def __setattr__(self, name: str, value: Any) -> None:
            names = self.__dict__.get("_names", ())
            if name in names:  # ``model.features.conv0 = nn.Conv2d(1, 64, …)``: replaced
                if not isinstance(value, Module):
                    raise TypeError(
                        f"Sequential: {name}: expected a cnnmath.nn.Module to replace the "
                        f"layer, got {type(value).__name__} {value!r}"
                    )
                self.add_module(name, value)
                return
            if isinstance(value, Module) and "_names" in self.__dict__ and not name.startswith("_"):
                self.add_module(name, value)  # a new module attribute is a new last layer, as torch
                return
            super().__setattr__(name, value)

        def __delattr__(self, name: str) -> None:
            names = self.__dict__.get("_names", ())
            if name in names:  # ``del model.features.relu0``: the layer leaves, no renaming
                i = names.index(name)
                del self._layers[i], self._names[i]
                return
            super().__delattr__(name)

    def __delitem__(self, index: int) -> None:
        """Remove the layer at ``index``; the rest are renamed "0", "1", … by position, as
        torch's ``del seq[i]`` renames them (named layers included)."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential: index: expected an int, got {index!r}")
        n = len(self._layers)
        if not -n <= index < n:
            raise IndexError(f"Sequential: index: expected an int in [{-n}, {n}), got {index}")
        del self._layers[int(index) % n]
        self._names = [str(i) for i in range(n - 1)]

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        """("0", first layer), ("1", second layer), …: the layers in order, named by position
        (as ``torch.nn.Sequential``, and as the keys of ``state_dict``); a layer held at two
        positions comes under each."""
        yield from zip(self._names, self._layers)

    def _child(self, name: str) -> Module | None:
        """The layer named ``name``: by position where the names are the positions."""
        k = int(name) if name.isdigit() else -1
        if 0 <= k < len(self._names) and self._names[k] == name:
            return self._layers[k]
        return next((m for n, m in self._child_items() if n == name), None)

    def append(self, layer: Module) -> Sequential:
        """Add a layer at the end, named by its position (or, in a slice whose names are
        taken, the next free number); returns self. A layer may be added again (a shared
        layer), but not one that contains this Sequential (a cycle)."""
        self._check_layer(len(self._layers), layer)
        taken = set(self._names)
        name = len(self._layers)
        while str(name) in taken:
            name += 1
        self._layers.append(layer)
        self._names.append(str(name))
        return self

    def __setitem__(self, index: int, layer: Module) -> None:
        """Replace the layer at ``index`` (``model.classifier[1] = nn.Linear(1280, 10)``,
        PyTorch's fine-tuning idiom); forward, the parameters and the state dict follow."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential: index: expected an int, got {index!r}")
        n = len(self._layers)
        if not -n <= index < n:
            raise IndexError(f"Sequential: index: expected an int in [{-n}, {n}), got {index}")
        i = int(index) % n
        self._check_layer(i, layer)
        self._layers[i] = layer

    def _checked_layer(self, i: int, layer: Any) -> Module:
        """``layer``, once `_check_layer` has found it a layer position i may hold."""
        self._check_layer(i, layer)
        return layer

    def _check_layer(self, i: int, layer: Any) -> None:
        if not isinstance(layer, Module):
            raise TypeError(
                f"Sequential: layers[{i}]: expected a cnnmath.nn.Module, got "
                f"{type(layer).__name__} {layer!r}"
            )
        if any(m is self for m in layer.modules()):
            raise ValueError(
                f"Sequential: layers[{i}]: {type(layer).__name__} contains this Sequential; a "
                "model cannot contain itself"
            )

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            view = Sequential()
            view._layers = self._layers[index]  # shares the layers
            view._names = self._names[index]
            return view
        return self._layers[index]

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        """y = f_L(…f_1(x)): each layer's ``forward_ctx`` in order; the context is the list
        of the layers' contexts. A ReLU directly followed by a MaxPool2d runs as one step,
        the ReLU on the pooled output (``MaxPool2d.forward_relu_ctx``: the same numbers,
        a quarter of the ReLU's work)."""
        contexts: list[Any] = []
        layers = self._layers
        keep = grad_enabled()  # else each context goes as soon as its layer has run
        i = 0
        while i < len(layers):
            layer = layers[i]
            after = layers[i + 1] if i + 1 < len(layers) else None
            # one step, the ReLU on the pooled output (MaxPool2d.forward_relu_ctx)
            fused = (
                type(layer) is ReLU
                and type(after) is MaxPool2d
                and not after.return_indices
                and not (has_hooks(layer) or has_hooks(after))
            )
            try:
                x, ctx = after.forward_relu_ctx(x) if fused else run_forward(layer, x)  # type: ignore[union-attr]
            except (ValueError, TypeError) as err:  # which layer failed, in the traceback
                k = i + fused
                _note(
                    err, f"in layer {self._names[k]!r} ({type(layers[k]).__name__}) of a Sequential"
                )
                raise
            if not keep:
                ctx = None
            if fused:
                contexts += [FUSED, ctx]
                i += 2
                continue
            if isinstance(x, tuple):
                raise TypeError(
                    f"{type(self).__name__}.forward: layer {self._names[i]!r} returns "
                    f"{len(x)} outputs; a Sequential passes one array from layer to layer, so "
                    "such a layer is not a layer of a Sequential: a graph of several outputs "
                    "is a model's top level, and MaxPool2d(return_indices=True)'s indices for "
                    "a MaxUnpool2d need a Graph, where each output is a value "
                    "(y, indices = graph.add(pool, ...))"
                )
            contexts.append(ctx)
            i += 1
        return x, contexts

    _routes_backward = True

    def backward_ctx(self, ctx: list[Any], grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x from G = ∂ℓ/∂y: each layer's ``backward_ctx`` in reverse order; every layer
        adds its trainable parameters' gradients on the way (`run_backward`)."""
        grad = grad_output
        for layer, layer_ctx in zip(reversed(self._layers), reversed(ctx), strict=True):
            grad = run_backward(layer, layer_ctx, grad, input_grad=True)
        return grad

    def backward_params_ctx(self, ctx: list[Any], grad_output: np.ndarray) -> None:
        """``backward_ctx`` without ∂ℓ/∂x: the layers after the first trainable one
        (``requires_grad``) run whole, that one computes only its parameters' gradients
        (``Module.backward_params_ctx``) and the layers before it are skipped."""
        first = next((i for i, layer in enumerate(self._layers) if layer.trains()), None)
        if first is None:
            return
        grad = grad_output
        pairs = list(zip(self._layers, ctx, strict=True))
        for layer, layer_ctx in reversed(pairs[first + 1 :]):
            grad = run_backward(layer, layer_ctx, grad, input_grad=True)
        layer, layer_ctx = pairs[first]
        run_backward(layer, layer_ctx, grad, input_grad=False)

    def _walk(self, name: str, inputs: tuple[str, ...], output: str | None) -> Iterator[Node]:
        """Each layer's nodes in order, layer i named "<name>.<its name>" ("<name>.i" but in a
        slice) and reading layer i−1's value; the last layer's value is named ``output`` when
        given. An empty Sequential inside a model is one Identity node (the identity map it
        computes), so that the value it writes is written by a node."""
        if not self._layers and name:  # empty, inside a model: its value is its input's
            yield Node(name, Identity(), tuple(inputs), output or name)
            return
        values = inputs
        last = len(self._layers) - 1
        for i, (child, layer) in enumerate(zip(self._names, self._layers)):
            path = f"{name}.{child}" if name else child
            out = output if (i == last and output is not None) else path
            yield from layer._walk(path, values, out)
            values = (out,)
