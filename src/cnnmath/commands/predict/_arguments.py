"""predict's command line: MODEL IMAGE... and its options, their defaults (ImageNet's
normalisation, the 224 x 224 size, the batch of 16) and the epilog that sums up the
preprocessing and what is printed."""

from __future__ import annotations

import argparse
import math

from .._args import whole_number

#: torchvision's ImageNet normalisation, the default for 3-channel models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


DEFAULT_SIZE = (224, 224)


DEFAULT_BATCH = 16

#: --cam-method's choices: Grad-CAM, Grad-CAM++ (``attribution.grad_cam``, ``grad_cam_plus_plus``).
CAM_METHODS = ("gradcam", "gradcam++")


_EPILOG = f"""\
preprocessing, per image: decode (pixels in [0, 1]) -> the model's channels (alpha dropped;
gray repeated for a colour model; BT.601 luma for a gray one) -> resize with Pillow's bilinear
filter: --size H W as floats (default {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]}, aspect ratio not
kept), or --resize N (shorter side N, aspect kept) / --resize H W as torchvision's T.Resize on a
PIL image (8-bit images resized as 8-bit samples and rounded, as torchvision does) -> with
--center-crop S (or H W) the central S x S pixels, torchvision's T.CenterCrop (zero-padded when
the image is smaller) -> (x - mean) / std per channel (default: ImageNet's mean
{" ".join(map(str, IMAGENET_MEAN))}, std {" ".join(map(str, IMAGENET_STD))};
required for models of other than 3 channels).
Outputs (B, K) are logits turned into probabilities by softmax (kept as they are when a row
already sums to 1); the top K classes are printed.

segmentation: an output (B, K, H, W) with H*W > 1 (per-pixel class logits, torchvision's
"out") is resized to each image's own size (with --center-crop: the crop's, the pixels
the model saw) (bilinear on the logits, half-pixel centres, as
torch's F.interpolate with align_corners=False); each pixel's class is the argmax over K.
Printed: the classes present, largest area first, with their fraction of the pixels (--top
K: the K largest). --masks DIR writes DIR/STEM.png per image, STEM the image's name without
its extension (DIR made if missing): a palette PNG whose pixel values are the class indices
(K <= 256), its palette PASCAL VOC's colour map. Two inputs with the same stem are refused
(rename one); each mask is written whole (a temporary file renamed) or not at all.

Grad-CAM (classifiers): --cams DIR writes DIR/STEM.png per image, the image after the resize
and crop (before the normalisation) under the heat map of the class printed first (alpha 0.5,
matplotlib's jet), at --cam-layer NAME (default: the last module to finish that runs once and
outputs maps (B, K, h, w) with h*w > 1), by --cam-method gradcam (default) or gradcam++.
Printed: " -> DIR/STEM.png" after the file's name ("cam" in JSON). Same name checks as --masks.

examples:
  cnnmath predict resnet18.onnx cat.jpg --labels imagenet_classes.txt --top 5
  cnnmath predict resnet18.onnx cat.jpg --resize 256 --center-crop 224   # torchvision's eval
  cnnmath predict w.safetensors a.png b.png --arch resnet20 --size 32 32 --json
  cnnmath predict digits.safetensors seven.png --arch lenet --size 8 8 --mean 0 --std 1
      (cnnmath train's digits are light ink, up to 1, on a dark background, 0, each digit
      filling the 8x8 image's height: invert a digit drawn dark on white first, e.g.
      PIL.ImageOps.invert, or it is misread)
  cnnmath predict resnet18.onnx photos/ 'more/*.jpg' --scheduler tcp://127.0.0.1:8786
  cnnmath predict fcn.safetensors street.jpg --arch fcn_resnet50 --size 520 520 --masks m/
  cnnmath predict deeplabv3.onnx photos/ --size 520 520 --labels voc.txt --masks m/ --json
  cnnmath predict resnet18.onnx cat.jpg --resize 256 --center-crop 224 --cams cams/

An IMAGE that is a directory (its image files, sorted) or a quoted glob pattern is a
collection: its images stream through cnnmath.tiled.stream one task each (threads here, or
the cluster at --scheduler), results printed in input order as they arrive.
"""


def _architectures() -> list[str]:
    from ... import models

    return list(models.__all__)


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL IMAGE... and --labels, --top, --json, --masks, --cams, --cam-layer, --cam-method,
    --size, --resize, --center-crop,
    --mean, --std, --arch,
    --num-classes, --batch-size, --scheduler, --quiet."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("model", metavar="MODEL", help="a .onnx file, or .safetensors with --arch")
    parser.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="image files to classify or segment, or collections: a directory (its image "
        "files, sorted) or a quoted glob pattern",
    )
    parser.add_argument(
        "--labels",
        metavar="FILE",
        default=None,
        help="class names, one per line (line i names class i); their number must equal the "
        "model's outputs",
    )
    parser.add_argument(
        "--top",
        type=whole_number(1),
        default=None,
        metavar="K",
        help="how many classes to print per image, best first (default: 5, or all the "
        "classes of a model with fewer; for a segmentation model, the K largest areas, "
        "default all the classes present); more than the model's classes is an error",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per image and line instead of text"
    )
    parser.add_argument(
        "--masks",
        metavar="DIR",
        default=None,
        help="segmentation models only: write each image's class per pixel to DIR/STEM.png "
        "(created if missing), a palette PNG of class indices in PASCAL VOC's colours",
    )
    parser.add_argument(
        "--cams",
        metavar="DIR",
        default=None,
        help="classifiers only: write DIR/STEM.png per image (created if missing), the image "
        "as the model saw it (after the resize and crop, before the normalisation) under the "
        "Grad-CAM heat map of the class printed first; not with --scheduler",
    )
    parser.add_argument(
        "--cam-layer",
        metavar="NAME",
        default=None,
        help="with --cams: the layer whose maps Grad-CAM weighs, a dotted module path "
        "('layer4', 'layer3.1.conv2'; an ONNX file's node name). Default: the last module to "
        "finish in the forward pass that runs once and outputs maps (B, K, h, w) with "
        "h*w > 1 on the first image (a ResNet's layer4, a plain CNN's last activation before "
        "its pooling). A BatchNorm predict folds into its convolution is gone: name the "
        "convolution",
    )
    parser.add_argument(
        "--cam-method",
        choices=CAM_METHODS,
        default=None,
        help="with --cams: Grad-CAM (gradcam, the default) or Grad-CAM++ (gradcam++)",
    )
    parser.add_argument(
        "--size",
        type=whole_number(1),
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help=f"resize every image to exactly H x W pixels, as floats in [0, 1] (Pillow's "
        "32-bit float mode, no rounding); the aspect ratio is not kept (default "
        f"{DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]} when none of --size, --resize, --center-crop is "
        "given); a size whose batch would not fit in the memory available is refused before "
        "any image is resized",
    )
    parser.add_argument(
        "--resize",
        type=whole_number(1),
        nargs="+",
        default=None,
        metavar="N",
        help="torchvision's T.Resize on a PIL image instead of --size: N puts the shorter side "
        "at N pixels and the longer at floor(N * long / short) (the aspect ratio kept); H W "
        "resizes to exactly H x W. An 8-bit image is resized as 8-bit samples, each output "
        "rounded to an integer, as torchvision does (cnnmath.images.resize(x, N, "
        "as_uint8=True)); a 16-bit one as floats",
    )
    parser.add_argument(
        "--max-size",
        type=whole_number(2),
        default=None,
        metavar="M",
        help="with --resize N only: torchvision's T.Resize(N, max_size=M): when the longer "
        "side would exceed M (> N) it becomes M and the shorter side floor(M * short / long), "
        "so a long panorama is not resized to a huge image",
    )
    parser.add_argument(
        "--center-crop",
        type=whole_number(1),
        nargs="+",
        default=None,
        metavar="S",
        help="torchvision's T.CenterCrop after the resize: the central S x S (or H W) pixels, "
        "the offset round((size - S) / 2) with halves to even; an image smaller than the crop "
        "is padded with black (zeros, before the normalisation). "
        "torchvision's evaluation transform is --resize 256 --center-crop 224",
    )
    parser.add_argument(
        "--mean",
        type=_real,
        nargs="+",
        default=None,
        metavar="M",
        help="per-channel mean subtracted from pixels in [0, 1]: one value or one per channel "
        f"(default: ImageNet's {' '.join(map(str, IMAGENET_MEAN))} for RGB models)",
    )
    parser.add_argument(
        "--std",
        type=_real,
        nargs="+",
        default=None,
        metavar="S",
        help="per-channel standard deviation divided by, > 0: one value or one per channel "
        f"(default: ImageNet's {' '.join(map(str, IMAGENET_STD))} for RGB models)",
    )
    parser.add_argument(
        "--arch",
        choices=_architectures(),
        default=None,
        metavar="NAME",
        help="the network of a .safetensors MODEL: " + ", ".join(_architectures()),
    )
    parser.add_argument(
        "--num-classes",
        type=whole_number(1),
        default=None,
        metavar="N",
        help="outputs of the --arch network (default: the builder's, 1000 for the ImageNet "
        "networks, 21 for the segmentation networks, 10 for lenet and resnet20)",
    )
    parser.add_argument(
        "--batch-size",
        type=whole_number(1),
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"images per forward pass (default: {DEFAULT_BATCH}); an ONNX file that declares "
        "a batch of one (exported without a dynamic batch axis) runs one image at a time",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="send the images, one task each, to the dask.distributed cluster at ADDRESS "
        "(tcp://HOST:PORT); collections run on threads in this process by default",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
