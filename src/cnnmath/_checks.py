"""Argument validation shared by every public function.

Each check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (right kind,
wrong value) with a message that names the argument, says what was expected and what was
given, and — for missing axes — how to add them. Nothing here uses ``assert``: user input is
checked the same with ``python -O``.
"""

from __future__ import annotations

import errno
import math
import os
import reprlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:  # another library's tensor, a NumPy scalar
        return f"{type(value).__name__} of dtype {dtype} and shape {tuple(shape)}"
    return f"{type(value).__name__} {_SHORT.repr(value)}"


_SHORT = reprlib.Repr()  # a given list of a whole image: its first items, not a megabyte
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 3, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = 200  # a path or a word whole


def check_float_array(name: str, x: Any, *, func: str | None = None) -> np.ndarray:
    """Return ``x`` if it is a float32 or float64 ndarray, else raise ``TypeError``.

    Integer and boolean arrays are refused rather than converted: an 8-bit image silently
    turned into floats in one op but not the next is how results drift. The message says how
    to convert. A masked array (``numpy.ma.MaskedArray``) is refused too: the ops compute on
    every element, so its mask would be silently ignored.
    """
    where = f"{func}: " if func else ""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{where}{name}: expected a plain numpy.ndarray, got a numpy.ma.MaskedArray (its "
            f"mask would be ignored); pass {name}.filled(value) or numpy.asarray({name}) to "
            "say what masked elements should be"
        )
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{where}{name}: expected a numpy.ndarray of float32 or float64, got "
            f"{_describe(x)}; wrap it with numpy.asarray(..., dtype=numpy.float64)"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{where}{name}: expected dtype float32 or float64, got {x.dtype}; "
            f"convert explicitly, e.g. {name}.astype(numpy.float64) (images: divide by 255)"
        )
    return x


def check_same_dtype(func: str, **arrays: np.ndarray | None) -> np.dtype:
    """Every non-None array must share one dtype; return it. Mixed float32/float64 is an error."""
    given = {k: v for k, v in arrays.items() if v is not None}
    dtypes = {v.dtype for v in given.values()}
    if len(dtypes) > 1:
        listing = ", ".join(f"{k} is {v.dtype}" for k, v in given.items())
        raise TypeError(
            f"{func}: expected all arrays to share one dtype, got {listing}; "
            "convert one of them with .astype(...)"
        )
    return next(iter(dtypes))


def check_ndim(
    name: str, x: np.ndarray, allowed: Sequence[int], *, func: str, layout: str, hint: str = ""
) -> None:
    """Raise ``ValueError`` unless ``x.ndim`` is in ``allowed``; ``layout`` names the axes."""
    if x.ndim not in allowed:
        wanted = " or ".join(f"{n}-D" for n in allowed)
        extra = f"; {hint}" if hint else ""
        raise ValueError(
            f"{func}: {name}: expected a {wanted} array {layout}, got {x.ndim}-D with shape "
            f"{x.shape}{extra}"
        )


def batched_image(name: str, x: np.ndarray, *, func: str) -> tuple[np.ndarray, bool]:
    """Accept (N, C, H, W) or one unbatched (C, H, W) image; return the 4-D view and a flag.

    A 2-D array is refused with the indexing that adds the missing axes: a bare matrix could
    be (H, W) of one channel or (C, H*W) flattened, and guessing would be silent broadcasting.
    """
    check_ndim(
        name,
        x,
        (3, 4),
        func=func,
        layout="(N, C, H, W), or (C, H, W) for one image",
        hint=f"for a single-channel image add the axes with {name}[None, None]"
        if x.ndim == 2
        else "",
    )
    if x.ndim == 3:
        return x[None], True
    return x, False


def int_pair(name: str, value: Any, *, minimum: int, func: str) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= minimum``, as a (height, width) tuple."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected an int or a pair of ints, got {value!r}")
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(
            f"{func}: {name}: expected an int or a pair (height, width) of ints, got {value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(f"{func}: {name}: expected values >= {minimum}, got {value!r}")
    return pair


def int_triple(name: str, value: Any, *, minimum: int, func: str) -> tuple[int, int, int]:
    """An int or a triple of ints, each ``>= minimum``, as a (depth, height, width) tuple."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected an int or a triple of ints, got {value!r}")
    if isinstance(value, (int, np.integer)):
        triple = (int(value),) * 3
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        triple = (int(value[0]), int(value[1]), int(value[2]))
    else:
        raise TypeError(
            f"{func}: {name}: expected an int or a triple (depth, height, width) of ints, "
            f"got {value!r}"
        )
    if min(triple) < minimum:
        raise ValueError(f"{func}: {name}: expected values >= {minimum}, got {value!r}")
    return triple


def batched_volume(name: str, x: np.ndarray, *, func: str) -> tuple[np.ndarray, bool]:
    """Accept (N, C, D, H, W) or one unbatched (C, D, H, W) volume; return the 5-D view and a
    flag. A 3-D array is refused with the indexing that adds the missing axes, as
    ``batched_image`` refuses a 2-D one."""
    check_ndim(
        name,
        x,
        (4, 5),
        func=func,
        layout="(N, C, D, H, W), or (C, D, H, W) for one volume",
        hint=f"for a single-channel volume add the axes with {name}[None, None]"
        if x.ndim == 3
        else "",
    )
    if x.ndim == 4:
        return x[None], True
    return x, False


def positive_int(
    name: str, value: Any, *, func: str, minimum: int = 1, maximum: int | None = None
) -> int:
    """A plain int ``>= minimum`` and, when given, ``<= maximum`` (booleans refused)."""
    expected = f"an int >= {minimum}" if maximum is None else f"an int from {minimum} to {maximum}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{func}: {name}: expected {expected}, got {_describe(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{func}: {name}: expected {expected}, got {int(value)}")
    return int(value)


def flag(name: str, value: Any, *, func: str) -> bool:
    """``value`` as a bool: True or False (NumPy's too), else ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected True or False, got {_describe(value)}")
    return bool(value)


def cpu_device(value: Any) -> bool:
    """Whether ``value`` names PyTorch's CPU device, the one cnnmath computes on: "cpu",
    "cpu:0", torch.device("cpu")."""
    if isinstance(value, str):
        return value.split(":")[0] == "cpu"
    return getattr(value, "type", None) == "cpu" and not isinstance(value, np.dtype)


def check_shape(name: str, x: np.ndarray, expected: tuple[int, ...], *, func: str) -> None:
    """Raise ``ValueError`` unless ``x.shape == expected``."""
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{func}: {name}: expected shape {tuple(expected)}, got {x.shape}")


def real_number(
    name: str,
    value: Any,
    *,
    func: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (booleans refused) within the given bounds, as a Python float.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``; ``None`` leaves a side
    unbounded. A Python float is a weak scalar for NumPy, so float32 arrays stay float32.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: {name}: expected a real number, got {_describe(value)}")
    number = float(value)
    ok = math.isfinite(number)
    if low is not None:
        ok = ok and (number > low if low_open else number >= low)
    if high is not None:
        ok = ok and (number < high if high_open else number <= high)
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {high:g}")
        wanted = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        raise ValueError(f"{func}: {name}: expected {wanted}, got {value!r}")
    return number


def float_dtype(name: str, dtype: Any, *, func: str) -> np.dtype:
    """``dtype`` as ``numpy.dtype(float32)`` or ``numpy.dtype(float64)`` (PyTorch's
    torch.float32 and torch.float64 read as them, for ported scripts), else ``TypeError``."""
    if type(dtype).__module__ == "torch" and str(dtype) in ("torch.float32", "torch.float64"):
        dtype = str(dtype)[len("torch.") :]
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None  # not a dtype at all (and `None in FLOAT_DTYPES` would be True)
    if resolved is None or resolved not in FLOAT_DTYPES:
        raise TypeError(f"{func}: {name}: expected float32 or float64, got {dtype!r}")
    return resolved


# ---------------------------------------------------------------------------------------------
# Output paths: checked before any work, so a run never ends in an error about where to write.


def writable_directory(name: str, directory: Any, *, func: str | None) -> Path:
    """Return ``directory`` as a Path if a file can be created in it, else raise.

    Probed by creating and removing an empty temporary file there: permission bits alone
    cannot tell (root passes them; ``/proc`` and read-only mounts refuse writes anyway).
    Raises ``FileNotFoundError`` when it does not exist, ``NotADirectoryError`` when it is a
    file, ``PermissionError`` ("output directory is not writable: DIR (reason)") when the
    probe fails; each message names ``func`` (when given) and ``name``, never the probe's file.
    """
    where = f"{func}: {name}: " if func else f"{name}: "
    directory = Path(os.fspath(directory))
    _refuse_symlink_loop(where, directory)
    if not directory.exists():
        raise FileNotFoundError(f"{where}output directory does not exist: {directory}")
    if not directory.is_dir():
        raise NotADirectoryError(f"{where}output directory is not a directory: {directory}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".cnnmath-write-test-", dir=directory)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PermissionError(
            f"{where}output directory is not writable: {directory} ({reason})"
        ) from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return directory


def output_file(name: str, path: Any, *, func: str | None) -> Path:
    """Check that a file can be written at ``path``; return the path ``open()`` would write.

    ``path`` (str or path-like, not empty, not ending in a separator, ``.`` or ``..``) must not
    be a directory nor a symlink loop, and its folder must exist and be writable
    (``writable_directory``). A symlink is followed to its target, as ``open()`` follows it,
    so the returned Path is where the bytes will land. Errors are ``TypeError`` (not a path),
    ``ValueError`` (empty, naming a directory by its form, a symlink loop),
    ``IsADirectoryError`` and those of ``writable_directory``; each names ``func`` and
    ``name``.
    """
    where = f"{func}: {name}: " if func else f"{name}: "
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}expected a file path (str or os.PathLike), got {_describe(path)}")
    text = os.fspath(path)
    if not text:
        raise ValueError(f"{where}expected a file path, got an empty string")
    if text.endswith(("/", os.sep)) or os.path.basename(text) in (".", ".."):
        raise ValueError(f"{where}expected a file path, got {text!r}, which names a directory")
    _refuse_symlink_loop(where, Path(text))
    target = Path(os.path.realpath(text))
    if target.is_dir():
        raise IsADirectoryError(f"{where}'{text}' is a directory; give a file name")
    # the folder as the user wrote it (unless a symlink leads elsewhere): messages name it
    folder = target.parent if os.path.islink(text) else Path(text).parent
    writable_directory(name, folder, func=func)
    return target


def _refuse_symlink_loop(where: str, path: Path) -> None:
    """A symlink chain that never ends (a → b → a) raises ``ValueError``, not a traceback."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(
                f"{where}'{path}' is a symlink loop (its links never reach a file); "
                "remove the link or give another path"
            ) from None
