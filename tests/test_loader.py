"""``cnnmath.data``'s TensorDataset, Subset, random_split and DataLoader against
``torch.utils.data``: the same batches (unshuffled), the same collation, the same split
sizes; shuffled epochs are permutations, reproducible from the seed."""

import numpy as np
import pytest

from cnnmath.data import DataLoader, Subset, TensorDataset, default_collate, random_split

torch = pytest.importorskip("torch")
tud = torch.utils.data


def _arrays(n=11):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 4, 4)).astype(np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize(
    "batch_size, drop_last", [(4, False), (4, True), (11, False), (1, False), (20, True)]
)
def test_unshuffled_batches_are_torchs(batch_size, drop_last):
    X, y = _arrays()
    ours = DataLoader(TensorDataset(X, y), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(
        tud.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
        batch_size=batch_size,
        drop_last=drop_last,
    )
    got, want = list(ours), list(theirs)
    assert len(ours) == len(theirs) == len(got) == len(want)
    for (xb, yb), (txb, tyb) in zip(got, want, strict=True):
        assert np.array_equal(xb, txb.numpy()) and xb.dtype == np.float32
        assert np.array_equal(yb, tyb.numpy()) and yb.dtype == np.int64


class _Pairs:
    """A dataset of one's own: (image, label, a dict of extras) per sample."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], int(self.y[i]), {"weight": float(i) / 2, "name": f"s{i}"}


def test_a_dataset_of_ones_own_is_collated_as_torchs():
    X, y = _arrays(7)
    got = list(DataLoader(_Pairs(X, y), batch_size=3))
    want = list(tud.DataLoader(_Pairs(X, y), batch_size=3))
    for (xb, yb, extra), (txb, tyb, textra) in zip(got, want, strict=True):
        assert np.array_equal(xb, txb.numpy()) and xb.dtype == np.float32
        assert np.array_equal(yb, tyb.numpy()) and yb.dtype == np.int64
        assert np.array_equal(extra["weight"], textra["weight"].numpy())
        assert extra["weight"].dtype == np.float64
        assert extra["name"] == textra["name"]
    samples = list(DataLoader(_Pairs(X, y), batch_size=None))
    assert len(samples) == 7 and samples[3][1] == int(y[3])


def test_shuffled_epochs_are_permutations_reproducible_from_the_seed():
    X, y = _arrays(23)
    ds = TensorDataset(X, np.arange(23))

    def epochs(seed):
        loader = DataLoader(ds, batch_size=5, shuffle=True, rng=seed)
        return [np.concatenate([ib for _, ib in loader]) for _ in range(3)]

    first = epochs(7)
    for order in first:
        assert sorted(order.tolist()) == list(range(23))
    assert not np.array_equal(first[0], first[1])  # a new order each epoch
    assert all(np.array_equal(a, b) for a, b in zip(first, epochs(7), strict=True))
    assert not np.array_equal(first[0], epochs(8)[0])
    xb, ib = next(iter(DataLoader(ds, batch_size=5, shuffle=True, rng=7)))
    assert np.array_equal(xb, X[ib])  # the arrays of one sample stay together
    dropped = DataLoader(ds, batch_size=5, shuffle=True, drop_last=True, rng=1)
    assert len(dropped) == 4 and all(len(b[0]) == 5 for b in dropped)


@pytest.mark.parametrize(
    "n, lengths", [(10, [0.7, 0.3]), (11, [0.5, 0.25, 0.25]), (7, [1 / 3] * 3), (5, [3, 2])]
)
def test_random_split_sizes_are_torchs_and_the_parts_cover_it(n, lengths):
    ds = TensorDataset(np.arange(n))
    parts = random_split(ds, lengths, rng=0)
    want = tud.random_split(tud.TensorDataset(torch.arange(n)), lengths)
    assert [len(p) for p in parts] == [len(w) for w in want]
    members = np.concatenate([np.asarray([p[k][0] for k in range(len(p))]) for p in parts])
    assert sorted(members.tolist()) == list(range(n))


def test_subsets_of_subsets_batch_as_their_samples():
    X, y = _arrays(12)
    inner = Subset(TensorDataset(X, y), np.arange(12)[::-1])
    outer = Subset(inner, [0, 5, 2, 7, 11])
    fast = list(DataLoader(outer, batch_size=2))  # one fancy index into the arrays
    slow = list(DataLoader(outer, batch_size=2, collate_fn=default_collate))  # sample by sample
    for a, b in zip(fast, slow, strict=True):
        assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert np.array_equal(fast[0][1], y[[11, 6]])


def test_bad_arguments_name_themselves():
    X, y = _arrays(6)
    cases = [
        (
            lambda: TensorDataset(X, y[:5]),
            ValueError,
            r"TensorDataset: arrays\[1\]: expected 6 samples",
        ),
        (
            lambda: TensorDataset([1, 2]),
            TypeError,
            r"TensorDataset: arrays\[0\]: expected a numpy.ndarray",
        ),
        (lambda: DataLoader(TensorDataset(X), batch_size=0), ValueError, "DataLoader: batch_size"),
        (lambda: DataLoader(TensorDataset(X), shuffle="yes"), TypeError, "DataLoader: shuffle"),
        (lambda: DataLoader([1, 2, 3][0]), TypeError, "DataLoader: dataset: expected a dataset"),
        (lambda: random_split(TensorDataset(X), [0.5, 0.6]), ValueError, "random_split: lengths"),
        (
            lambda: random_split(TensorDataset(X), [4, 3]),
            ValueError,
            r"summing to len\(dataset\) = 6",
        ),
        (
            lambda: Subset(TensorDataset(X), [0, 9]),
            IndexError,
            r"Subset: indices: expected indices in \[-6, 6\)",
        ),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()
    loader = DataLoader(TensorDataset(X), batch_size=4, num_workers=4, pin_memory=True)
    assert len(list(loader)) == 2  # taken, and nothing changes


def test_namedtuple_samples_batch_as_namedtuples_as_torchs():
    from collections import namedtuple

    Sample = namedtuple("Sample", "image label")
    X, y = _arrays(5)

    class Named:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return Sample(X[i], int(y[i]))

    ours = next(iter(DataLoader(Named(), batch_size=4)))
    theirs = next(iter(tud.DataLoader(Named(), batch_size=4)))
    assert type(ours) is type(theirs) is Sample
    assert np.array_equal(ours.label, theirs.label.numpy())
    assert np.array_equal(ours.image, theirs.image.numpy())
