"""predict's ``--cams DIR``: each image as the model saw it (resized and cropped, before the
normalisation) under the Grad-CAM heat map of the class reported first for it, written to
``DIR/STEM.png`` (``attribution.save_overlay``, whole or not at all).

The layer is ``--cam-layer`` (a dotted module path, as ``model.get_submodule`` takes; an
ONNX graph's node name), checked against the folded model before any image is read, or by
default the last module, in the order the forward pass finishes them, that runs once and
outputs feature maps (B, K, h, w) with h·w > 1 on the first image: a ResNet's ``layer4``
(its last block ends inside it, so the container finishes last), a plain CNN's last
activation before its global pooling."""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from ... import nn
from .._common import CLIError
from ._preprocess import _Geometry, _seen

#: How many layer names a refused --cam-layer lists.
_LISTED = 12

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _check_options(args: argparse.Namespace) -> None:
    """--cam-layer and --cam-method need --cams; --cams refuses --masks (a segmentation
    model's) and --scheduler (the heat maps are computed here, not on the cluster)."""
    if args.cams is None:
        for option, value in (("--cam-layer", args.cam_layer), ("--cam-method", args.cam_method)):
            if value is not None:
                raise CLIError(f"{option}: applies to the heat maps of --cams DIR, not given")
        return
    if args.masks is not None:
        raise CLIError(
            "--cams and --masks: --cams is for classifiers, --masks for segmentation models; "
            "give one"
        )
    if args.scheduler is not None:
        raise CLIError(
            "--cams and --scheduler: the heat maps need a backward pass in this process; "
            "leave out --scheduler (a collection then runs on threads here)"
        )


def _check_layer(name: str, model: nn.Module, unfolded: nn.Module, where: str) -> None:
    """--cam-layer ``name`` resolves in the folded ``model``: a path that does not is refused
    listing names that do; a BatchNorm that ``fold_batch_norm`` folded (an ``Identity``
    now) is refused naming the convolution that now outputs the normalised maps."""
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise CLIError(
            f"--cam-layer {name}: no such layer in MODEL {where}; {_names_near(model, name)}"
        ) from None
    with contextlib.suppress(AttributeError):
        if isinstance(module, nn.Identity) and isinstance(
            unfolded.get_submodule(name), _BATCH_NORMS
        ):
            conv = next((n.inputs[0] for n in model.walk() if n.module is module), None)
            instead = f"name the convolution {conv!r}" if conv else "name the convolution"
            raise CLIError(
                f"--cam-layer {name}: a BatchNorm that predict folds into the convolution "
                f"before it (cnnmath.nn.fold_batch_norm), so it is gone; {instead}, whose "
                "output is now the normalised maps, or the block that holds both"
            )


def _names_near(model: nn.Module, name: str) -> str:
    """Some valid names: the children of the longest prefix of ``name`` that is a layer
    (the model's own when none is), the last ``_LISTED`` of them (late layers are the usual
    choices)."""
    module, path = model, ""
    for part in name.split("."):
        child = dict(module.named_children()).get(part)
        if child is None or not child.children():
            break
        module, path = child, f"{path}.{part}" if path else part
    names = [f"{path}.{c}" if path else c for c, _ in module.named_children()]
    where = f"the layers in {path}" if path else "its layers"
    shown = ", ".join(names[-_LISTED:])
    more = f"... ({len(names)} in all), " if len(names) > _LISTED else ""
    return f"{where}: {more}{shown}"


def _default_layer(model: nn.Module, x: np.ndarray) -> str | None:
    """The last module to finish in one forward of x (1, C, H, W) that runs once and outputs
    feature maps (1, K, h, w) with h·w > 1, by its path; None when there is none."""
    calls: dict[str, list[Any]] = {}
    finished: list[str] = []

    def record(path: str, y: Any) -> None:
        calls.setdefault(path, []).append(y.shape if isinstance(y, np.ndarray) else None)
        finished.append(path)

    with contextlib.ExitStack() as handles:
        for path, module in model.named_modules():
            if path:
                handles.enter_context(
                    module.register_forward_hook(lambda m, a, y, path=path: record(path, y))
                )
        with nn.no_grad():
            model(x)
    for path in reversed(finished):
        shapes = calls[path]
        if len(shapes) == 1 and shapes[0] is not None and len(shapes[0]) == 4:
            if shapes[0][2] * shapes[0][3] > 1:
                return path
    return None


class _CamWriter:
    """Writes ``targets[path]`` for each image: the Grad-CAM (or Grad-CAM++) heat map of a
    class at the layer, over the image as the model saw it (``attribution.save_overlay``,
    α = 0.5, matplotlib's "jet"). The model is a copy when the images stream on threads,
    which run the original meanwhile (the attribution hooks would see their forwards)."""

    def __init__(
        self,
        args: argparse.Namespace,
        model: nn.Module,
        targets: dict[str, Path],
        channels: int,
        geometry: _Geometry,
        normalise: tuple[np.ndarray, np.ndarray, np.dtype],
        streamed: bool,
    ) -> None:
        from ...attribution import grad_cam, grad_cam_plus_plus

        self.args, self.targets, self.channels, self.geometry = args, targets, channels, geometry
        self.mean, self.std, self.dtype = normalise
        self.model = copy.deepcopy(model) if streamed else model
        self.method = grad_cam_plus_plus if args.cam_method == "gradcam++" else grad_cam
        self.layer: str | None = args.cam_layer
        self.folder_made = False

    def __call__(self, path: str, target: int) -> Path:
        from ...attribution import save_overlay

        seen = _seen(path, self.channels, self.geometry)
        x = ((seen - self.mean) / self.std).astype(self.dtype)[None]  # what _prepare gives
        if self.layer is None:
            self.layer = _default_layer(self.model, x)
            if self.layer is None:
                raise CLIError(
                    f"--cams {self.args.cams}: MODEL {self.args.model} has no layer whose "
                    "output is feature maps (B, K, h, w) with h*w > 1 on IMAGE "
                    f"{path}; name one with --cam-layer"
                )
        try:
            cam = self.method(self.model, x, self.layer, target=[target])
        except (ValueError, AttributeError) as exc:
            raise CLIError(f"--cam-layer {self.layer}: {exc}") from None
        out = self.targets[path]
        try:
            if not self.folder_made:  # made at the first picture: a refusal before leaves none
                os.makedirs(self.args.cams, exist_ok=True)
                self.folder_made = True
            save_overlay(out, np.clip(seen, 0, 1), cam.heatmap[0].astype(np.float64))
        except (OSError, ValueError) as exc:
            raise CLIError(f"--cams {self.args.cams}: {exc}") from None
        return out
