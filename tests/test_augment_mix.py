"""cnnmath.augment's MixUp and CutMix, and ``fit(..., mix=...)``.

Witnesses: torchvision.transforms.v2's ``MixUp`` and ``CutMix`` run through their public call on
the same λ and box — their Beta draw and ``torch.randint`` replaced by the values our replayed
stream gives — for images and labels; scipy.stats' Beta distribution (one-sample
Kolmogorov–Smirnov) for λ, torchvision's own box draws (two-sample KS, seeded) for the boxes;
PyTorch's soft-target ``CrossEntropyLoss`` and SGD, written out by hand, for a training step
of ``fit`` with a mix; a run never interrupted for resumption (bit for bit).
"""

from __future__ import annotations

import functools
import re
import types

import numpy as np
import pytest

from cnnmath import losses, nn, optim
from cnnmath.augment import (
    cutmix,
    mixup,
    random_cutmix,
    random_cutmix_box,
    random_mix,
    random_mixup,
)
from cnnmath.train import fit

B, C, H, W, K = 5, 3, 7, 9, 4


def batch(dtype=np.float64, seed=0):
    """A (B, C, H, W) batch, its class indices (B,) and those as one-hot rows (B, K)."""
    rng = np.random.default_rng(seed)
    x = rng.random((B, C, H, W)).astype(dtype)
    y = rng.integers(0, K, B)
    return x, y, np.eye(K, dtype=dtype)[y]


def torchvision_v2():
    """torchvision.transforms.v2 beside the CPU torch (tests/torchvision_helper.py)."""
    from torchvision_helper import import_torchvision

    import_torchvision()
    from torchvision.transforms import v2

    return v2


def drawing(transform, lam):
    """``transform`` (a MixUp or CutMix) with its Beta draw replaced by λ."""
    import torch

    transform._dist = types.SimpleNamespace(
        sample=lambda shape: torch.tensor(lam, dtype=torch.float64)
    )
    return transform


def torch_call(transform, x, labels):
    import torch

    out = transform(torch.from_numpy(x), torch.from_numpy(labels))
    return out[0].numpy(), out[1].numpy()


# ---------------------------------------------------------------------------------------------
# The functionals against torchvision on the same λ and box


@pytest.mark.parametrize("lam", [0.0, 0.3141, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mixup_is_torchvisions(lam, dtype):
    v2 = torchvision_v2()
    x, y, one_hot = batch(dtype)
    theirs = drawing(v2.MixUp(num_classes=K), lam)
    x_mixed, y_mixed = mixup(x, y, lam, K)
    assert x_mixed.dtype == y_mixed.dtype == dtype and y_mixed.shape == (B, K)
    # the images in x's dtype, the same operations: the same bits
    x_theirs, y_theirs = torch_call(theirs, x, one_hot)
    np.testing.assert_array_equal(x_mixed, x_theirs)
    # labels given as probabilities stay in their dtype in torchvision too
    np.testing.assert_allclose(y_mixed, y_theirs, rtol=0, atol=1e-12 if dtype == np.float64 else 0)
    np.testing.assert_array_equal(mixup(x, one_hot, lam)[1], y_mixed)  # soft labels in, alike
    # class indices: torchvision's one-hot labels are float32 whatever the images' dtype
    _, y_theirs32 = torch_call(theirs, x, y)
    assert y_theirs32.dtype == np.float32
    np.testing.assert_allclose(y_mixed, y_theirs32, rtol=0, atol=1e-7)


def test_mixup_pairs_each_image_with_the_one_before():
    """x̃[β] = λ x[β] + (1 − λ) x[β − 1], image 0 with the last: written out image by image."""
    x, y, one_hot = batch()
    lam = 0.3
    x_mixed, y_mixed = mixup(x, y, lam, K)
    for b in range(B):
        np.testing.assert_allclose(x_mixed[b], lam * x[b] + (1 - lam) * x[b - 1], rtol=1e-15)
        np.testing.assert_allclose(y_mixed[b], lam * one_hot[b] + (1 - lam) * one_hot[b - 1])
    np.testing.assert_allclose(y_mixed.sum(axis=1), 1.0, rtol=1e-15)


def replayed_draws(seed, alpha, H, W):
    """What ``random_cutmix_box`` draws from default_rng(seed): λ, r_x, r_y."""
    rng = np.random.default_rng(seed)
    return float(rng.beta(alpha, alpha)), int(rng.integers(W)), int(rng.integers(H))


def torchvision_cutmix(x, labels, lam, centre, monkeypatch):
    """torchvision v2's CutMix of (x, labels) with its draws replaced: λ, and the centre
    (r_x, r_y) that it draws with torch.randint (r_x first)."""
    v2 = torchvision_v2()
    import torch

    draws = iter([(x.shape[3], centre[0]), (x.shape[2], centre[1])])

    def randint(high, size):
        expected_high, value = next(draws)
        assert high == expected_high and tuple(size) == (1,)
        return torch.tensor([value])

    with monkeypatch.context() as patch:
        patch.setattr(torch, "randint", randint)
        return torch_call(drawing(v2.CutMix(num_classes=K), lam), x, labels)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cutmix_is_torchvisions_on_the_replayed_draws(dtype, monkeypatch):
    """For 60 seeds (α = 0.3 and 1, so boxes clipped by the edges and empty ones too): the
    box of ``random_cutmix_box`` is torchvision's box of the same λ and centre, and
    ``cutmix`` on it gives torchvision's images bit for bit and its labels (λ from the area)."""
    torchvision_v2()  # skipped without torchvision
    x, y, one_hot = batch(dtype, seed=1)
    clipped = empty = 0
    for seed in range(60):
        alpha = 0.3 if seed % 2 else 1.0
        lam, r_x, r_y = replayed_draws(seed, alpha, H, W)
        x_theirs, y_theirs = torchvision_cutmix(x, one_hot, lam, (r_x, r_y), monkeypatch)
        _, y_theirs32 = torchvision_cutmix(x, y, lam, (r_x, r_y), monkeypatch)
        box = random_cutmix_box(np.random.default_rng(seed), x.shape, alpha)
        x_mixed, y_mixed = cutmix(x, y, box, K)
        np.testing.assert_array_equal(x_mixed, x_theirs, err_msg=f"seed {seed}, box {box}")
        tol = 1e-12 if dtype == np.float64 else 0
        np.testing.assert_allclose(y_mixed, y_theirs, rtol=0, atol=tol, err_msg=f"seed {seed}")
        np.testing.assert_allclose(y_mixed, y_theirs32, rtol=0, atol=1e-7)
        # the random CutMix is cutmix of that box (the same stream)
        x_random, y_random = random_cutmix(
            x, y, np.random.default_rng(seed), alpha=alpha, num_classes=K
        )
        np.testing.assert_array_equal(x_random, x_mixed)
        np.testing.assert_array_equal(y_random, y_mixed)
        top, left, h, w = box
        half = 0.5 * np.sqrt(1 - lam)
        clipped += (h, w) != (2 * int(half * H), 2 * int(half * W))
        empty += h * w == 0
    assert clipped >= 10 and empty >= 3  # the edges and the empty box were exercised


def test_cutmix_pastes_the_previous_images_box_and_weighs_labels_by_area():
    x, y, one_hot = batch()
    top, left, h, w = 2, 3, 4, 5
    x_mixed, y_mixed = cutmix(x, y, (top, left, h, w), K)
    inside = np.zeros((H, W), bool)
    inside[top : top + h, left : left + w] = True
    for b in range(B):
        np.testing.assert_array_equal(x_mixed[b][:, inside], x[b - 1][:, inside])
        np.testing.assert_array_equal(x_mixed[b][:, ~inside], x[b][:, ~inside])
    lam = 1 - h * w / (H * W)
    np.testing.assert_allclose(y_mixed, lam * one_hot + (1 - lam) * np.roll(one_hot, 1, 0))
    # an empty box changes nothing: λ = 1
    x_same, y_same = cutmix(x, y, np.array([4, 4, 0, 3]), K)
    np.testing.assert_array_equal(x_same, x)
    np.testing.assert_array_equal(y_same, one_hot)


# ---------------------------------------------------------------------------------------------
# The draws


N_DRAWS = 3000


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_random_mixup_draws_lambda_from_beta(alpha):
    """λ read off the label of image 0 (class 0 mixed with class 1): Beta(α, α) by a
    one-sample KS test; Beta(α + 0.3, α + 0.3) is told apart, so the test can fail."""
    stats = pytest.importorskip("scipy.stats")
    x = np.zeros((2, 1, 1, 1))
    y = np.array([0, 1])
    rng = np.random.default_rng(0)
    lams = np.array(
        [random_mixup(x, y, rng, alpha=alpha, num_classes=2)[1][0, 0] for _ in range(N_DRAWS)]
    )
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    assert stats.kstest(lams, stats.beta(alpha + 0.3, alpha + 0.3).cdf).pvalue < 1e-6


H_DRAW, W_DRAW = 24, 32


def box_statistics(boxes):
    top, left, h, w = boxes.T.astype(np.float64)
    return {"area": h * w / (H_DRAW * W_DRAW), "top": top, "left": left, "h": h, "w": w}


@pytest.fixture(scope="module")
def torchvision_cutmix_boxes():
    """3000 CutMix.make_params boxes of 24×32 images (torch's generator, seed 0), as (top,
    left, height, width)."""
    v2 = torchvision_v2()
    import torch

    torch.manual_seed(0)
    cut = v2.CutMix(num_classes=2)
    image = [torch.zeros(2, 3, H_DRAW, W_DRAW)]
    boxes = []
    for _ in range(N_DRAWS):
        x1, y1, x2, y2 = cut.make_params(image)["box"]
        boxes.append((y1, x1, y2 - y1, x2 - x1))
    return np.array(boxes)


def test_random_cutmix_boxes_are_drawn_as_torchvisions(torchvision_cutmix_boxes):
    """Area fraction, place and sides: two-sample KS tests against torchvision's draws (fixed
    seeds); boxes of α = 0.4 (another λ law) are told apart."""
    ks_2samp = pytest.importorskip("scipy.stats").ks_2samp
    rng = np.random.default_rng(0)
    shape = (2, 3, H_DRAW, W_DRAW)
    ours = np.array([random_cutmix_box(rng, shape) for _ in range(N_DRAWS)])
    theirs = box_statistics(torchvision_cutmix_boxes)
    mine = box_statistics(ours)
    for key in theirs:
        assert ks_2samp(theirs[key], mine[key]).pvalue > 1e-3, key
    wrong = np.array([random_cutmix_box(rng, shape, alpha=0.4) for _ in range(N_DRAWS)])
    assert ks_2samp(theirs["area"], box_statistics(wrong)["area"]).pvalue < 1e-6


def test_random_mix_picks_one_of_the_two_per_batch():
    """The replayed stream: an integer picks MixUp (0) or CutMix (1), then that one's draws;
    both are picked over 30 seeds. An α of 0 leaves that one out."""
    x, y, _ = batch()
    picked = set()
    for seed in range(30):
        out = random_mix(x, y, np.random.default_rng(seed), num_classes=K, cutmix_alpha=0.5)
        rng = np.random.default_rng(seed)
        k = int(rng.integers(2))
        want = (
            random_mixup(x, y, rng, num_classes=K)
            if k == 0
            else random_cutmix(x, y, rng, alpha=0.5, num_classes=K)
        )
        picked.add(k)
        for a, b in zip(out, want):
            np.testing.assert_array_equal(a, b)
    assert picked == {0, 1}
    for seed in range(5):
        only_cutmix = random_mix(x, y, np.random.default_rng(seed), num_classes=K, mixup_alpha=0)
        rng = np.random.default_rng(seed)
        rng.integers(1)
        np.testing.assert_array_equal(only_cutmix[0], random_cutmix(x, y, rng, num_classes=K)[0])


# ---------------------------------------------------------------------------------------------
# fit with a mix

N_FIT = 12


def tiny_data(dtype=np.float64):
    rng = np.random.default_rng(3)
    return rng.random((N_FIT, 3, 6, 6)).astype(dtype), rng.integers(0, 3, N_FIT)


def tiny_model(dtype=np.float64):
    return nn.Sequential(
        nn.Conv2d(3, 2, 3, rng=0, dtype=dtype),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32, 3, rng=1, dtype=dtype),
    )


def test_a_fit_step_with_a_mix_is_torchs_soft_target_step():
    """One batch of all 12 examples: the permutation and the mix replayed from the seed, then
    PyTorch's CrossEntropyLoss on the soft labels and an SGD step; the weights after it, the
    recorded loss and the accuracy against the soft labels' argmax agree (float64)."""
    torch = pytest.importorskip("torch")
    X, y = tiny_data()
    model = tiny_model()
    start = {k: v.copy() for k, v in model.state_dict().items()}
    mix = functools.partial(random_mix, num_classes=3)
    seed, lr = 4, 0.5
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=lr),
        (X, y),
        epochs=1,
        batch_size=N_FIT,
        seed=seed,
        mix=mix,
        progress=False,
    )

    rng = np.random.default_rng(seed)
    order = rng.permutation(N_FIT)
    x_mixed, y_soft = mix(X[order], y[order], rng)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32, 3)
    ).double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in start.items()})
    sgd = torch.optim.SGD(net.parameters(), lr=lr)
    logits = net(torch.from_numpy(x_mixed))
    loss = torch.nn.CrossEntropyLoss()(logits, torch.from_numpy(y_soft))
    sgd.zero_grad()
    loss.backward()
    sgd.step()

    for key, value in net.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-14)
    assert abs(history[0]["loss"] - loss.item()) <= 1e-12 * loss.item()
    predicted = logits.detach().numpy().argmax(axis=1)
    accuracy = np.mean(predicted == y_soft.argmax(axis=1))
    assert history[0]["train_accuracy"] == accuracy


def test_train_accuracy_with_a_mix_is_against_the_soft_labels_argmax():
    """A model whose logits are its image's channel means, on images whose channels are their
    one-hot labels: the logits of a mixed image are its soft label (MixUp's λ, CutMix's area
    fractions; 7×7 images, so never a tie), and the model is right on every mixed example
    by the argmax rule — not by the un-mixed labels, replayed, where λ < ½ swaps them."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 24)
    X = np.broadcast_to(np.eye(3)[y][:, :, None, None], (24, 3, 7, 7)).copy()
    model = nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3, rng=0, dtype=np.float64)
    )
    model.load_state_dict({"2.weight": np.eye(3), "2.bias": np.zeros(3)})
    mix = functools.partial(random_mix, num_classes=3)
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.0),
        (X, y),
        epochs=1,
        batch_size=8,
        seed=0,
        mix=mix,
        progress=False,
    )
    assert history[0]["train_accuracy"] == 1.0
    replay = np.random.default_rng(0)
    order = replay.permutation(24)
    right = 0
    for k in range(0, 24, 8):
        x_mixed, _ = mix(X[order[k : k + 8]], y[order[k : k + 8]], replay)
        right += np.sum(model(x_mixed).argmax(axis=1) == y[order[k : k + 8]])
    assert right == 16  # 8 of the 24 mixed images are mostly their partner


MIX3 = functools.partial(random_mix, num_classes=3)


def run_with_mix(seed, mix=MIX3, **kwargs):
    X, y = tiny_data()
    model = tiny_model()
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        (X, y),
        epochs=kwargs.pop("epochs", 2),
        batch_size=4,
        seed=seed,
        mix=mix,
        val_data=(X, y),
        progress=False,
        **kwargs,
    )
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history], model.state_dict()


def test_fit_with_a_mix_repeats_from_its_seed():
    (history_a, weights_a), (history_b, weights_b) = run_with_mix(1), run_with_mix(1)
    assert history_a == history_b
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert run_with_mix(2)[0] != history_a  # another seed, other mixes
    assert run_with_mix(1, mix=None)[0] != history_a  # the mix is applied
    for record in history_a:
        assert 0 <= record["train_accuracy"] <= 1 and record["val_accuracy"] is not None


def test_fit_with_a_mix_resumes_exactly(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    whole_history, whole = run_with_mix(5, epochs=3)
    run_with_mix(5, epochs=1, checkpoint=ckpt)
    history, resumed = run_with_mix(5, epochs=3, checkpoint=ckpt, resume=ckpt)
    assert history == whole_history
    for key, value in whole.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_fit_takes_a_loss_of_probabilities_with_a_mix():
    """A loss given by the user gets the soft labels (here label smoothing on top)."""
    smoothing = functools.partial(losses.cross_entropy, label_smoothing=0.1)
    seen = []

    def loss(logits, target):
        seen.append(target)
        return smoothing(logits, target)

    run_with_mix(0, epochs=1, loss=loss)
    assert seen[0].shape == (4, 3) and seen[0].dtype == np.float64
    np.testing.assert_allclose(seen[0].sum(axis=1), 1.0)


# ---------------------------------------------------------------------------------------------
# Error inputs: (call, exception, message pattern)

X0, Y0, P0 = batch()
RNG = np.random.default_rng


def _fit_with(**kwargs):
    X, y = kwargs.pop("data", tiny_data())
    model = kwargs.pop("model", tiny_model())
    fit(
        model,
        optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=1,
        batch_size=4,
        progress=False,
        **kwargs,
    )


ERRORS = [
    (lambda: mixup(X0, Y0.astype(float), 0.5, K), ValueError, r"y: .*\(B, K\).*got shape \(5,\)"),
    (lambda: mixup(X0, P0.astype(np.float32), 0.5), TypeError, "x is float64, y is float32"),
    (lambda: mixup(X0, Y0 > 1, 0.5, K), TypeError, r"y: expected class indices \(B,\).*bool"),
    (lambda: mixup(X0, list(Y0), 0.5, K), TypeError, "y: expected class indices.*got list"),
    (lambda: mixup(X0, Y0[:4], 0.5, K), ValueError, r"y: expected .* \(B,\) = \(5,\).*\(4,\)"),
    (lambda: mixup(X0, P0[:, None], 0.5), ValueError, r"y: expected .*\(B, K\).*\(5, 1, 4\)"),
    (lambda: mixup(X0, P0, 0.5, 3), ValueError, "num_classes: expected the K = 4 .* got 3"),
    (lambda: mixup(X0, Y0, 0.5), ValueError, "num_classes: expected an int >= 1 .* got None"),
    (lambda: mixup(X0, Y0, 0.5, 0), ValueError, "num_classes: expected an int >= 1, got 0"),
    (lambda: mixup(X0, Y0 + 1, 0.5, K), ValueError, r"y: expected class indices in \[0, 3\]"),
    (lambda: mixup(X0, Y0, 1.5, K), ValueError, "lam: expected a finite number >= 0 and <= 1"),
    (lambda: mixup(X0[0], Y0, 0.5, K), ValueError, r"x: .*\(B, C, H, W\).*x\[None\]"),
    (lambda: mixup(X0.astype(int), Y0, 0.5, K), TypeError, "x: expected"),
    (lambda: cutmix(X0, Y0, (0, 0, 8, 2), K), ValueError, r"box: .*7×9.*got \(0, 0, 8, 2\)"),
    (lambda: cutmix(X0, Y0, (0, -1, 2, 2), K), ValueError, "box: expected a box inside"),
    (lambda: cutmix(X0, Y0, (0, 0, 2.0, 2), K), TypeError, "box: expected 4 integers"),
    (lambda: cutmix(X0, Y0, (0, 0, 2), K), TypeError, "box: expected 4 integers"),
    (lambda: cutmix(X0, Y0, (0, True, 2, 2), K), TypeError, "box: expected 4 integers"),
    (lambda: random_mixup(X0, Y0, RNG(0), alpha=0, num_classes=K), ValueError, "alpha: .*> 0"),
    (lambda: random_cutmix(X0, Y0, RNG(0), alpha=-1, num_classes=K), ValueError, "alpha: .*> 0"),
    (lambda: random_cutmix(X0, Y0, 0, num_classes=K), TypeError, "rng: expected a numpy.random"),
    (lambda: random_cutmix_box(RNG(0), X0.shape, alpha=np.inf), ValueError, "alpha: .*got inf"),
    (lambda: random_cutmix_box(RNG(0), (5, 7, 9)), ValueError, r"shape: expected .*\(B, C, H"),
    (
        lambda: random_mix(X0, Y0, RNG(0), num_classes=K, mixup_alpha=0, cutmix_alpha=0),
        ValueError,
        "mixup_alpha, cutmix_alpha: expected at least one > 0",
    ),
    (lambda: random_mix(X0, Y0, RNG(0), num_classes=K, mixup_alpha=-1), ValueError, "mixup_alpha"),
    (lambda: _fit_with(mix=3), TypeError, "fit: mix: expected a callable or None, got 3"),
    (
        lambda: _fit_with(mix=MIX3, loss=losses.softmax_cross_entropy),
        ValueError,
        "fit: loss: expected a loss taking class probabilities .* got softmax_cross_entropy",
    ),
    (lambda: _fit_with(mix=MIX3, loss=losses.NLLLoss()), ValueError, "got NLLLoss, which takes"),
    (lambda: _fit_with(mix=MIX3, loss=losses.multi_margin_loss), ValueError, "got multi_margin"),
    (lambda: _fit_with(mix=MIX3, loss=losses.MultiMarginLoss()), ValueError, "got MultiMargin"),
    (
        lambda: _fit_with(mix=MIX3, loss=functools.partial(losses.nll_loss, reduction="sum")),
        ValueError,
        "got nll_loss, which takes class indices only",
    ),
    (
        lambda: _fit_with(
            mix=MIX3, loss=losses.mse_loss, data=(tiny_data()[0], np.zeros((N_FIT, 3)))
        ),
        ValueError,
        r"train_data: expected y as \(N,\) integer class indices for mix=.*\(12, 3\)",
    ),
    (
        lambda: _fit_with(mix=functools.partial(random_mix, num_classes=5)),
        ValueError,
        r"fit: mix: expected soft labels of shape \(B, K\) = \(4, 3\).*got shape \(4, 5\)",
    ),
    (
        lambda: _fit_with(mix=lambda x, y, rng: x),
        TypeError,
        r"fit: mix: expected a function \(x, y, rng\) -> \(x, y_soft\) returning a pair",
    ),
    (
        lambda: _fit_with(mix=lambda x, y, rng: (x[:2], np.eye(3)[y])),
        ValueError,
        r"fit: mix: expected images of the batch's shape \(4, 3, 6, 6\)",
    ),
    (
        lambda: _fit_with(mix=lambda x, y, rng: (x, np.eye(3, dtype=np.float32)[y])),
        ValueError,
        "fit: mix: expected soft labels of dtype float64, .*got float32$",
    ),
]


@pytest.mark.parametrize("call, error, pattern", ERRORS)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_bad_arguments_draw_nothing():
    """Every argument is checked before the first draw: a refused call leaves the stream."""
    rng = RNG(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError):
        random_mix(X0, Y0 + 10, rng, num_classes=K)
    with pytest.raises(ValueError):
        random_mixup(X0, Y0, rng, alpha=0, num_classes=K)
    assert rng.bit_generator.state == state


# ---------------------------------------------------------------------------------------------
# Regressions from the review of the mix merge (notes/s33/review-mix)


EMPTY = np.zeros((4, 3, 0, 5))


@pytest.mark.parametrize(
    "call, func",
    [
        (lambda rng: random_cutmix(EMPTY, Y0[:4] % 3, rng, num_classes=3), "random_cutmix"),
        (lambda rng: random_mix(EMPTY, Y0[:4] % 3, rng, num_classes=3), "random_mix"),
        (
            lambda rng: random_mix(EMPTY, Y0[:4] % 3, rng, num_classes=3, mixup_alpha=0),
            "random_mix",
        ),
        (lambda rng: random_cutmix(EMPTY.transpose(0, 1, 3, 2), Y0[:4], rng, num_classes=K), ""),
        (lambda rng: cutmix(EMPTY, Y0[:4] % 3, (0, 0, 0, 0), 3), "cutmix"),
    ],
)
def test_cutmix_on_images_without_pixels_is_refused_before_any_draw(call, func):
    rng = RNG(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match=rf"{func}: x: expected images with H, W >= 1.*got"):
        call(rng)
    assert rng.bit_generator.state == state


def test_mixup_alone_takes_images_without_pixels():
    x_mixed, y_mixed = random_mix(
        EMPTY, np.array([0, 1, 2, 0]), RNG(0), num_classes=3, cutmix_alpha=0
    )
    assert x_mixed.shape == EMPTY.shape and y_mixed.shape == (4, 3)


@pytest.mark.parametrize("box", [np.array(3), (0, 0, [1], 1), None, "0012"])
def test_cutmix_names_a_malformed_box(box):
    with pytest.raises(TypeError, match=r"^cutmix: box: expected 4 integers"):
        cutmix(X0, Y0, box, K)


def test_random_mix_with_one_alpha_zero_draws_only_the_others_draws():
    """One α = 0: no choice is drawn, only the other mix's draws (the docstring's word)."""
    x, y, _ = batch()
    for kwargs, alone in (
        ({"mixup_alpha": 0}, functools.partial(random_cutmix, alpha=1.0)),
        ({"cutmix_alpha": 0}, functools.partial(random_mixup, alpha=1.0)),
    ):
        a, b = RNG(9), RNG(9)
        np.testing.assert_array_equal(
            random_mix(x, y, a, num_classes=K, **kwargs)[1], alone(x, y, b, num_classes=K)[1]
        )
        assert a.bit_generator.state == b.bit_generator.state


def test_augment_names_are_alphabetical():
    from cnnmath import augment

    assert augment.__all__ == sorted(augment.__all__)


def test_validation_with_a_mix_feeds_the_loss_one_hot_labels():
    """With a mix the loss sees probabilities, so validation gives it the one-hot rows of
    val_data's class indices: a loss of probabilities only (soft-target BCE) trains and
    validates, its held-out loss is torch's BCEWithLogits on the one-hot rows; the accuracy
    stays against the indices."""
    torch = pytest.importorskip("torch")
    X, y = tiny_data()
    X_val, y_val = X[::-1] * 0.5, np.array([2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2])
    model = tiny_model()
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        batch_size=4,
        mix=MIX3,
        loss=losses.binary_cross_entropy_with_logits,
        val_data=(X_val, y_val),
        progress=False,
    )
    logits = model(X_val)  # no layer of the tiny model depends on the mode
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits), torch.from_numpy(np.eye(3)[y_val])
    ).item()
    assert abs(history[-1]["val_loss"] - expected) <= 1e-12 * expected
    assert history[-1]["val_accuracy"] == np.mean(logits.argmax(axis=1) == y_val)


def test_validation_with_a_mix_and_the_default_loss_is_the_loss_on_class_indices():
    """The default loss with a mix, cross_entropy, gives the same value on one-hot rows as
    on the class indices (exactly)."""
    X, y = tiny_data()
    model = tiny_model()
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.1),
        (X, y),
        epochs=1,
        batch_size=4,
        mix=MIX3,
        val_data=(X, y),
        progress=False,
    )
    assert history[0]["val_loss"] == losses.softmax_cross_entropy(model(X), y)[0]


N_R7 = 40


def r7_data():
    """The review's r7: 40 examples, one label out of range (y[37] = 3, K = 3)."""
    rng = np.random.default_rng(3)
    X, y = rng.random((N_R7, 3, 6, 6)), rng.integers(0, 3, N_R7)
    y[37] = 3
    return X, y


def _counting_fit(data, seed, loss=None, val_data=None):
    """fit with a mix, counting the mix's and the loss's calls; the weights before and
    after."""
    calls = {"mix": 0, "loss": 0}

    def mix(x, y, rng):
        calls["mix"] += 1
        return MIX3(x, y, rng)

    def counting(logits, target):
        calls["loss"] += 1
        return (loss or losses.cross_entropy)(logits, target)

    model = tiny_model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    try:
        fit(
            model,
            optim.SGD(model.parameters(), lr=0.1),
            data,
            epochs=1,
            batch_size=4,
            seed=seed,
            mix=mix,
            loss=None if loss is None else counting,
            val_data=val_data,
            progress=False,
        )
    finally:
        after = model.state_dict()
        assert all(np.array_equal(before[k], after[k]) for k in before)
        assert calls == {"mix": 0, "loss": 0}


@pytest.mark.parametrize("loss", [None, losses.cross_entropy], ids=["default", "user"])
@pytest.mark.parametrize("seed", [0, 1, 2, 20])  # seed 20 puts y[37] in the first batch
def test_labels_out_of_range_with_a_mix_are_refused_before_any_step(seed, loss):
    X, y = r7_data()
    with pytest.raises(ValueError, match=r"^fit: train_data: .*\[0, 2\].* got y\[37\] = 3$"):
        _counting_fit((X, y), seed, loss)
    y[37] = 0
    with pytest.raises(ValueError, match=r"^fit: val_data: .*\[0, 2\].* got y\[5\] = 7$"):
        _counting_fit((X, y), seed, loss, val_data=(X[:8], np.array([0, 1, 2, 0, 1, 7, 0, 0])))
    y[37] = -1
    with pytest.raises(ValueError, match=r"^fit: train_data: .*>= 0 in y, got y\[37\] = -1$"):
        _counting_fit((X, y), seed, loss)
    y[37] = 0
    with pytest.raises(ValueError, match=r"^fit: val_data: .*>= 0 in y, got y\[1\] = -2$"):
        _counting_fit((X, y), seed, loss, val_data=(X[:2], np.array([0, -2])))


def test_val_data_with_a_mix_needs_class_indices():
    X, y = tiny_data()
    with pytest.raises(ValueError, match=r"fit: val_data: expected y as \(N,\) integer class"):
        _counting_fit((X, y), 0, losses.cross_entropy, val_data=(X, np.eye(3)[y]))


def test_a_mix_of_the_wrong_dtype_is_told_the_dtype_only():
    X, y = tiny_data(np.float32)

    def mix64(x, yb, rng):
        x_mixed, y_soft = MIX3(x, yb, rng)
        return x_mixed, y_soft.astype(np.float64)

    with pytest.raises(ValueError, match="dtype") as info:
        _fit_with(mix=mix64, data=(X, y), model=tiny_model(np.float32))
    assert "num_classes" not in str(info.value)
    with pytest.raises(ValueError, match=r"give the mix num_classes = K"):
        _fit_with(mix=lambda x, yb, rng: (x, yb))  # class indices back


def test_the_porting_rows_mix_calls_run_as_written():
    """docs/porting.md's MixUp / CutMix row: its deterministic calls run on class indices,
    and its fit example has the row's α (torchvision's MixUp(alpha=0.2))."""
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "porting.md"
    row = next(line for line in doc.read_text("utf-8").splitlines() if "v2.MixUp(" in line)
    alpha = float(re.search(r"v2\.MixUp\(alpha=([\d.]+)", row).group(1))
    namespace = {
        "functools": functools,
        "random_mix": random_mix,
        "mixup": mixup,
        "cutmix": cutmix,
        "K": K,
        "x": X0,
        "y": Y0,
        "lam": 0.3,
        "box": (1, 2, 3, 4),
    }
    example = re.search(r"`fit\(\.\.\., mix=(functools\.partial\(.*?\))\)`", row).group(1)
    mix = eval(example, namespace)
    assert mix.keywords["mixup_alpha"] == alpha
    assert mix(X0, Y0, RNG(0))[1].shape == (B, K)
    halves = re.search(r"Deterministic halves `(mixup\(.*?\))`, `(cutmix\(.*?\))`", row)
    for call in halves.groups():
        assert eval(call, namespace)[1].shape == (B, K), call
