"""One image through predict's preprocessing: decoded, brought to the model's channels,
resized (``--size``, or ``--resize``), center-cropped (``--center-crop``) and normalised,
(x - mean_c)/std_c; module-level so that dask workers run it (``functools.partial(_prepare,
...)`` pickles by reference)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Geometry:
    """The resize and crop of the command line, at most one resize:

    size : ``--size H W``, (H, W) exactly, resized as floats (``images.resize(x, (H, W))``).
    resize : ``--resize N`` (N,) or ``--resize H W``: torchvision's ``T.Resize`` on a PIL
        image, an 8-bit image resized as 8-bit samples (``images.resize(..., as_uint8=True)``).
    max_size : ``--max-size M`` with ``--resize N``: the longer side's limit (torchvision's).
    crop : ``--center-crop``, (h, w): torchvision's ``T.CenterCrop`` (``images.center_crop``).
    """

    size: tuple[int, int] | None = None
    resize: tuple[int, ...] | None = None
    crop: tuple[int, int] | None = None
    max_size: int | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _Geometry:
        """The options checked: --size and --resize exclusive, one or two numbers each for
        --resize and --center-crop; none of the three given: --size 224 224."""
        from ._arguments import DEFAULT_SIZE

        if args.size is not None and args.resize is not None:
            raise CLIError(
                "--size and --resize: give one (--size H W resizes as floats to exactly H x W; "
                "--resize N or H W as torchvision's T.Resize does)"
            )
        for option, given in (("--resize", args.resize), ("--center-crop", args.center_crop)):
            if given is not None and len(given) > 2:
                raise CLIError(
                    f"{option}: expected one number N or two, H W, got {len(given)}: "
                    + " ".join(map(str, given))
                )
        max_size = getattr(args, "max_size", None)
        if max_size is not None:
            if args.resize is None or len(args.resize) != 1:
                given = (
                    "no --resize"
                    if args.resize is None
                    else "--resize " + " ".join(map(str, args.resize))
                )
                raise CLIError(
                    f"--max-size: limits the longer side after --resize N (one number, the "
                    f"shorter side), got {given}"
                )
            if max_size <= args.resize[0]:
                raise CLIError(
                    f"--max-size: expected more than --resize's {args.resize[0]} (the shorter "
                    f"side), got {max_size}"
                )
        crop = None if args.center_crop is None else (args.center_crop[0], args.center_crop[-1])
        if args.size is not None:
            return cls(size=(args.size[0], args.size[1]), crop=crop)
        if args.resize is not None:
            return cls(resize=tuple(args.resize), crop=crop, max_size=max_size)
        if crop is not None:
            return cls(crop=crop)
        return cls(size=DEFAULT_SIZE)

    def option(self) -> str:
        """The options as given, e.g. "--resize 256 --center-crop 224"."""
        words = []
        if self.size is not None:
            words += ["--size", *map(str, self.size)]
        if self.resize is not None:
            words += ["--resize", *map(str, self.resize)]
        if self.max_size is not None:
            words += ["--max-size", str(self.max_size)]
        if self.crop is not None:
            crop = self.crop[:1] if self.crop[0] == self.crop[1] else self.crop
            words += ["--center-crop", *map(str, crop)]
        return " ".join(words)

    def input_size(self, decoded: tuple[int, int]) -> tuple[int, int]:
        """(H, W) the model sees for an image decoded at ``decoded`` (H, W)."""
        from ...images import resized_size

        if self.crop is not None:
            return self.crop
        if self.size is not None:
            return self.size
        if self.resize is not None:
            size = self.resize[0] if len(self.resize) == 1 else self.resize
            return resized_size(decoded, size, max_size=self.max_size)
        return decoded


def _prepare(
    path: str,
    channels: int,
    geometry: _Geometry,
    mean: np.ndarray,
    std: np.ndarray,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """One image, (channels, H, W) float64 (or ``dtype``), through the documented
    preprocessing: :func:`_seen`, then (x − mean_c)/std_c. Module-level so that
    ``functools.partial(_prepare, ...)`` pickles (by reference) to dask workers."""
    x = (_seen(path, channels, geometry) - mean) / std
    return x if dtype is None else x.astype(dtype)


def _seen(path: str, channels: int, geometry: _Geometry) -> np.ndarray:
    """One image as the model sees it before the normalisation, (channels, H, W) float64 in
    [0, 1]: decoded, brought to the model's channels, resized and center-cropped."""
    from ...images import center_crop, load_image, resize

    try:
        x, info = load_image(path)
    except (ValueError, OSError) as exc:
        raise _image_error(path, exc) from None
    x = _to_channels(x, info.has_alpha, channels, path)
    if geometry.size is not None:
        x = resize(x, geometry.size)
    elif geometry.resize is not None:  # as torchvision on a PIL image: 8-bit samples stay 8-bit
        given = geometry.resize
        x = resize(
            x,
            given[0] if len(given) == 1 else given,
            max_size=geometry.max_size,
            as_uint8=info.bit_depth <= 8,
        )
    if geometry.crop is not None:
        x = center_crop(x, geometry.crop)
    return x
