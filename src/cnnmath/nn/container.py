"""Sequential: layers applied in order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .module import Module


class Sequential(Module):
    """Layers applied in order: forward y = f_L(…f_2(f_1(x))), backward the chain rule in
    reverse, G_{l−1} = f_l.backward(G_l). Children are named "0", "1", … as in PyTorch, so
    parameters are "0.weight", "0.bias", …

    Supports ``len``, iteration and indexing (an int gives a layer, a slice a Sequential
    sharing the layers).
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        self._layers: list[Module] = []
        for layer in layers:
            self.append(layer)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """("0", first layer), ("1", second layer), …: the layers in order, named by position
        (as ``torch.nn.Sequential``, and as the keys of ``state_dict``)."""
        for i, layer in enumerate(self._layers):
            yield str(i), layer

    def append(self, layer: Module) -> Sequential:
        """Add a layer at the end; returns self.

        A layer object may appear only once in the whole tree: it keeps its last input for
        the backward pass, so a second use would overwrite what the first one needs (PyTorch
        allows reuse because autograd records every call; here use a new instance).
        """
        i = len(self._layers)
        if not isinstance(layer, Module):
            raise TypeError(
                f"Sequential: layers[{i}]: expected a cnnmath.nn.Module, got "
                f"{type(layer).__name__} {layer!r}"
            )
        present = {id(m) for m in [self, *self._descendants()]}
        for module in [layer, *layer._descendants()]:
            if id(module) in present:
                raise ValueError(
                    f"Sequential: layers[{i}]: {type(module).__name__} object already used in "
                    "this Sequential; a layer keeps its input for backward, so each position "
                    f"needs its own instance (e.g. {type(module).__name__}(...) again)"
                )
        self._layers.append(layer)
        return self

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            view = Sequential()
            view._layers = self._layers[index]  # shares the layers (checked unique already)
            return view
        return self._layers[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = f_L(…f_1(x)): each layer's forward in order (each keeps its own input)."""
        for layer in self._layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x from G = ∂ℓ/∂y: each layer's backward in reverse order; every layer adds
        its parameters' gradients on the way."""
        grad = grad_output
        for layer in reversed(self._layers):
            grad = layer.backward(grad)
        return grad
