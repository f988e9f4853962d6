"""Records for cnnmath.ops.activations: every registry entry with a PyTorch counterpart, gelu's
tanh form, prelu (with its learnable slope), and the ops outside the registry: the shrinks,
threshold, glu and rrelu (eval against PyTorch; training on given slopes against the literal
reference and finite differences, as PyTorch draws its own).

The backward of σ is ``g · σ′(x)``, except relu's, hardtanh's and relu6's, which are ops of
their own (``relu_backward``, ``hardtanh_backward``: a select, 0 outside whatever g holds). Samples hold at least 34 elements: PyTorch's CPU kernels
treat the tail of a tensor shorter than two vectors with scalar code whose NaN handling differs
from the vectorised code's for elu, selu, celu, hardswish, hardtanh and relu6 (gradient 1 at
NaN instead of NaN, or of 0); cnnmath follows the vectorised code, which is what nearly every
element of a real tensor meets.

Values exactly at a kink (0 for relu, ±3 for the hard ones, 20 for softplus) are not in the
samples, because central differences across a kink measure the average of the two one-sided
slopes; tests/test_activations.py checks them against PyTorch on its dense grid.

``nonfinite`` leaves out exactly the values listed in the ops' docstrings, where cnnmath
returns the mathematical limit and PyTorch an artefact NaN (∞·0, ∞/∞): ±∞ for gelu, gelu_tanh,
silu, mish and softsign; −∞ for hardswish.
"""

import functools

import numpy as np

from cnnmath.ops import activations as ops
from cnnmath.reference import activations as ref
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional

# Dips of the non-monotone ones, kept a step away from any kink.
_DIPS = {
    "gelu": ops.GELU_MINIMUM_AT,
    "gelu_tanh": ops.GELU_TANH_MINIMUM_AT,
    "silu": ops.SILU_MINIMUM_AT,
    "mish": ops.MISH_MINIMUM_AT,
    "hardswish": ops.HARDSWISH_MINIMUM_AT,
}

# name: keyword samples (as both cnnmath and PyTorch spell them)
_OPTIONS = {
    "leaky_relu": [{"negative_slope": 0.2}, {"negative_slope": -0.5}],
    "softplus": [{"beta": 2.0, "threshold": 10.0}, {"beta": 0.5}],
    "elu": [{"alpha": 0.5}, {"alpha": 2.0}],
    "hardtanh": [{"min_val": -2.5, "max_val": 0.5}, {"min_val": 0.0, "max_val": 6.0}],
    "celu": [{"alpha": 0.5}, {"alpha": 2.5}],
    "gelu": [{"approximate": "tanh"}, {"approximate": "none"}],
}


def _torch_counterparts():
    def F(name, **fixed):
        def call(torch, x, **kw):
            return getattr(torch.nn.functional, name)(x, **fixed, **kw)

        return call

    return {
        "identity": lambda torch, x: x.clone(),
        "relu": F("relu"),
        "leaky_relu": F("leaky_relu"),
        "sigmoid": lambda torch, x: torch.sigmoid(x),
        "tanh": lambda torch, x: torch.tanh(x),
        "softplus": F("softplus"),
        "elu": F("elu"),
        "gelu": F("gelu"),
        "silu": F("silu"),
        "mish": F("mish"),
        "step": lambda torch, x: torch.heaviside(x, torch.zeros((), dtype=x.dtype)),
        "relu6": F("relu6"),
        "hardtanh": F("hardtanh"),
        # F.hardsigmoid's float64 backward multiplies by 1/6 rounded to float32 (an error of
        # 3e-8); the same function composed of PyTorch ops differentiates exactly.
        "hardsigmoid": lambda torch, x: torch.nn.functional.relu6(x + 3.0) / 6.0,
        "hardswish": F("hardswish"),
        "selu": F("selu"),
        "celu": F("celu"),
        "softsign": F("softsign"),
        "logsigmoid": F("logsigmoid"),
        "gelu_tanh": F("gelu", approximate="tanh"),
    }


_NONFINITE = {
    "gelu": (np.nan,),
    "gelu_tanh": (np.nan,),
    "silu": (np.nan,),
    "mish": (np.nan,),
    "softsign": (np.nan,),
    "hardswish": (np.nan, np.inf),
}


def _samples(name):
    def make():
        seed = sum(map(ord, name))
        samples = [
            Sample("normal-40", (3 * randn(40, seed=seed),)),
            Sample("batch-2x3x7", (4 * randn(2, 3, 7, seed=seed + 1),)),
            Sample("image-2x3x4x5", (2 * randn(2, 3, 4, 5, seed=seed + 2),)),
            Sample("range-97", (np.linspace(-25.3, 24.9, 97),)),
            Sample(
                "tails-48",
                (np.concatenate([np.geomspace(1e-3, 60, 24), -np.geomspace(1e-3, 60, 24)]),),
            ),
        ]
        if name in _DIPS:
            dip = _DIPS[name]
            around = dip + np.linspace(-0.5, 0.5, 41) + 1e-3
            samples.append(Sample("around-dip", (around,)))
        for i, kw in enumerate(_OPTIONS.get(name, [])):
            label = "-".join(f"{k}{v}" for k, v in kw.items())
            samples.append(Sample(label, (3 * randn(6, 7, seed=seed + 10 + i),), kw))
        return samples

    return make


def _errors(name):
    f, df = getattr(ops, name), getattr(ops, f"{name}_grad")

    def make():
        cases = [
            ErrorCase("int", lambda: f(np.arange(3)), TypeError, rf"^{name}: x: expected dtype"),
            ErrorCase("list", lambda: df([1.0]), TypeError, rf"^{name}_grad: x: expected a numpy"),
        ]
        x = np.ones(3)
        bad = {
            "leaky_relu": ({"negative_slope": "0.1"}, TypeError, "negative_slope"),
            "softplus": ({"beta": 0}, ValueError, "beta: expected a finite number > 0"),
            "elu": ({"alpha": np.inf}, ValueError, "alpha"),
            "hardtanh": ({"min_val": 2.0}, ValueError, "min_val <= max_val"),
            "celu": ({"alpha": 0.0}, ValueError, "alpha: expected a finite number != 0"),
            "gelu": ({"approximate": "fast"}, ValueError, "approximate: expected 'none' or 'tanh'"),
        }
        if name in bad:
            kw, exc, match = bad[name]
            cases.append(ErrorCase(f"bad-{next(iter(kw))}", lambda: f(x, **kw), exc, match))
            cases.append(ErrorCase(f"grad-bad-{next(iter(kw))}", lambda: df(x, **kw), exc, match))
        return cases

    return make


def _record(name, torch):
    f, df = getattr(ops, name), getattr(ops, f"{name}_grad")
    rf, rdf = getattr(ref, name), getattr(ref, f"{name}_grad")
    differentiable = ops.ACTIVATIONS[name].differentiable
    backward = (lambda g, x, **kw: g * df(x, **kw)) if differentiable else None
    reference_backward = (lambda g, x, **kw: g * rdf(x, **kw)) if differentiable else None
    errors = _errors(name)
    if name == "relu":  # relu's backward is its own op, the one nn.ReLU runs
        backward, reference_backward = ops.relu_backward, ref.relu_backward
        errors = _with_backward_errors(errors, ops.relu_backward)
    elif name == "hardtanh":  # so is hardtanh's (nn.ReLU6 runs it with (0, 6))
        backward, reference_backward = ops.hardtanh_backward, ref.hardtanh_backward
        errors = _with_backward_errors(errors, ops.hardtanh_backward)
    elif name == "relu6":
        backward = functools.partial(ops.hardtanh_backward, min_val=0.0, max_val=6.0)
        reference_backward = functools.partial(ref.hardtanh_backward, min_val=0.0, max_val=6.0)
    return OpRecord(
        name=name,
        op=f,
        reference=rf,
        samples=_samples(name),
        torch=torch,
        backward=backward,
        reference_backward=reference_backward,
        errors=errors,
        nonfinite=_NONFINITE.get(name, (np.nan, np.inf, -np.inf)),
    )


def _with_backward_errors(errors, backward):
    name = backward.__name__

    def make():
        x = np.zeros((2, 3))
        return [
            *errors(),
            ErrorCase(
                "backward shape",
                lambda: backward(np.zeros((3, 2)), x),
                ValueError,
                rf"^{name}: grad_output: expected the shape of x",
            ),
            ErrorCase(
                "backward dtype",
                lambda: backward(np.zeros((2, 3), np.float32), x),
                TypeError,
                f"^{name}: .*dtype",
            ),
            ErrorCase(
                "backward int x",
                lambda: backward(x, x.astype(int)),
                TypeError,
                f"^{name}: x",
            ),
        ]

    return make


def _prelu_samples():
    return [
        Sample("image-per-channel", (randn(2, 3, 4, 5, seed=1), np.array([0.25, -0.5, 1.5]))),
        Sample("image-shared", (randn(2, 3, 4, 5, seed=2), np.array([0.1]))),
        Sample("rows-per-channel", (randn(12, 4, seed=3), np.array([0.3, 0.0, 2.0, -1.0]))),
        Sample("3d-axis1-channels", (randn(3, 5, 6, seed=4), np.linspace(-0.5, 1.5, 5))),
        Sample("vector", (randn(40, seed=5), np.array([0.25]))),
        Sample("default-slope", (randn(4, 3, 9, seed=6), np.full(3, 0.25))),
    ]


def _prelu_errors():
    x, w = np.zeros((2, 3, 4)), np.ones(3)
    return [
        ErrorCase("weight-length", lambda: ops.prelu(x, np.ones(2)), ValueError, r"weight.*\(3,\)"),
        ErrorCase("weight-2d", lambda: ops.prelu(x, np.ones((3, 1))), ValueError, "weight"),
        ErrorCase("mixed dtype", lambda: ops.prelu(x, w.astype(np.float32)), TypeError, "dtype"),
        ErrorCase("int x", lambda: ops.prelu(x.astype(int), w), TypeError, "prelu: x"),
        ErrorCase(
            "grad shape",
            lambda: ops.prelu_backward(np.zeros((2, 3)), x, w),
            ValueError,
            "grad_output",
        ),
    ]


def _make_records():
    torch_of = _torch_counterparts()
    records = [_record(name, torch_of[name]) for name in ops.ACTIVATIONS if name in torch_of]
    records.append(
        OpRecord(
            name="prelu",
            op=ops.prelu,
            reference=ref.prelu,
            samples=_prelu_samples,
            torch=lambda torch, x, w: torch.nn.functional.prelu(x, w),
            backward=ops.prelu_backward,
            reference_backward=ref.prelu_backward,
            grad_args=(0, 1),
            errors=_prelu_errors,
        )
    )
    return records + _shrink_records() + [_threshold_record(), _glu_record()] + _rrelu_records()


def _elementwise_samples(name, options):
    """The registry entries' samples (all of at least 34 elements) with each keyword set."""
    base = _samples(name)

    def make():
        return [
            Sample(f"{sample.name}-{'-'.join(f'{k}{v}' for k, v in kw.items())}", sample.arrays, kw)
            for sample in base()
            for kw in options
        ]

    return make


def _shrink_records():
    """hardshrink, softshrink (σ′ both ``shrink_grad``) and tanhshrink, against PyTorch; the
    NaN rule of the shrinks' gradient is that of PyTorch's vectorised kernel, which samples of
    34 elements or more exercise."""

    def errors(f, df, name, takes_lambd):
        def make():
            x = np.ones(3)
            cases = [
                ErrorCase("int", lambda: f(np.arange(3)), TypeError, rf"^{name}: x: expected"),
                ErrorCase("list", lambda: df([1.0]), TypeError, r"_grad: x: expected a numpy"),
            ]
            if takes_lambd:
                cases += [
                    ErrorCase(
                        "negative-lambd",
                        lambda: f(x, lambd=-0.1),
                        ValueError,
                        rf"^{name}: lambd: expected a number >= 0, got -0.1",
                    ),
                    ErrorCase("str-lambd", lambda: df(x, lambd="1"), TypeError, "lambd"),
                ]
            return cases

        return make

    records = []
    for name, takes_lambd in (("hardshrink", True), ("softshrink", True), ("tanhshrink", False)):
        f = getattr(ops, name)
        df = ops.shrink_grad if takes_lambd else ops.tanhshrink_grad
        rdf = ref.shrink_grad if takes_lambd else ref.tanhshrink_grad
        options = [{"lambd": 0.5}, {"lambd": 1.7}, {"lambd": 0.0}] if takes_lambd else [{}]
        records.append(
            OpRecord(
                name=name,
                op=f,
                reference=getattr(ref, name),
                samples=_elementwise_samples(name, options),
                torch=torch_functional(name),
                backward=functools.partial(lambda g, x, df=df, **kw: g * df(x, **kw), df=df),
                reference_backward=functools.partial(
                    lambda g, x, rdf=rdf, **kw: g * rdf(x, **kw), rdf=rdf
                ),
                errors=errors(f, df, name, takes_lambd),
            )
        )
    return records


def _threshold_record():
    def errors():
        x = np.ones(3)
        return [
            ErrorCase(
                "missing value",
                lambda: ops.threshold(x, threshold=0.5),
                TypeError,
                "value",
            ),
            ErrorCase(
                "str threshold",
                lambda: ops.threshold(x, threshold="1", value=0.0),
                TypeError,
                "threshold",
            ),
            ErrorCase(
                "int x",
                lambda: ops.threshold_grad(np.arange(3), threshold=0.0, value=0.0),
                TypeError,
                r"^threshold_grad: x: expected",
            ),
        ]

    return OpRecord(
        name="threshold",
        op=ops.threshold,
        reference=ref.threshold,
        samples=_elementwise_samples(
            "threshold",
            [
                {"threshold": 0.1, "value": 20.0},
                {"threshold": -1.3, "value": -1.3},
                {"threshold": 2.0, "value": 0.0},
            ],
        ),
        torch=torch_functional("threshold"),
        backward=lambda g, x, **kw: g * ops.threshold_grad(x, **kw),
        reference_backward=lambda g, x, **kw: g * ref.threshold_grad(x, **kw),
        errors=errors,
    )


def _glu_record():
    def samples():
        return [
            Sample("last-axis-40", (3 * randn(40, seed=41),)),
            Sample("channels", (2 * randn(2, 6, 3, 4, seed=42),), {"dim": 1}),
            Sample("rows", (2 * randn(4, 10, seed=43),), {"dim": 0}),
            Sample("negative-dim", (2 * randn(3, 8, 2, seed=44),), {"dim": -2}),
        ]

    def errors():
        x = np.ones((3, 4))
        return [
            ErrorCase("odd", lambda: ops.glu(x, 0), ValueError, r"^glu: x: expected an even size"),
            ErrorCase("dim range", lambda: ops.glu(x, 2), ValueError, r"dim: expected an axis"),
            ErrorCase("dim float", lambda: ops.glu(x, 1.0), TypeError, r"dim: expected an int"),
            ErrorCase(
                "grad shape",
                lambda: ops.glu_backward(np.ones((3, 4)), x, 1),
                ValueError,
                r"^glu_backward: grad_output: expected the output's shape \(3, 2\)",
            ),
        ]

    return OpRecord(
        name="glu",
        op=ops.glu,
        reference=ref.glu,
        samples=samples,
        torch=torch_functional("glu"),
        backward=ops.glu_backward,
        reference_backward=ref.glu_backward,
        errors=errors,
    )


# ------------------------------------------------------------------- rrelu
_RRELU_RANGES = [
    {},
    {"lower": 0.1, "upper": 0.3},
    {"lower": -0.5, "upper": 1.5},
    {"lower": 0.2, "upper": 0.2},
]


def _rrelu_slope_samples():
    """x with slopes a ~ U(lower, upper) drawn here (a fixed draw per sample)."""
    rng = np.random.default_rng(71)
    samples = []
    for i, kw in enumerate(_RRELU_RANGES):
        lower, upper = kw.get("lower", 1 / 8), kw.get("upper", 1 / 3)
        for shape in ((40,), (2, 3, 4, 5)):
            x = 2 * randn(*shape, seed=72 + i)
            a = rng.uniform(lower, upper, shape)
            label = "-".join(f"{k}{v}" for k, v in kw.items()) or "default"
            samples.append(Sample(f"{label}-{'x'.join(map(str, shape))}", (x, a), kw))
    return samples


def _rrelu_errors():
    x, a = np.ones((2, 3)), np.full((2, 3), 0.2)
    f, b = ops.rrelu, ops.rrelu_backward
    return [
        ErrorCase("int", lambda: f(np.arange(3)), TypeError, r"^rrelu: x: expected"),
        ErrorCase(
            "lower-above-upper",
            lambda: f(x, 0.5, 0.25),
            ValueError,
            r"^rrelu: lower: expected lower <= upper, got lower=0.5 > upper=0.25",
        ),
        ErrorCase("nan-lower", lambda: f(x, np.nan), ValueError, r"^rrelu: lower: expected a fin"),
        ErrorCase(
            "inf-upper", lambda: f(x, 0.1, np.inf), ValueError, r"^rrelu: upper: expected a f"
        ),
        ErrorCase(
            "str-upper", lambda: f(x, 0.1, "0.3"), TypeError, r"^rrelu: upper: expected a re"
        ),
        ErrorCase("training", lambda: f(x, training=1), TypeError, r"^rrelu: training: expected"),
        ErrorCase("rng", lambda: f(x, training=True, rng=3), TypeError, r"rng: expected a numpy"),
        ErrorCase(
            "slopes-shape",
            lambda: f(x, training=True, slopes=np.ones(3)),
            ValueError,
            r"^rrelu: slopes: expected the shape of x \(2, 3\), got \(3,\)",
        ),
        ErrorCase(
            "slopes-dtype",
            lambda: f(x, training=True, slopes=a.astype(np.float32)),
            TypeError,
            r"^rrelu: .*dtype",
        ),
        ErrorCase(
            "backward-no-slopes",
            lambda: b(x, x, training=True),
            ValueError,
            r"^rrelu_backward: slopes: expected the slopes the training forward drew",
        ),
        ErrorCase(
            "backward-shape",
            lambda: b(np.ones((3, 2)), x),
            ValueError,
            r"^rrelu_backward: grad_output: expected the shape of x",
        ),
        ErrorCase(
            "backward-range", lambda: b(x, x, 1.0, 0.0), ValueError, r"^rrelu_backward: lower"
        ),
    ]


def _rrelu_records():
    return [
        OpRecord(
            name="rrelu",
            op=ops.rrelu,
            reference=ref.rrelu,
            samples=_elementwise_samples("rrelu", _RRELU_RANGES),
            torch=lambda torch, x, **kw: torch.nn.functional.rrelu(x, **kw, training=False),
            backward=ops.rrelu_backward,
            reference_backward=ref.rrelu_backward,
            errors=_rrelu_errors,
        ),
        OpRecord(
            name="rrelu_fixed_slopes",
            op=lambda x, a, **kw: ops.rrelu(x, training=True, slopes=a, **kw),
            reference=lambda x, a, **kw: ref.rrelu(x, training=True, slopes=a, **kw),
            samples=_rrelu_slope_samples,
            backward=lambda g, x, a, **kw: ops.rrelu_backward(g, x, training=True, slopes=a, **kw),
            reference_backward=lambda g, x, a, **kw: ref.rrelu_backward(
                g, x, training=True, slopes=a, **kw
            ),
            errors=_rrelu_errors,
        ),
    ]


RECORDS = _make_records()
