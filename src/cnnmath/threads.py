"""How many threads cnnmath uses: ``set_num_threads`` / ``get_num_threads``, as in PyTorch.

Every op runs on all the cores this process may use unless told otherwise, and its result
is the same bit for bit at any thread count (``cnnmath.ops._threads`` says how). The count is,
from the strongest to the weakest:

1. ``cnnmath.set_num_threads(n)``;
2. a limit on NumPy's BLAS set from outside, e.g. ``with threadpoolctl.threadpool_limits(1):``
   (dask's workers do this) or ``OPENBLAS_NUM_THREADS=1``: no op uses more threads than the
   BLAS was allowed when it started;
3. ``OMP_NUM_THREADS``, read when the count is first needed;
4. the cores in the process's CPU affinity.

NumPy's BLAS is reached through threadpoolctl, the library NumPy's own ecosystem uses for this.
"""

from __future__ import annotations

from typing import Any

from .ops import _threads

__all__ = ["get_num_threads", "set_num_threads"]


def _numpy_blas() -> list[Any]:
    """threadpoolctl's controllers of the BLAS NumPy calls (those under numpy's own folder
    when there are several, as when PyTorch brings its own)."""
    from threadpoolctl import ThreadpoolController

    found = ThreadpoolController().select(user_api="blas").lib_controllers
    numpy_own = [lib for lib in found if "numpy" in str(lib.filepath)]
    return numpy_own or found


def _get_set(lib: Any) -> tuple[Any, Any]:
    """Fast reader and writer of one BLAS's thread count.

    An op reads the count once and writes it twice, so these run on every call: for
    OpenBLAS on its own threads they are the library's two C functions, several times quicker
    than threadpoolctl's methods (docs/performance.md, "Where a training epoch goes"), which
    also ignore a write from any thread but the first that wrote, where cnnmath's ops may run
    in any thread of the caller.
    """
    try:
        if lib.internal_api == "openblas" and lib.threading_layer != "openmp":
            get = lib._get_symbol("openblas_get_num_threads")
            set_ = lib._get_symbol("openblas_set_num_threads")
            if get is not None and set_ is not None:
                return get, set_
    except AttributeError:  # another threadpoolctl version: its public methods below
        pass
    return (lambda: int(lib.num_threads)), lib.set_num_threads


def _install() -> None:
    global _set_blas
    try:
        libs = _numpy_blas()
    except ImportError:  # threadpoolctl is a dependency; without it the BLAS keeps its own count
        libs = []
    if not libs:
        _threads.install_blas(None, None)
        return

    pairs = [_get_set(lib) for lib in libs]
    if len(pairs) == 1:
        get, set_ = pairs[0]
    else:

        def get() -> int:
            return min(int(g()) for g, _ in pairs)

        def set_(n: int) -> None:
            for _, s in pairs:
                s(n)

    _threads.install_blas(get, set_)
    _set_blas = set_


_set_blas: Any = None
_install()


def set_num_threads(n: int) -> None:
    """Use n threads from now on: in cnnmath's ops and in NumPy's BLAS (n >= 1).

    Like ``torch.set_num_threads``: the setting holds for the process until changed.
    Results do not depend on it, only the time they take.

    >>> import cnnmath
    >>> before = cnnmath.get_num_threads()
    >>> cnnmath.set_num_threads(1); cnnmath.get_num_threads()
    1
    >>> cnnmath.set_num_threads(before)
    """
    _threads.set_num_threads(n)
    if _set_blas is not None:
        _set_blas(n)


def get_num_threads() -> int:
    """The number of threads cnnmath's ops use: the last ``set_num_threads``, else
    ``OMP_NUM_THREADS``, else the cores this process may run on (a BLAS limit set from
    outside still caps each op; module docstring)."""
    return _threads.get_num_threads()
