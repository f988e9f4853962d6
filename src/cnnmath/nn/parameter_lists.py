"""ParameterList and ParameterDict: containers of parameters, as ``torch.nn``'s.

A model written by hand that keeps a variable number of loose parameters (one scale per
stage, a learned embedding per head) holds them in these, so that ``parameters()``,
``named_parameters()``, ``state_dict`` ("scales.0", "embeddings.cls"), ``to`` and the
optimisers reach every one — as :class:`ModuleList` / :class:`ModuleDict` do for modules.
Neither container is a layer: calling one is an error; the owner's ``forward`` reads
``self.scales[i].data`` and its ``backward`` adds into ``self.scales[i].grad``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .module import Module
from .parameter import Parameter

__all__ = ["ParameterDict", "ParameterList"]


def _as_parameter(owner: str, where: str, value: Any) -> Parameter:
    """A Parameter as it is; a float array wrapped in a new Parameter (not copied), as
    PyTorch wraps a tensor; anything else refused."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, np.ndarray) and value.dtype in (np.float32, np.float64):
        return Parameter(value)
    raise TypeError(
        f"{owner}: {where}: expected a cnnmath.nn.Parameter or a float32/float64 "
        f"numpy.ndarray, got {type(value).__name__}"
    )


def _entries_repr(name: str, entries: Iterable[tuple[str, Parameter]]) -> str:
    lines = [f"  ({key}): {p!r}" for key, p in entries]
    return f"{name}(\n" + "\n".join(lines) + "\n)" if lines else f"{name}()"


class _NotALayer(Module):
    """A container of parameters: calling one is a mistake, said plainly."""

    def forward_ctx(self, *inputs: Any) -> Any:
        """Refused: a container of parameters computes nothing."""
        raise TypeError(
            f"{type(self).__name__} is not a layer: read its parameters in the forward of the "
            "module that holds it"
        )


class ParameterList(_NotALayer):
    """A list of parameters, named "0", "1", … by position, as ``torch.nn.ParameterList``:
    ``state_dict`` keys "<list>.0", "<list>.1", …; indexing, slicing (a new ParameterList of
    the same Parameters), ``len``, iteration, ``append``, ``extend``, ``+=``, item
    assignment. A float array given is wrapped in a Parameter (not copied).

    >>> import numpy as np
    >>> from cnnmath import nn
    >>> scales = nn.ParameterList([np.ones(3), np.zeros((2, 2))])
    >>> [(name, p.shape) for name, p in scales.named_parameters()]
    [('0', (3,)), ('1', (2, 2))]
    """

    def __init__(self, values: Iterable[Parameter | np.ndarray] | None = None) -> None:
        super().__init__()
        self._params: list[Parameter] = []
        if values is not None:
            self.extend(values)

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for i, p in enumerate(self._params):
            yield str(i), p

    def _index(self, index: Any) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ParameterList: index: expected an int or a slice, got {index!r}")
        n = len(self._params)
        if not -n <= index < n:
            raise IndexError(
                f"ParameterList: index: expected an int in [{-n}, {n}), got {index} "
                f"({n} parameter(s))"
            )
        return int(index) % n

    def append(self, value: Parameter | np.ndarray) -> ParameterList:
        """Add ``value`` at the end; returns self."""
        where = f"values[{len(self._params)}]"
        self._params.append(_as_parameter("ParameterList", where, value))
        return self

    def extend(self, values: Iterable[Parameter | np.ndarray]) -> ParameterList:
        """Append each of ``values`` in order; returns self."""
        if isinstance(values, (Parameter, np.ndarray)) or not isinstance(values, Iterable):
            raise TypeError(
                f"ParameterList: values: expected an iterable of Parameters, got "
                f"{type(values).__name__}"
            )
        n = len(self._params)  # all checked before any is added
        checked = [
            _as_parameter("ParameterList", f"values[{n + i}]", v) for i, v in enumerate(values)
        ]
        self._params.extend(checked)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList(self._params[index])
        return self._params[self._index(index)]

    def __setitem__(self, index: int, value: Parameter | np.ndarray) -> None:
        i = self._index(index)
        self._params[i] = _as_parameter("ParameterList", f"[{i}]", value)

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params)

    def __iadd__(self, values: Iterable[Parameter | np.ndarray]) -> ParameterList:
        return self.extend(values)

    def __repr__(self) -> str:
        return _entries_repr("ParameterList", self._own_parameters())


class ParameterDict(_NotALayer):
    """An ordered mapping of names to parameters, as ``torch.nn.ParameterDict``: the keys
    are the parameters' names (``state_dict`` keys "<dict>.<key>"); ``[key]``, assignment,
    ``del``, ``in``, ``len``, iteration over the keys, ``keys``, ``values``, ``items``,
    ``get``, ``update``, ``pop``, ``popitem``, ``setdefault``, ``clear``, ``copy`` and
    ``fromkeys``. A float array given is wrapped in a Parameter.

    Order, as PyTorch's: insertion order, except that a plain ``dict`` given to the
    constructor or ``update`` is taken in sorted key order (an OrderedDict, a ParameterDict
    or (key, value) pairs keep theirs), so the ``state_dict`` keys come in PyTorch's order.

    >>> import numpy as np
    >>> from cnnmath import nn
    >>> list(nn.ParameterDict({"scale": np.ones(2), "bias": np.zeros(2)}).state_dict())
    ['bias', 'scale']
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._params: dict[str, Parameter] = {}
        if parameters is not None:
            self.update(parameters)

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield from self._params.items()

    def __getitem__(self, key: str) -> Parameter:
        if key not in self._params:
            raise KeyError(f"ParameterDict: key: {key!r} is not one of {list(self._params)}")
        return self._params[key]

    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(
                f"ParameterDict: key: expected a non-empty str without '.' (a state_dict "
                f"name), got {key!r}"
            )
        return key

    def __setitem__(self, key: str, value: Parameter | np.ndarray) -> None:
        self._params[self._key(key)] = _as_parameter("ParameterDict", f"[{key!r}]", value)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def keys(self) -> list[str]:
        """The names, in order."""
        return list(self._params)

    def values(self) -> list[Parameter]:
        """The parameters, in order."""
        return list(self._params.values())

    def items(self) -> list[tuple[str, Parameter]]:
        """(name, parameter) pairs, in order."""
        return list(self._params.items())

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter under ``key``, or ``default``."""
        return self._params.get(key, default)

    def update(self, parameters: Any) -> None:
        """Add or replace entries from a mapping (a plain dict in sorted key order, as
        PyTorch's) or from (name, parameter) pairs, in order."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs: Iterable[Any] = parameters.items()
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items(), key=lambda kv: str(kv[0]))
        elif isinstance(parameters, Iterable) and not isinstance(
            parameters, (str, np.ndarray, Module)
        ):
            pairs = parameters
        else:
            raise TypeError(
                f"ParameterDict: parameters: expected a mapping or (name, parameter) pairs, "
                f"got {type(parameters).__name__}"
            )
        checked = {}  # all checked before any is added
        for pair in list(pairs):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(
                    f"ParameterDict: parameters: expected (name, parameter) pairs, got {pair!r}"
                )
            key, value = pair
            checked[self._key(key)] = _as_parameter("ParameterDict", f"[{key!r}]", value)
        self._params.update(checked)

    def pop(self, key: str) -> Parameter:
        """Remove the entry ``key`` and return its parameter."""
        p = self[key]
        del self._params[key]
        return p

    def popitem(self) -> tuple[str, Parameter]:
        """Remove the entry added last and return (name, parameter); KeyError if empty."""
        if not self._params:
            raise KeyError("ParameterDict.popitem: the dict is empty")
        return self._params.popitem()

    def setdefault(self, key: str, default: Parameter | np.ndarray | None = None) -> Parameter:
        """The parameter under ``key``; if there is none, ``default`` (a Parameter, or a
        float array wrapped in one) added under ``key`` first and returned."""
        if key not in self._params:
            self[key] = default  # type: ignore[assignment]  # refused by _as_parameter
        return self._params[key]

    def clear(self) -> None:
        """Remove every entry."""
        self._params.clear()

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameter objects, in the same order."""
        return ParameterDict(OrderedDict(self._params))

    def fromkeys(
        self, keys: Iterable[str], default: Parameter | np.ndarray | None = None
    ) -> ParameterDict:
        """A new ParameterDict with each of ``keys`` (in order) holding ``default``, as
        PyTorch's (there an instance method too): a Parameter is shared by all the keys; a
        float array is wrapped once per key (Parameters of their own, over the one array).
        None, which PyTorch stores, is refused: an entry here is a Parameter."""
        _as_parameter("ParameterDict.fromkeys", "default", default)  # checked once
        return ParameterDict(
            [(key, _as_parameter("ParameterDict.fromkeys", "default", default)) for key in keys]
        )

    def __repr__(self) -> str:
        return _entries_repr("ParameterDict", self._own_parameters())
