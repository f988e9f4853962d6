"""Datasets of arrays and batches drawn from them, as ``torch.utils.data``'s
``TensorDataset``, ``Subset``, ``random_split`` and ``DataLoader``: a ported training loop
keeps its ``for xb, yb in loader:``.

Everything is in memory and runs in the calling thread. A dataset of arrays (and subsets of
one) is batched by one fancy index per array, ``X[idx]``; any other dataset (an object with
``__len__`` and ``__getitem__``) sample by sample, collated as PyTorch's default: arrays and
numbers stacked along a new first axis, tuples, lists and dicts field by field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import flag, positive_int
from .ops._random import default_generator


class TensorDataset:
    """Samples of equal-length arrays, as ``torch.utils.data.TensorDataset``: sample i is
    ``(a[i] for a in arrays)``, a tuple. ``arrays`` (also ``tensors``, PyTorch's name) are
    kept as given, not copied.

    >>> ds = TensorDataset(np.zeros((5, 1, 8, 8)), np.arange(5))
    >>> len(ds), ds[2][1]
    (5, np.int64(2))
    """

    def __init__(self, *arrays: np.ndarray) -> None:
        if not arrays:
            raise ValueError("TensorDataset: arrays: expected at least one array, got none")
        for k, a in enumerate(arrays):
            if not isinstance(a, np.ndarray) or a.ndim == 0:
                raise TypeError(
                    f"TensorDataset: arrays[{k}]: expected a numpy.ndarray with a first (sample) "
                    f"axis, got {type(a).__name__}{'' if not isinstance(a, np.ndarray) else ' 0-d'}"
                )
            if len(a) != len(arrays[0]):
                raise ValueError(
                    f"TensorDataset: arrays[{k}]: expected {len(arrays[0])} samples (as "
                    f"arrays[0]), got {len(a)}"
                )
        self.arrays = tuple(arrays)

    @property
    def tensors(self) -> tuple[np.ndarray, ...]:
        """The arrays (PyTorch's name)."""
        return self.arrays

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)


class Subset:
    """The samples of ``dataset`` at ``indices``, in that order, as
    ``torch.utils.data.Subset``: ``subset[k] = dataset[indices[k]]``."""

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        n = _length("Subset", dataset)
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise TypeError(
                f"Subset: indices: expected a 1-d sequence of ints, got {np.asarray(indices)!r:.80}"
            )
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(
                f"Subset: indices: expected indices in [-{n}, {n}) (negative ones count from "
                f"the end), got {idx.min()}..{idx.max()}"
            )
        self.dataset = dataset
        self.indices = idx.astype(np.int64) % max(n, 1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: Any) -> Any:
        return self.dataset[self.indices[index]]


def _length(owner: str, dataset: Any) -> int:
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(
            f"{owner}: dataset: expected a dataset (with __len__ and __getitem__, e.g. a "
            f"TensorDataset), got {type(dataset).__name__}"
        )
    return len(dataset)


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator as given, a seed's new one, or (None) the package's default generator."""
    return default_generator() if rng is None else np.random.default_rng(rng)


def _no_torch_generator(owner: str, generator: Any) -> None:
    if generator is not None:
        raise TypeError(
            f"{owner}: generator: a torch.Generator has no counterpart here; pass rng= (a "
            f"seed or a numpy.random.Generator) instead, got {type(generator).__name__}"
        )


def random_split(
    dataset: Any,
    lengths: Sequence[int | float],
    rng: np.random.Generator | int | None = None,
    *,
    generator: Any = None,
) -> list[Subset]:
    """``dataset`` split at random into disjoint :class:`Subset` s of the given ``lengths``, as
    ``torch.utils.data.random_split``: counts summing to ``len(dataset)``, or fractions
    summing to 1, each ⌊f·N⌋ and the N − Σ⌊f·N⌋ left over given one each to the splits in
    turn (PyTorch's rule, so the sizes are PyTorch's). The permutation comes from ``rng``
    (a NumPy Generator or a seed; None: the default generator, which
    ``cnnmath.manual_seed`` seeds), not PyTorch's generator: the sizes match, the members
    differ (PyTorch's ``generator=`` is refused, naming ``rng=``). A list of ints is always
    counts (PyTorch reads ``[1, 0]`` as fractions).

    >>> [len(s) for s in random_split(TensorDataset(np.arange(10)), [0.75, 0.25], rng=0)]
    [8, 2]
    """
    _no_torch_generator("random_split", generator)
    n = _length("random_split", dataset)
    if not isinstance(lengths, (list, tuple)) or not lengths:
        raise TypeError(
            f"random_split: lengths: expected a list of counts or fractions, got {lengths!r:.80}"
        )
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lengths):
        counts = [int(v) for v in lengths]
        if any(c < 0 for c in counts) or sum(counts) != n:
            raise ValueError(
                f"random_split: lengths: expected counts >= 0 summing to len(dataset) = {n}, "
                f"got {counts}"
            )
    else:
        fractions = [float(v) for v in lengths]
        if any(not 0 <= f <= 1 for f in fractions) or not math.isclose(
            sum(fractions), 1, abs_tol=1e-9
        ):
            raise ValueError(
                f"random_split: lengths: expected fractions in [0, 1] summing to 1 (or counts), "
                f"got {list(lengths)}"
            )
        counts = [math.floor(f * n) for f in fractions]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
    order = _generator(rng).permutation(n)
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def default_collate(samples: list[Any]) -> Any:
    """A batch from a list of samples, as PyTorch's ``default_collate``: arrays and numbers
    stacked along a new first axis (Python ints as int64, floats as float64), tuples and
    lists field by field (a tuple; a namedtuple of the same type), dicts key by key, strings
    kept as a list."""
    first = samples[0]
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, Mapping):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: samples: expected samples of one length each")
        fields = [default_collate(list(field)) for field in zip(*samples, strict=True)]
        if hasattr(first, "_fields"):  # a namedtuple: the batch is one too, as PyTorch's
            return type(first)(*fields)
        return tuple(fields)
    if isinstance(first, bool):
        return np.array(samples, dtype=bool)
    if isinstance(first, int):
        return np.array(samples, dtype=np.int64)
    if isinstance(first, float):
        return np.array(samples, dtype=np.float64)
    return np.stack([np.asarray(s) for s in samples])


def _array_source(dataset: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """The arrays behind a TensorDataset, or a Subset (of a Subset …) of one, with the
    composed indices; None for any other dataset."""
    indices: np.ndarray | None = None
    while isinstance(dataset, Subset):
        indices = dataset.indices if indices is None else dataset.indices[indices]
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset):
        return dataset.arrays, indices
    return None


class DataLoader:
    """Batches of a dataset, as ``torch.utils.data.DataLoader``: each pass over it (each
    ``for`` loop, an epoch) yields ⌈N/B⌉ batches of ``batch_size`` B samples (⌊N/B⌋ with
    ``drop_last``), in order, or in a new random order each pass with ``shuffle`` (drawn
    from ``rng``, a NumPy Generator or a seed, which advances from pass to pass: the same
    seed gives the same sequence of epochs). A batch of a :class:`TensorDataset` is the tuple
    ``(a[idx] for a in arrays)``; of another dataset, ``collate_fn`` of the list of samples
    (:func:`default_collate` by default). ``batch_size=None`` yields the samples one by one,
    unbatched.

    PyTorch's ``num_workers``, ``pin_memory``, ``persistent_workers`` and
    ``prefetch_factor`` are taken and change nothing (the data is in memory and batched in
    the calling thread); ``sampler``, ``batch_sampler`` and a torch ``generator`` are not
    taken (``shuffle`` and ``rng`` draw the order; ``rng=None`` draws from the default
    generator, which ``cnnmath.manual_seed`` seeds; ``generator=`` is refused, naming
    ``rng=``).

    >>> loader = DataLoader(TensorDataset(np.arange(10.0)), batch_size=4)
    >>> [len(xb) for (xb,) in loader], len(loader)
    ([4, 4, 2], 3)
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        *,
        rng: np.random.Generator | int | None = None,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        generator: Any = None,
    ) -> None:
        owner = "DataLoader"
        _no_torch_generator(owner, generator)
        _length(owner, dataset)
        if batch_size is not None:
            batch_size = positive_int("batch_size", batch_size, func=owner)
        flags = {"shuffle": shuffle, "pin_memory": pin_memory, "drop_last": drop_last}
        flags["persistent_workers"] = persistent_workers
        for name, value in flags.items():
            flag(name, value, func=owner)
        positive_int("num_workers", num_workers, func=owner, minimum=0)
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"{owner}: collate_fn: expected a function, got {collate_fn!r:.60}")
        if batch_size is None and drop_last:
            raise ValueError(f"{owner}: drop_last: needs a batch_size (got batch_size=None)")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.collate_fn = collate_fn
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self._rng = _generator(rng)

    def __len__(self) -> int:
        """The number of batches a pass yields."""
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        B = self.batch_size
        stop = len(order) - len(order) % B if self.drop_last else len(order)
        source = _array_source(self.dataset) if self.collate_fn is None else None
        for start in range(0, stop, B):
            idx = order[start : start + B]
            if source is not None:
                arrays, indices = source
                rows = idx if indices is None else indices[idx]
                yield tuple(a[rows] for a in arrays)
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in idx])
