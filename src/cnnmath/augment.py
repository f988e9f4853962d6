"""Data augmentation for training batches: random transformations drawn from the loop's generator.

An augmentation is a function ``(x_batch, rng) -> x_batch`` that ``cnnmath.train.fit`` applies
to every training batch. It draws all its randomness from the ``numpy.random.Generator`` it is
given — the training loop's one stream — so a run is repeatable from its seed and resumes from a
checkpoint exactly (the generator's state is part of the checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_float_array, check_ndim, positive_int, real_number

__all__ = ["compose", "random_flip", "random_shift"]


def _batch(x: np.ndarray, rng: object, func: str) -> None:
    """x a (B, C, H, W) float batch and rng a Generator, or the error naming which is not."""
    check_float_array("x", x, func=func)
    check_ndim(
        "x",
        x,
        (4,),
        func=func,
        layout="(B, C, H, W)",
        hint="for one image add the batch axis with x[None]" if x.ndim == 3 else "",
    )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{func}: rng: expected a numpy.random.Generator, got "
            f"{type(rng).__name__} {rng!r}; make one with numpy.random.default_rng("
            "seed)"
        )


def random_shift(x: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Translate each image of a batch by its own random whole-pixel offset, zeros shifted in.

    For image β, offsets (δ_β, γ_β) are drawn uniformly from {−s, …, s}² (s = ``max_shift``)
    and ``out[β, c, i, j] = x[β, c, i + δ_β, j + γ_β]`` (0 where that falls outside the
    image). Done by one gather from the zero-padded batch — no loop over examples.

    This is CIFAR's "random crop with padding" (torchvision's ``RandomCrop(H, padding=s)``):
    a window of the image's size at a uniform place in the zero-padded image is the image
    shifted by a uniform offset in {−s, …, s}².

    x : (B, C, H, W) float32 or float64; rng : a ``numpy.random.Generator`` (the training
    loop's stream; a seed would repeat the same shifts every call); max_shift : int >= 0.
    Returns a new array like x. Draws 2B integers from ``rng``. Bad arguments raise
    ``TypeError``/``ValueError`` naming the argument, what was expected and what was given.

    >>> x = np.ones((3, 1, 4, 4))
    >>> random_shift(x, np.random.default_rng(0), 0).shape
    (3, 1, 4, 4)
    """
    func = "random_shift"
    _batch(x, rng, func)
    s = positive_int("max_shift", max_shift, func=func, minimum=0)
    B, C, H, W = x.shape
    offsets = rng.integers(-s, s + 1, size=(2, B))
    if s == 0:
        return x.copy()
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    rows = np.arange(H)[None, :] + s + offsets[0][:, None]  # (B, H): i + δ_β in padded indices
    cols = np.arange(W)[None, :] + s + offsets[1][:, None]  # (B, W)
    beta = np.arange(B)[:, None, None, None]
    chan = np.arange(C)[None, :, None, None]
    return padded[beta, chan, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image of a batch left to right with probability p, on its own draw:
    ``out[β] = x[β, :, :, ::-1]`` where u_β < p, else x[β], with u_β ~ U[0, 1) (torchvision's
    ``RandomHorizontalFlip(p)`` per image). One select over the batch, no loop over images.

    x : (B, C, H, W) float32 or float64; rng : a ``numpy.random.Generator``; p in [0, 1].
    Returns a new array like x. Draws B uniforms from ``rng``.

    >>> x = np.arange(3.0).reshape(1, 1, 1, 3)
    >>> random_flip(x, np.random.default_rng(0), p=1.0)[0, 0, 0].tolist()
    [2.0, 1.0, 0.0]
    """
    func = "random_flip"
    _batch(x, rng, func)
    p = real_number("p", p, func=func, low=0.0, high=1.0)
    flip = np.asarray(rng.random(x.shape[0]) < p)
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


def compose(*augments: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Callable:
    """One augmentation that applies ``augments`` in order, each drawing from the same
    generator (``fit(..., augment=compose(random_flip, random_shift))``).

    >>> both = compose(random_flip, random_shift)
    >>> both(np.zeros((2, 1, 4, 4)), np.random.default_rng(0)).shape
    (2, 1, 4, 4)
    """
    for i, f in enumerate(augments):
        if not callable(f):
            raise TypeError(f"compose: augments[{i}]: expected a function (x, rng) -> x, got {f!r}")

    def composed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for f in augments:
            x = f(x, rng)
        return x

    return composed
