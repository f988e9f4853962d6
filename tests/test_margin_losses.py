"""The losses of metric learning, margin classification and likelihoods (cnnmath._margin_losses)
and the distance ops they build on (cnnmath.ops.distance), against torch.nn.functional with
autograd in float64: value and every gradient for each reduction, the kinks' and clamps'
conventions (exact ties built from small integers), float32 within its rounding, the classes
against the functions and torch.nn's modules, bad input named, and one loss as fit's loss=."""

import math

import numpy as np
import pytest

from cnnmath import losses, nn, ops
from cnnmath.optim import SGD
from cnnmath.train import fit
from helpers import assert_close, rel_error

torch = pytest.importorskip("torch")
F = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]


def _torch(fn, arrays, differentiable, kwargs):
    """torch's value of fn(*arrays, **kwargs) and the gradients of its sum with respect to the
    arrays at the indices ``differentiable`` (zeros where autograd gives none)."""
    tensors = [torch.from_numpy(np.array(a)) if isinstance(a, np.ndarray) else a for a in arrays]
    for i in differentiable:
        tensors[i].requires_grad_()
    kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out = fn(*tensors, **kwargs)
    out.sum().backward()
    grads = [
        tensors[i].grad.numpy() if tensors[i].grad is not None else np.zeros(arrays[i].shape)
        for i in differentiable
    ]
    return out.detach().numpy(), grads


def _check(ours, theirs, arrays, differentiable, reduction, factor=1.0, **kwargs):
    """Our (loss, grad or grads) against torch's, in the SPEC's error measure (1e-12 of the
    scale in float64, 1e-5 in float32, times ``factor``)."""
    dtype = arrays[0].dtype
    loss, grads = ours(*arrays, reduction=reduction, **kwargs)
    want, want_grads = _torch(theirs, arrays, differentiable, {"reduction": reduction, **kwargs})
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
        assert loss.shape == want.shape
    else:
        assert isinstance(loss, float)
    assert_close(loss, want, dtype, factor)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(want_grads)
    for i, g, w in zip(differentiable, grads, want_grads):
        assert g.dtype == dtype and g.shape == arrays[i].shape
        assert_close(g, w, dtype, factor)
    return loss, grads


def _rng(seed):
    return np.random.default_rng(seed)


def _signs(shape, seed, dtype=np.float64):
    return np.where(_rng(seed).uniform(size=shape) < 0.5, -1, 1).astype(dtype)


# ------------------------------------------------------------------ distance ops


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf])
@pytest.mark.parametrize(("eps", "keepdim"), [(1e-6, False), (0.0, True), (0.3, False)])
def test_pairwise_distance_and_backward_are_torchs(p, eps, keepdim):
    rng = _rng(0)
    x1, x2 = rng.normal(size=(2, 6, 5))
    x2[0] = x1[0]  # a zero difference (eps = 0: the norm's kink at 0)
    x1[1, :2] = x2[1, :2]  # two zero entries in a row
    out = ops.pairwise_distance(x1, x2, p, eps, keepdim)
    t1, t2 = (torch.from_numpy(a.copy()).requires_grad_() for a in (x1, x2))
    want = F.pairwise_distance(t1, t2, p, eps, keepdim)
    assert out.shape == want.shape
    assert_close(out, want.detach().numpy())
    g = rng.normal(size=out.shape)
    g1, g2 = ops.pairwise_distance_backward(g, x1, x2, p, eps, keepdim)
    if p == 0:  # a count: no gradient (autograd gives none at all)
        assert not g1.any() and not g2.any()
        return
    want.backward(torch.from_numpy(g))
    assert_close(g1, t1.grad.numpy())
    assert_close(g2, t2.grad.numpy())


def test_pairwise_distance_infinity_shares_a_tie_and_works_in_float32():
    x1, x2 = np.array([[1.0, -1.0, 0.5]]), np.zeros((1, 3))
    g1, _ = ops.pairwise_distance_backward(np.ones(1), x1, x2, math.inf, 0.0)
    t1 = torch.from_numpy(x1.copy()).requires_grad_()
    F.pairwise_distance(t1, torch.from_numpy(x2), math.inf, 0.0).sum().backward()
    np.testing.assert_array_equal(g1, t1.grad.numpy())  # ½ to each of the two largest
    np.testing.assert_array_equal(g1, [[0.5, -0.5, 0.0]])
    a, b = _rng(1).normal(size=(2, 4, 7)).astype(np.float32)
    out = ops.pairwise_distance(a, b)
    assert out.dtype == np.float32
    assert_close(out, F.pairwise_distance(torch.from_numpy(a), torch.from_numpy(b)), np.float32)


@pytest.mark.parametrize(("dim", "eps"), [(1, 1e-8), (0, 1e-8), (-1, 0.5), (1, 0.0)])
def test_cosine_similarity_and_backward_are_torchs(dim, eps):
    rng = _rng(2)
    x1, x2 = rng.normal(size=(2, 6, 4))  # six vectors of four, as rows
    x1[0] = 0.0  # a zero vector: x/‖x‖ read as 0
    x1[1] *= 1e-10  # tiny vectors, clamped at eps: torch's gradient through the clamp
    x2[2] *= 1e-10
    x2[3] = 0.0
    if eps == 0.0:
        x1, x2 = x1[4:], x2[4:]  # nothing to clamp with: no zero vectors
    if dim == 0:
        x1, x2 = x1.T.copy(), x2.T.copy()
    out = ops.cosine_similarity(x1, x2, dim, eps)
    t1, t2 = (torch.from_numpy(a.copy()).requires_grad_() for a in (x1, x2))
    want = F.cosine_similarity(t1, t2, dim, eps)
    assert_close(out, want.detach().numpy())
    g = rng.normal(size=out.shape)
    want.backward(torch.from_numpy(g))
    g1, g2 = ops.cosine_similarity_backward(g, x1, x2, dim, eps)
    assert_close(g1, t1.grad.numpy())
    assert_close(g2, t2.grad.numpy())
    f32 = [v.astype(np.float32) for v in (x1, x2)]
    want32 = F.cosine_similarity(*map(torch.from_numpy, f32), dim, eps)
    assert_close(ops.cosine_similarity(*f32, dim, eps), want32, np.float32, 4.0)


@pytest.mark.parametrize(("p", "dim"), [(2.0, 1), (1.0, 0), (3.0, -1), (math.inf, 1)])
def test_normalize_and_backward_are_torchs(p, dim):
    rng = _rng(3)
    x = rng.normal(size=(4, 5, 3))
    index = [slice(None)] * 3
    index[(dim + 1) % 3] = 0
    x[tuple(index)] *= 1e-14  # vectors under eps = 1e-12: the clamp holds, no gradient through
    out = ops.normalize(x, p, dim)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = F.normalize(tx, p, dim)
    assert_close(out, want.detach().numpy())
    g = rng.normal(size=x.shape)
    want.backward(torch.from_numpy(g))
    assert_close(ops.normalize_backward(g, x, p, dim), tx.grad.numpy())


def test_normalize_passes_the_gradient_at_the_clamp_exactly_as_torch():
    x = np.array([[1e-12, 0.0, 0.0]])  # ‖x‖ = ε: clamp_min's gradient passes at equality
    tx = torch.from_numpy(x.copy()).requires_grad_()
    F.normalize(tx, dim=1).sum().backward()
    got = ops.normalize_backward(np.ones_like(x), x, dim=1)
    np.testing.assert_allclose(got, tx.grad.numpy(), rtol=1e-12, atol=1e-3)  # 0 and 1e12


# ------------------------------------------------------------------ the losses


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"margin": 0.4, "swap": True},
        {"margin": 2.5, "p": 1.0},
        {"margin": 0.7, "p": 3.0, "eps": 0.0, "swap": True},
        {"p": math.inf},
    ],
)
def test_triplet_margin_loss_is_torchs(kwargs, reduction):
    rng = _rng(4)
    a, p, n = rng.normal(size=(3, 9, 6))
    p[:3] = a[:3] + 0.1 * rng.normal(size=(3, 6))  # close positives: some triplets inactive
    n[3:5] = p[3:5] + 0.05  # the positive closer to the negative than the anchor: swap matters
    loss, _ = _check(
        losses.triplet_margin_loss, F.triplet_margin_loss, [a, p, n], [0, 1, 2], reduction, **kwargs
    )
    if reduction == "none":
        assert 0 < np.count_nonzero(loss) < loss.size  # margins active and inactive
    f32 = [v.astype(np.float32) for v in (a, p, n)]
    _check(
        losses.triplet_margin_loss, F.triplet_margin_loss, f32, [0, 1, 2], reduction, 4.0, **kwargs
    )


def test_triplet_margin_loss_ties_and_shapes_are_torchs():
    # integers with eps = 0: the hinge exactly at 0 (gradient flows) and the swap's min tied
    # (½ each); then one unbatched triplet and a (N, K, D) batch
    a = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    p = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    n = np.array([[2.0, 0.0], [3.0, 4.0], [1.0, 2.0]])
    for swap in (False, True):
        _check(
            losses.triplet_margin_loss,
            F.triplet_margin_loss,
            [a, p, n],
            [0, 1, 2],
            "sum",
            margin=1.0,
            p=1.0,
            eps=0.0,
            swap=swap,
        )
    grads = losses.triplet_margin_loss(a, p, n, margin=1.0, p=1.0, eps=0.0, reduction="sum")[1]
    assert grads[0][0].tolist() == [0.0, 0.0] and grads[1][0].tolist() == [1.0, 0.0]
    rng = _rng(5)
    for shape in [(6,), (2, 3, 4)]:
        arrays = list(rng.normal(size=(3, *shape)))
        for reduction in REDUCTIONS:
            _check(
                losses.triplet_margin_loss,
                F.triplet_margin_loss,
                arrays,
                [0, 1, 2],
                reduction,
                margin=2.0,
                swap=True,
            )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.5])
def test_cosine_embedding_loss_is_torchs(margin, reduction):
    rng = _rng(6)
    x1, x2 = rng.normal(size=(2, 10, 5))
    x2[:3] = x1[:3] + 0.3 * rng.normal(size=(3, 5))  # alike pairs: cosines above the margins
    for y in (_signs(10, 7), _signs(10, 7).astype(np.int64)):
        _check(
            losses.cosine_embedding_loss,
            F.cosine_embedding_loss,
            [x1, x2, y],
            [0, 1],
            reduction,
            margin=margin,
        )
    f32 = [x1.astype(np.float32), x2.astype(np.float32), _signs(10, 7, np.float32)]
    _check(
        losses.cosine_embedding_loss,
        F.cosine_embedding_loss,
        f32,
        [0, 1],
        reduction,
        4.0,
        margin=margin,
    )
    tiny = [x1 * 1e-6, x2 * 1e-6, _signs(10, 7)]  # |x|² ~ 1e-12: PyTorch's constant counts
    _check(
        losses.cosine_embedding_loss,
        F.cosine_embedding_loss,
        tiny,
        [0, 1],
        reduction,
        margin=margin,
    )
    one = [x1[0], x2[0], np.array(-1.0)]  # one pair (D,) with a 0-d target
    _check(
        losses.cosine_embedding_loss, F.cosine_embedding_loss, one, [0, 1], reduction, margin=margin
    )


def test_cosine_embedding_loss_at_its_kink_is_torchs():
    # orthogonal pairs: cos = 0 = margin exactly, where clamp_min lets the gradient through
    x1, x2 = np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 1.0], [0.0, -3.0]])
    y = np.array([-1.0, -1.0])
    _, grads = _check(
        losses.cosine_embedding_loss, F.cosine_embedding_loss, [x1, x2, y], [0, 1], "sum"
    )
    assert np.abs(grads[0]).sum() > 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("shape", "margin"), [((12,), 0.0), ((3, 4), 0.5), ((2, 3), -0.2)])
def test_margin_ranking_loss_is_torchs_exactly_in_its_gradient(shape, margin, reduction):
    rng = _rng(8)
    x1, x2 = rng.normal(size=(2, *shape))
    x2.reshape(-1)[0] = x1.reshape(-1)[0]  # a tie: −y·0 + m = m (the kink when m = 0)
    y = _signs(shape, 9)
    _, grads = _check(
        losses.margin_ranking_loss,
        F.margin_ranking_loss,
        [x1, x2, y],
        [0, 1],
        reduction,
        margin=margin,
    )
    want = _torch(
        F.margin_ranking_loss, [x1, x2, y], [0, 1], {"margin": margin, "reduction": reduction}
    )[1]
    for g, w in zip(grads, want):
        np.testing.assert_array_equal(g, w)  # ±1/n or 0: PyTorch's exactly
    f32 = [v.astype(np.float32) for v in (x1, x2, y)]
    _check(losses.margin_ranking_loss, F.margin_ranking_loss, f32, [0, 1], reduction, margin=margin)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5, -0.2])
def test_hinge_embedding_loss_is_torchs(margin, reduction):
    rng = _rng(10)
    x = rng.uniform(-1.0, 2.0, size=(4, 5))
    x[0, 0] = margin  # m − x = 0: the gradient flows (−1)
    y = _signs(x.shape, 11)
    y[0, 0] = -1
    _, (g,) = _check(
        losses.hinge_embedding_loss, F.hinge_embedding_loss, [x, y], [0], reduction, margin=margin
    )
    want = _torch(F.hinge_embedding_loss, [x, y], [0], {"margin": margin, "reduction": reduction})[
        1
    ][0]
    np.testing.assert_array_equal(g, want)
    _check(
        losses.hinge_embedding_loss,
        F.hinge_embedding_loss,
        [x.astype(np.float32), y.astype(np.int32)],
        [0],
        reduction,
        margin=margin,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss_is_torchs(reduction):
    x = _rng(12).normal(scale=3.0, size=(5, 6))
    x[0, :3] = [30.0, -30.0, 0.0]
    y = _signs(x.shape, 13)
    _check(losses.soft_margin_loss, F.soft_margin_loss, [x, y], [0], reduction)
    _check(
        losses.soft_margin_loss,
        F.soft_margin_loss,
        [x.astype(np.float32), y.astype(np.float32)],
        [0],
        reduction,
    )


def test_soft_margin_loss_stays_finite_where_torchs_overflows():
    x, y = np.array([-800.0, 800.0]), np.array([1, -1])
    loss, grad = losses.soft_margin_loss(x, y, reduction="none")
    np.testing.assert_array_equal(loss, [800.0, 800.0])
    np.testing.assert_array_equal(grad, [-1.0, 1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss_is_torchs(weighted, reduction):
    rng = _rng(14)
    x = rng.normal(scale=2.0, size=(6, 4))
    kwargs = {"weight": rng.uniform(0.1, 2.0, size=4)} if weighted else {}
    for t in ((rng.uniform(size=x.shape) < 0.4).astype(np.float64), rng.uniform(size=x.shape)):
        _check(
            losses.multilabel_soft_margin_loss,
            F.multilabel_soft_margin_loss,
            [x, t],
            [0],
            reduction,
            **kwargs,
        )
        _check(
            losses.multilabel_soft_margin_loss,
            F.multilabel_soft_margin_loss,
            [x[0], t[0]],
            [0],
            reduction,
            **kwargs,
        )
    f32 = {k: v.astype(np.float32) for k, v in kwargs.items()}
    _check(
        losses.multilabel_soft_margin_loss,
        F.multilabel_soft_margin_loss,
        [x.astype(np.float32), t.astype(np.float32)],
        [0],
        reduction,
        **f32,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("p", "margin", "weighted"), [(1, 1.0, False), (2, 1.0, True), (1, 0.2, True), (2, 3.0, False)]
)
def test_multi_margin_loss_is_torchs(p, margin, weighted, reduction):
    rng = _rng(15)
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 5, size=8)
    x[0] = [0.0, -margin, 0.5, -3.0, -3.0]  # z = 0 exactly at class 1: inactive (z > 0)
    y[0] = 0
    kwargs = {"p": p, "margin": margin}
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=5)
    _check(losses.multi_margin_loss, F.multi_margin_loss, [x, y], [0], reduction, **kwargs)
    for target in (np.array(3), np.array([3])):  # one unbatched sample
        _check(
            losses.multi_margin_loss, F.multi_margin_loss, [x[1], target], [0], reduction, **kwargs
        )
    f32 = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    _check(
        losses.multi_margin_loss,
        F.multi_margin_loss,
        [x.astype(np.float32), y],
        [0],
        reduction,
        **f32,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("full", "eps"), [(False, 1e-6), (True, 1e-6), (False, 0.05)])
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3), "number"])
def test_gaussian_nll_loss_is_torchs(var_shape, full, eps, reduction):
    rng = _rng(16)
    x, t = rng.normal(size=(2, 4, 3))
    if var_shape == "number":
        var = 0.7
    else:
        var = rng.uniform(0.01, 2.0, size=var_shape)
        var.reshape(-1)[0] = 1e-9  # under eps: clamped, its gradient passed straight through
        var.reshape(-1)[-1] = 0.0
    arrays = [x, t, var]
    differentiable = [0] if var_shape == "number" else [0, 2]
    loss, grads = losses.gaussian_nll_loss(x, t, var, full, eps, reduction)
    want, want_grads = _torch(
        F.gaussian_nll_loss,
        arrays,
        differentiable,
        {"full": full, "eps": eps, "reduction": reduction},
    )
    assert_close(loss, want)
    for g, w in zip(grads, want_grads):
        assert g.shape == w.shape
        assert_close(g, w)
    if var_shape == "number":  # the derivative with respect to the one number
        tv = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        F.gaussian_nll_loss(
            torch.from_numpy(x),
            torch.from_numpy(t),
            tv * torch.ones(4, 3, dtype=torch.float64),
            full,
            eps,
            reduction,
        ).sum().backward()
        assert isinstance(grads[1], float)
        assert grads[1] == pytest.approx(tv.grad.item(), rel=1e-12)
    else:
        f32 = [a.astype(np.float32) for a in arrays]
        _check(
            losses.gaussian_nll_loss,
            F.gaussian_nll_loss,
            f32,
            [0, 2],
            reduction,
            4.0,
            full=full,
            eps=eps,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("log_input", "full", "eps"),
    [(True, False, 1e-8), (True, True, 1e-8), (False, False, 1e-8), (False, True, 0.1)],
)
def test_poisson_nll_loss_is_torchs(log_input, full, eps, reduction):
    rng = _rng(17)
    t = rng.poisson(2.0, size=(5, 4)).astype(np.float64)
    t[0, :3] = [0.0, 1.0, 0.5]  # at and under the Stirling term's threshold t > 1
    x = rng.normal(size=t.shape) if log_input else rng.uniform(0.0, 4.0, size=t.shape)
    if not log_input:
        x[1, 0] = 0.0  # a rate of 0: log(0 + eps)
    kwargs = {"log_input": log_input, "full": full, "eps": eps}
    _check(losses.poisson_nll_loss, F.poisson_nll_loss, [x, t], [0], reduction, **kwargs)
    _check(
        losses.poisson_nll_loss,
        F.poisson_nll_loss,
        [x.astype(np.float32), t.astype(np.float32)],
        [0],
        reduction,
        4.0,
        **kwargs,
    )


# ------------------------------------------------------------------ the classes


def _triples(seed):
    return list(_rng(seed).normal(size=(3, 5, 4)))


MODULES = [
    ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}, _triples(20)),
    ("TripletMarginLoss", {"reduction": "none", "eps": 0.0}, _triples(21)),
    ("CosineEmbeddingLoss", {"margin": 0.1}, [*_triples(22)[:2], _signs(5, 23)]),
    (
        "MarginRankingLoss",
        {"margin": 0.2, "reduction": "sum"},
        [*_triples(24)[:2], _signs((5, 4), 25)],
    ),
    ("HingeEmbeddingLoss", {"margin": 0.5}, [_triples(26)[0], _signs((5, 4), 27)]),
    ("SoftMarginLoss", {"reduction": "none"}, [_triples(28)[0], _signs((5, 4), 29)]),
    (
        "MultiLabelSoftMarginLoss",
        {"weight": np.linspace(0.5, 2.0, 4)},
        [_triples(30)[0], (_triples(31)[0] > 0).astype(np.float64)],
    ),
    (
        "MultiMarginLoss",
        {"p": 2, "margin": 0.5, "weight": np.linspace(0.5, 2.0, 4)},
        [_triples(32)[0], np.array([0, 3, 1, 2, 3])],
    ),
    ("GaussianNLLLoss", {"full": True, "eps": 0.1}, [*_triples(33)[:2], np.abs(_triples(34)[0])]),
    (
        "PoissonNLLLoss",
        {"log_input": False, "full": True, "eps": 1e-3},
        [np.abs(_triples(35)[0]), np.floor(np.abs(_triples(36)[0]) * 3)],
    ),
]
MODULE_IDS = [f"{name}-{'-'.join(options) or 'defaults'}" for name, options, _ in MODULES]
FUNCTIONS = {
    "TripletMarginLoss": "triplet_margin_loss",
    "CosineEmbeddingLoss": "cosine_embedding_loss",
    "MarginRankingLoss": "margin_ranking_loss",
    "HingeEmbeddingLoss": "hinge_embedding_loss",
    "SoftMarginLoss": "soft_margin_loss",
    "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss",
    "MultiMarginLoss": "multi_margin_loss",
    "GaussianNLLLoss": "gaussian_nll_loss",
    "PoissonNLLLoss": "poisson_nll_loss",
}


@pytest.mark.parametrize(("name", "options", "arrays"), MODULES, ids=MODULE_IDS)
def test_the_classes_are_their_functions_and_torchs_modules(name, options, arrays):
    criterion = getattr(losses, name)(**options)
    loss, grads = criterion(*arrays)
    want_loss, want_grads = getattr(losses, FUNCTIONS[name])(*arrays, **options)
    np.testing.assert_array_equal(loss, want_loss)
    grads = grads if isinstance(grads, tuple) else (grads,)
    want_grads = want_grads if isinstance(want_grads, tuple) else (want_grads,)
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(criterion.forward(*arrays)[0], loss)
    torch_options = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in options.items()
    }
    module = getattr(torch.nn, name)(**torch_options)
    assert repr(criterion) == repr(module)
    for key in ("reduction", "margin", "p", "eps", "swap", "full", "log_input"):
        if hasattr(module, key):
            assert getattr(criterion, key) == getattr(module, key), key
    want = module(*(torch.from_numpy(a) for a in arrays))
    assert_close(loss, want.detach().numpy())


def test_positional_options_follow_torchs_order():
    a, p, n = _triples(40)
    assert losses.TripletMarginLoss(0.5, 1.0, 0.0, True)(a, p, n)[0] == pytest.approx(
        F.triplet_margin_loss(*map(torch.from_numpy, (a, p, n)), 0.5, 1.0, 0.0, True).item(),
        rel=1e-12,
    )
    assert losses.MultiMarginLoss(2, 0.5).options["p"] == 2
    assert losses.PoissonNLLLoss(False, True).options == {
        "log_input": False,
        "full": True,
        "eps": 1e-8,
        "reduction": "mean",
    }
    with pytest.raises(TypeError):
        losses.GaussianNLLLoss(True)  # keyword-only, as PyTorch's
    with pytest.raises(TypeError):
        losses.SoftMarginLoss("sum")


# ------------------------------------------------------------------ bad input

X, Y = np.zeros((3, 4)), np.ones((3, 4))
BAD = [
    (lambda: losses.triplet_margin_loss(X, X, X[:2]), ValueError, ["negative", "(3, 4)", "(2, 4)"]),
    (lambda: losses.triplet_margin_loss(X, X, X, margin=0.0), ValueError, ["margin", "> 0"]),
    (lambda: losses.triplet_margin_loss(X, X, X, p=-1.0), ValueError, ["p", ">= 0"]),
    (lambda: losses.triplet_margin_loss(X, X, X, swap=1), TypeError, ["swap"]),
    (
        lambda: losses.triplet_margin_loss(X, X.astype(np.float32), X),
        TypeError,
        ["positive is float32"],
    ),
    (lambda: losses.cosine_embedding_loss(X, X, np.ones(4)), ValueError, ["target", "(3,)"]),
    (
        lambda: losses.cosine_embedding_loss(X, X, np.array([1, 0, -1])),
        ValueError,
        ["target", "1 or -1", "target[1] = "],
    ),
    (
        lambda: losses.cosine_embedding_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.ones(2)),
        ValueError,
        ["input1", "(N, D)"],
    ),
    (lambda: losses.margin_ranking_loss(X, X, Y * 2), ValueError, ["target[0, 0]", "1 or -1"]),
    (lambda: losses.margin_ranking_loss(X, X, Y.astype(bool)), TypeError, ["target", "bool"]),
    (lambda: losses.hinge_embedding_loss(X, np.zeros((3, 4))), ValueError, ["target", "1 or -1"]),
    (lambda: losses.hinge_embedding_loss(X.astype(int), Y), TypeError, ["input", "float"]),
    (lambda: losses.soft_margin_loss(X, Y, reduction="avg"), ValueError, ["reduction", "'avg'"]),
    (
        lambda: losses.multilabel_soft_margin_loss(X, Y, weight=np.ones(3)),
        ValueError,
        ["weight", "broadcasts"],
    ),
    (
        lambda: losses.multi_margin_loss(X, np.array([0, 4, 1])),
        ValueError,
        ["target[1] = 4", "[0, 3]"],
    ),
    (
        lambda: losses.multi_margin_loss(X, np.array([0.0, 1.0, 1.0])),
        TypeError,
        ["target", "integer"],
    ),
    (lambda: losses.multi_margin_loss(X, np.array([0, 1])), ValueError, ["target", "(3,)"]),
    (lambda: losses.multi_margin_loss(X, np.array([0, 1, 2]), p=3), ValueError, ["p", "1 or 2"]),
    (
        lambda: losses.multi_margin_loss(X, np.array([0, 1, 2]), weight=np.ones(3)),
        ValueError,
        ["weight", "(4,)"],
    ),
    (lambda: losses.gaussian_nll_loss(X, Y, -Y), ValueError, ["var", ">= 0", "var[0, 0]"]),
    (lambda: losses.gaussian_nll_loss(X, Y, np.ones(4)), ValueError, ["var", "(4,)"]),
    (lambda: losses.gaussian_nll_loss(X, Y, -1.0), ValueError, ["var", ">= 0"]),
    (lambda: losses.gaussian_nll_loss(X, Y, Y, full="yes"), TypeError, ["full"]),
    (
        lambda: losses.poisson_nll_loss(X - 1, Y, log_input=False),
        ValueError,
        ["input", "rates", "input[0, 0]"],
    ),
    (lambda: losses.poisson_nll_loss(X, Y[:2]), ValueError, ["target", "(3, 4)"]),
    (lambda: ops.pairwise_distance(X, X[:, :3]), ValueError, ["x2", "broadcast"]),
    (lambda: ops.cosine_similarity(X, X, dim=2), ValueError, ["dim"]),
    (lambda: ops.normalize(X, p="2"), TypeError, ["p"]),
    (lambda: ops.normalize_backward(X[:2], X), ValueError, ["grad_output", "(3, 4)"]),
    (lambda: ops.pairwise_distance_backward(np.ones(4), X, X), ValueError, ["grad_output", "(3,)"]),
    (lambda: losses.TripletMarginLoss(reduction="avg"), ValueError, ["TripletMarginLoss"]),
]


@pytest.mark.parametrize(("call", "error", "words"), BAD)
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


# ------------------------------------------------------------------ in fit


def test_soft_margin_loss_trains_in_fit_as_torch():
    # fit's contract: loss(z, y) -> (scalar, ∂/∂z); ±1 targets (N, 1) as integers
    rng = _rng(50)
    X, y = rng.normal(size=(10, 4)), np.where(rng.uniform(size=(10, 1)) < 0.5, -1, 1)
    model = nn.Sequential(nn.Linear(4, 1, rng=1, dtype=np.float64))
    w0, b0 = model[0].weight.data.copy(), model[0].bias.data.copy()
    history = fit(
        model,
        SGD(model.parameters(), lr=0.5),
        (X, y),
        epochs=3,
        batch_size=10,
        loss=losses.soft_margin_loss,
        progress=False,
    )
    layer = torch.nn.Linear(4, 1).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w0))
        layer.bias.copy_(torch.from_numpy(b0))
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    for record in history:
        opt.zero_grad()
        loss = F.soft_margin_loss(layer(torch.from_numpy(X)), torch.from_numpy(y).double())
        loss.backward()
        opt.step()
        assert record["loss"] == pytest.approx(loss.item(), rel=1e-12)
        assert record["train_accuracy"] is None
    np.testing.assert_allclose(model[0].weight.data, layer.weight.detach().numpy(), rtol=1e-12)


def test_multilabel_soft_margin_loss_takes_multi_hot_integer_targets_as_torch():
    x = np.random.default_rng(0).standard_normal((4, 5))
    t = (np.random.default_rng(1).random((4, 5)) > 0.5).astype(np.int64)
    loss, grad = losses.multilabel_soft_margin_loss(x, t)
    tx = torch.from_numpy(x).requires_grad_()
    want = torch.nn.functional.multilabel_soft_margin_loss(tx, torch.from_numpy(t))
    want.backward()
    assert loss == pytest.approx(want.item(), rel=1e-14)
    assert rel_error(grad, tx.grad.numpy()) <= 1e-14
    with pytest.raises(ValueError, match="target: expected integer labels 0 or 1"):
        losses.multilabel_soft_margin_loss(x, 2 * t)
