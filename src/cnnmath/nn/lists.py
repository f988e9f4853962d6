"""ModuleList and ModuleDict: containers that register modules without calling them.

A model written by hand (its own ``forward`` and ``backward``) keeps its blocks in these, as a
PyTorch model does, so that ``parameters()``, ``state_dict`` ("blocks.0.weight",
"heads.cls.bias"), ``to`` and ``train``/``eval`` reach every block. Neither container is
itself a layer: calling one is an error, as in PyTorch; the owner decides the order of calls
(and of the backward passes, in reverse).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .module import Module

__all__ = ["ModuleDict", "ModuleList"]


def _check_module(owner: str, where: str, module: Any, container: Module) -> Module:
    if not isinstance(module, Module):
        raise TypeError(
            f"{owner}: {where}: expected a cnnmath.nn.Module, got {type(module).__name__} "
            f"{module!r}"
        )
    if any(m is container for m in module.modules()):
        raise ValueError(f"{owner}: {where}: contains this {owner}; a model cannot contain itself")
    return module


class ModuleList(Module):
    """A list of modules, named "0", "1", … by position as ``torch.nn.ModuleList``: indexing,
    slicing (a new ModuleList of the same modules, renumbered), ``len``, iteration,
    ``append``, ``extend``, ``insert``, item assignment and ``del`` (the later modules are
    renumbered, so their ``state_dict`` keys follow). Its ``repr`` folds a run of equal
    modules into one line, ``(0-2): 3 x Linear(…)``, as PyTorch's.

    >>> from cnnmath import nn
    >>> blocks = nn.ModuleList(nn.Linear(4, 4, rng=i) for i in range(3))
    >>> [name for name, _ in blocks.named_parameters()][:3]
    ['0.weight', '0.bias', '1.weight']
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        self._modules_list: list[Module] = []
        if modules is not None:
            self.extend(modules)

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        for i, module in enumerate(self._modules_list):
            yield str(i), module

    def _child(self, name: str) -> Module | None:
        k = int(name) if name.isdigit() else -1
        return self._modules_list[k] if 0 <= k < len(self._modules_list) else None

    def _index(self, index: Any, *, end: bool = False) -> int:
        """``index`` as a position in [0, n) (or [0, n] with ``end``: insert's places),
        negative ones counted from the end."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ModuleList: index: expected an int, got {index!r}")
        n = len(self._modules_list)
        top = n + 1 if end else n
        if not -n <= index < top:
            raise IndexError(
                f"ModuleList: index: expected an int in [{-n}, {top}), got {index} ({n} module(s))"
            )
        return int(index) + n if index < 0 else int(index)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        where = f"modules[{len(self._modules_list)}]"
        self._modules_list.append(_check_module("ModuleList", where, module, self))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each of ``modules`` in order; returns self."""
        if (isinstance(modules, Module) and not isinstance(modules, ModuleList)) or not isinstance(
            modules, Iterable
        ):
            raise TypeError(
                f"ModuleList: modules: expected an iterable of modules, got "
                f"{type(modules).__name__}"
            )
        for module in list(modules):  # a list first: ``blocks.extend(blocks)`` doubles once
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (the end when index = len)."""
        i = self._index(index, end=True)
        self._modules_list.insert(i, _check_module("ModuleList", f"modules[{i}]", module, self))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(self._modules_list[index])
        return self._modules_list[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        i = self._index(index)
        self._modules_list[i] = _check_module("ModuleList", f"modules[{i}]", module, self)

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            del self._modules_list[index]
        else:
            del self._modules_list[self._index(index)]

    def __len__(self) -> int:
        return len(self._modules_list)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules_list)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        """A new ModuleList of this one's modules, then ``other``'s."""
        return ModuleList(self._modules_list).extend(other)

    def pop(self, index: int = -1) -> Module:
        """Remove the module at ``index`` (the last by default) and return it; the later
        modules are renumbered."""
        return self._modules_list.pop(self._index(index))

    def __repr__(self) -> str:
        name = type(self).__name__
        if not self._modules_list:
            return f"{name}()"
        lines = [f"{name}("]
        reprs = [repr(m) for m in self._modules_list]
        start = 0
        while start < len(reprs):
            stop = start + 1
            while stop < len(reprs) and reprs[stop] == reprs[start]:
                stop += 1
            body = reprs[start].replace("\n", "\n  ")
            if stop - start == 1:
                lines.append(f"  ({start}): {body}")
            else:
                lines.append(f"  ({start}-{stop - 1}): {stop - start} x {body}")
            start = stop
        return "\n".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered mapping of names to modules, as ``torch.nn.ModuleDict``: the keys are the
    children's names (``state_dict`` keys "<key>.weight"), in insertion order; ``[key]``,
    assignment, ``del``, ``in``, ``len``, iteration over the keys, ``keys``, ``values``,
    ``items``, ``update`` and ``pop``.

    >>> from cnnmath import nn
    >>> heads = nn.ModuleDict({"cls": nn.Linear(8, 10, rng=0), "box": nn.Linear(8, 4, rng=1)})
    >>> list(heads.state_dict())
    ['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
    """

    def __init__(self, modules: Mapping[str, Module] | ModuleDict | None = None) -> None:
        super().__init__()
        self._modules_dict: dict[str, Module] = {}
        if modules is not None:
            self.update(modules)

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules_dict.items()

    def _child(self, name: str) -> Module | None:
        return self._modules_dict.get(name)

    def _key(self, key: Any) -> str:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(
                f"ModuleDict: key: expected a non-empty str without '.' (a state_dict name), "
                f"got {key!r}"
            )
        return key

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules_dict:
            raise KeyError(f"ModuleDict: key: {key!r} is not one of {list(self._modules_dict)}")
        return self._modules_dict[key]

    def __setitem__(self, key: str, module: Module) -> None:
        key = self._key(key)
        self._modules_dict[key] = _check_module("ModuleDict", f"[{key!r}]", module, self)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __contains__(self, key: object) -> bool:
        return key in self._modules_dict

    def __len__(self) -> int:
        return len(self._modules_dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules_dict)

    def keys(self) -> list[str]:
        """The names, in insertion order."""
        return list(self._modules_dict)

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return list(self._modules_dict.values())

    def items(self) -> list[tuple[str, Module]]:
        """(name, module) pairs, in insertion order."""
        return list(self._modules_dict.items())

    def update(
        self, modules: Mapping[str, Module] | ModuleDict | Iterable[tuple[str, Module]]
    ) -> None:
        """Add or replace entries from a mapping or from (name, module) pairs, in order."""
        is_dict = isinstance(modules, (Mapping, ModuleDict))
        pairs = modules.items() if is_dict else modules  # type: ignore[union-attr]
        if (isinstance(modules, Module) and not is_dict) or not isinstance(pairs, Iterable):
            raise TypeError(
                f"ModuleDict: modules: expected a mapping or (name, module) pairs, got "
                f"{type(modules).__name__}"
            )
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"ModuleDict: modules: expected (name, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        """Remove the entry ``key`` and return its module."""
        module = self[key]
        del self._modules_dict[key]
        return module
