"""Einstein summation as a literal loop over every assignment of values to the labels.

For an equation "term_1,…,term_K->out", each axis of operand k carries the label written at
its place in term_k ("..." standing for the axes left over, right-aligned across operands);
for every assignment v of an index to each label,

    Y[v(out)] += Π_k X_k[v(term_k)],

an axis of size 1 read at index 0 whatever its label's value (broadcasting). Without "->" the
output is "..." followed by the letters written once, in ASCII order. The gradient of operand k
is the same loop with the product's factor k left out,

    ∂ℓ/∂X_k[v(term_k)] += G[v(out)] · Π_{j≠k} X_j[v(term_j)],

which handles repeated labels (a diagonal) and broadcast axes by itself. Accumulates in
float64; results in the operands' dtype. Labels here are the equation's letters, and the
axes under "..." are labelled 0, 1, … from the right.
"""

from __future__ import annotations

import itertools

import numpy as np


def _labels(equation, shapes):
    """Each operand's labels, the output's labels, each label's size."""
    equation = equation.replace(" ", "")
    if "->" in equation:
        lhs, out = equation.split("->")
    else:
        lhs, out = equation, None
    terms = lhs.split(",")
    inputs = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            before, after = term.split("...")
            n = len(shape) - len(before) - len(after)
            inputs.append([*before, *range(n - 1, -1, -1), *after])
        else:
            inputs.append(list(term))
    n_dots = max(
        (len(shape) - len(t) + 3 for t, shape in zip(terms, shapes) if "..." in t), default=0
    )
    dots = list(range(n_dots - 1, -1, -1))
    if out is None:
        letters = [c for t in terms for c in t if c != "."]
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        output = (dots if "..." in lhs else []) + once
    else:
        before, _, after = out.partition("...")
        output = [*before, *(dots if "..." in out else []), *after]
    sizes = {}
    for labels, shape in zip(inputs, shapes):
        for label, n in zip(labels, shape):
            if n != 1:
                sizes[label] = n
            sizes.setdefault(label, n)
    return inputs, output, sizes


def _at(labels, shape, v):
    """The index of an operand at the assignment v (index 0 along an axis of size 1)."""
    return tuple(0 if n == 1 else v[label] for label, n in zip(labels, shape))


def _assignments(sizes):
    names = list(sizes)
    for values in itertools.product(*(range(sizes[name]) for name in names)):
        yield dict(zip(names, values))


def einsum(equation, *operands):
    """Einstein summation, as ``numpy.einsum`` / ``torch.einsum``, by the module's loop.

    For every assignment v of an index to each label of ``equation`` (0-based),

        Y[v(out)] += Π_k X_k[v(term_k)]

    with an axis of size 1 read at index 0 (broadcasting), "..." labelling the leftover axes
    from the right, and, without "->", the output "..." followed by the letters written once,
    in ASCII order. Accumulates in float64.

    Parameters
    ----------
    equation : str, "term_1,…,term_K->out" or "term_1,…,term_K"
    *operands : K arrays, operand k with one axis per label of term_k

    Returns
    -------
    array with one axis per output label (each of its label's size), of the first operand's
    dtype.
    """
    shapes = [x.shape for x in operands]
    inputs, output, sizes = _labels(equation, shapes)
    y = np.zeros([sizes[label] for label in output], np.float64)
    for v in _assignments(sizes):
        term = 1.0
        for labels, x in zip(inputs, operands):
            term *= float(x[_at(labels, x.shape, v)])
        y[tuple(v[label] for label in output)] += term
    return y.astype(operands[0].dtype)


def einsum_backward(equation, grad_output, *operands):
    """Gradients of :func:`einsum` with respect to every operand: the same loop with
    factor k left out,

        ∂ℓ/∂X_k[v(term_k)] += G[v(out)] · Π_{j≠k} X_j[v(term_j)]

    over every assignment v: a repeated label (a diagonal) and a broadcast axis (summed over)
    need no special case. Accumulates in float64.

    Parameters
    ----------
    equation : str, as for :func:`einsum`
    grad_output : array of the shape :func:`einsum` returns
    *operands : the K operands

    Returns
    -------
    tuple of K arrays, gradient k of operand k's shape and dtype.
    """
    shapes = [x.shape for x in operands]
    inputs, output, sizes = _labels(equation, shapes)
    grads = [np.zeros(x.shape, np.float64) for x in operands]
    for v in _assignments(sizes):
        g = float(grad_output[tuple(v[label] for label in output)])
        for k, (labels, x) in enumerate(zip(inputs, operands)):
            term = g
            for j, (labels_j, x_j) in enumerate(zip(inputs, operands)):
                if j != k:
                    term *= float(x_j[_at(labels_j, x_j.shape, v)])
            grads[k][_at(labels, x.shape, v)] += term
    return tuple(d.astype(x.dtype) for d, x in zip(grads, operands))
