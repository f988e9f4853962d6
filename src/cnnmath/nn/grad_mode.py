"""Whether forward passes keep what a backward pass needs: ``no_grad`` and ``enable_grad``,
PyTorch's ``torch.no_grad`` and ``torch.enable_grad``, per thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_GRAD_MODE = threading.local()


def grad_enabled() -> bool:
    """Whether forward passes keep what a backward pass needs (False inside ``no_grad``,
    in this thread)."""
    return getattr(_GRAD_MODE, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside, forward passes keep nothing for a backward pass (PyTorch's ``torch.no_grad``,
    per thread as it): a container lets each layer's context go as soon as the layer has
    run, and a Graph each value after its last reader, so inference holds about one layer's
    activations at a time instead of all of them. The outputs are the same; a
    ``model.backward`` after such a forward raises, saying so. ``predict``, ``evaluate``
    and ``fit``'s validation run under it.

    >>> import numpy as np
    >>> from cnnmath import nn
    >>> model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    >>> with nn.no_grad():
    ...     model(np.ones((1, 3), np.float32)).shape
    (1, 2)
    """
    before = grad_enabled()
    _GRAD_MODE.enabled = False
    try:
        yield
    finally:
        _GRAD_MODE.enabled = before


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Inside, forward passes keep what a backward pass needs again, even within
    ``no_grad`` (PyTorch's ``torch.enable_grad``, per thread): for a function that must
    differentiate whatever its caller's mode."""
    before = grad_enabled()
    _GRAD_MODE.enabled = True
    try:
        yield
    finally:
        _GRAD_MODE.enabled = before


class _NoGradCall:
    """The context a top-level forward leaves under ``no_grad``: nothing to differentiate."""

    __slots__ = ()


_NO_GRAD_CALL = _NoGradCall()
