"""One image through predict's preprocessing: decoded, brought to the model's channels,
resized to ``--size`` and normalised, (x - mean_c)/std_c; module-level so that dask workers
run it (``functools.partial(_prepare, ...)`` pickles by reference)."""

from __future__ import annotations

import numpy as np

from .._common import CLIError


def _image_error(path: str, exc: Exception) -> CLIError:
    """``cnnmath.images``' message, naming the argument (IMAGE) rather than the function."""
    text = str(exc)
    for prefix in ("load_image: path: ", "image_shape: path: "):
        if text.startswith(prefix):
            return CLIError(f"IMAGE: {text[len(prefix) :]}")
    return CLIError(f"IMAGE {path}: {text}")


def _to_channels(x: np.ndarray, has_alpha: bool, channels: int, path: str) -> np.ndarray:
    """x (C, H, W) in [0, 1] with the model's channel count (``images.to_channels``)."""
    from ...images import to_channels

    try:
        return to_channels(x, has_alpha, channels)
    except ValueError as exc:
        raise CLIError(f"IMAGE {path}: {exc} (the model's)") from None


def _prepare(
    path: str,
    channels: int,
    size: tuple[int, int],
    mean: np.ndarray,
    std: np.ndarray,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """One image, (channels, H, W) float64 (or ``dtype``), through the documented
    preprocessing. Module-level so that ``functools.partial(_prepare, ...)`` pickles (by
    reference) to dask workers."""
    from ...images import load_image, resize

    try:
        x, info = load_image(path)
    except (ValueError, OSError) as exc:
        raise _image_error(path, exc) from None
    x = _to_channels(x, info.has_alpha, channels, path)
    x = (resize(x, size) - mean) / std
    return x if dtype is None else x.astype(dtype)
