"""``cnnmath.manual_seed``: every draw made with ``rng=None`` (a layer's initial weights,
``nn.init``, dropout masks, a DataLoader's shuffle, ``random_split``) follows from the seed,
as PyTorch's global generator does after ``torch.manual_seed``."""

import copy

import numpy as np
import pytest

import cnnmath
from cnnmath import data, nn
from cnnmath.ops.dropout import dropout_mask


def _draws():
    """What a ported script draws without ``rng=``: a model's weights, an init, a dropout
    pass, one epoch's batch order and a split."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))
    w = np.empty((3, 5))
    nn.init.xavier_uniform_(w)
    masked = model[2](np.ones((2, 4, 2, 2), np.float32))
    loader = data.DataLoader(data.TensorDataset(np.arange(10.0)), batch_size=10, shuffle=True)
    (order,) = next(iter(loader))
    split = data.random_split(data.TensorDataset(np.arange(10.0)), [0.5, 0.5])
    keep = dropout_mask((6,), 0.5)
    return [
        *(p.data.copy() for p in model.parameters()),
        w,
        masked,
        order,
        np.asarray(split[0].indices),
        keep,
    ]


def test_the_same_seed_draws_the_same_values():
    cnnmath.manual_seed(0)
    first = _draws()
    cnnmath.manual_seed(0)
    again = _draws()
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    cnnmath.manual_seed(1)
    other = _draws()
    assert all(not np.array_equal(a, b) for a, b in zip(first[:5], other[:5], strict=True))


def test_a_layer_made_before_the_seed_draws_from_the_reseeded_stream():
    """A Dropout made with ``rng=None`` holds the default generator: ``manual_seed`` later
    restarts its masks too, as torch's global generator does for a module made earlier."""
    drop = nn.Dropout(0.5)
    x = np.ones((4, 8), np.float32)
    cnnmath.manual_seed(5)
    first = drop(x)
    cnnmath.manual_seed(5)
    np.testing.assert_array_equal(drop(x), first)


def test_an_explicit_rng_is_untouched_by_the_seed():
    cnnmath.manual_seed(0)
    a = nn.Linear(3, 2, rng=7).weight.data
    cnnmath.manual_seed(1)
    np.testing.assert_array_equal(nn.Linear(3, 2, rng=7).weight.data, a)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, True, "0"])
def test_a_seed_torch_would_refuse_is_refused(seed):
    state = cnnmath.ops._random.default_generator().bit_generator.state
    with pytest.raises((TypeError, ValueError), match=r"manual_seed: seed: expected an int in"):
        cnnmath.manual_seed(seed)
    assert cnnmath.ops._random.default_generator().bit_generator.state == state


def test_a_negative_seed_is_read_as_torch_reads_it():
    """torch.manual_seed(-1) seeds with 2⁶⁴ − 1 (its initial_seed); so does cnnmath's."""
    torch = pytest.importorskip("torch")
    assert torch.manual_seed(-1).initial_seed() == 2**64 - 1
    first = cnnmath.manual_seed(-1).random(3)
    np.testing.assert_array_equal(cnnmath.manual_seed(2**64 - 1).random(3), first)


def test_a_copied_model_draws_from_the_default_generator_too():
    """copy.deepcopy of a model whose Dropout was made with rng=None: the copy draws the
    next masks of the same stream (not a repeat of the original's) and follows
    ``manual_seed``, as a copied PyTorch model draws from the global generator."""
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Dropout(0.5))
    twin = copy.deepcopy(model)
    x = np.ones((8, 4), np.float32)
    cnnmath.manual_seed(3)
    first, second = model(x), twin(x)
    assert not np.array_equal(first, second)  # one stream: the twin takes the next mask
    cnnmath.manual_seed(3)
    np.testing.assert_array_equal(twin(x), first)
    assert twin[0].weight is not model[0].weight  # everything else is copied
