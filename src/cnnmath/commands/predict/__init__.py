"""``cnnmath predict MODEL IMAGE...``: a trained model on image files — a classifier's top-K
classes per image, or a segmentation model's class per pixel (the areas, and masks as PNG).

    cnnmath predict model.onnx cat.jpg dog.png --labels imagenet.txt --top 5
    cnnmath predict weights.safetensors *.png --arch resnet20 --size 32 32 --json
    cnnmath predict model.onnx photos/ 'scans/*.jpg' --scheduler tcp://HOST:8786
    cnnmath predict fcn.safetensors street.jpg --arch fcn_resnet50 --size 520 520 --masks out/
    cnnmath predict model.onnx cat.jpg --resize 256 --center-crop 224 --cams cams/

MODEL is an ONNX file (read by ``cnnmath.onnx.load``; cnnmath runs it) or a safetensors file
of a ``cnnmath.models`` network named by ``--arch`` (``--num-classes`` when not the builder's
default: 1000 for the ImageNet classifiers, 21 for the segmentation networks, 10 for lenet
and resnet20; resnet20 is built with the input channels of the file's first convolution, so
the 1-channel digits net of ``cnnmath train --arch resnet20`` loads as a CIFAR one does).
Each image goes through the documented preprocessing, in this order:

1. decoded by ``cnnmath.images.load_image`` (pixels in [0, 1]; an animated file's first
   frame, an EXIF orientation applied);
2. brought to the model's channels (read from its first layer's ``in_channels``; 3 when it
   has none): alpha dropped, gray repeated into R, G, B for a colour model, colour turned
   into BT.601 luma (result 3) for a gray one;
3. resized with Pillow's bilinear filter, which averages over the shrunk pixels when it
   shrinks (as torchvision's ``Resize`` does on PIL images), one of two ways:
   ``--size H W`` (default 224 224; the aspect ratio is not kept) as floats in [0, 1]
   (Pillow's 32-bit float mode, no rounding: ``cnnmath.images.resize(x, (H, W))``), or
   ``--resize N`` (the shorter side N, the longer ⌊N·long/short⌋) / ``--resize H W``,
   torchvision's ``T.Resize`` on a PIL image: an 8-bit image is resized as 8-bit samples,
   each output rounded to an integer, as torchvision does
   (``cnnmath.images.resize(x, N, as_uint8=True)``; a 16-bit one as floats), and with
   ``--max-size M`` after ``--resize N`` the longer side limited to M (``T.Resize(N,
   max_size=M)``);
   then, with ``--center-crop S`` (or ``H W``), torchvision's ``T.CenterCrop``
   (``cnnmath.images.center_crop``: the offset round((size − S)/2), halves to even; an image
   smaller than the crop zero-padded). ``--resize 256 --center-crop 224`` is torchvision's
   ImageNet evaluation transform, reproduced to float32 rounding. Without a crop, ``--resize
   N`` gives each image its own shape: a batch holds the consecutive images of one shape;
4. normalised per channel, x ← (x − mean_c)/std_c, by default with ImageNet's statistics
   mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225) (the torchvision models'); a
   model of other than 3 channels needs ``--mean`` and ``--std``.

An IMAGE may also name a collection: a directory (its files with an image extension,
.png .jpg .jpeg .tif .tiff .bmp, sorted by name; not its subdirectories) or a glob pattern
(quoted, so that cnnmath expands it: the matching files, sorted). A directory without image
files, or a pattern that matches no file, is an error. The model runs in eval mode, each
batch norm that follows a convolution folded into it first (``cnnmath.nn.fold_batch_norm``:
the same outputs to rounding, one pass over the activations fewer). Plain files run in
batches of ``--batch-size`` in this process (one at a time for an ONNX file that declares
a batch of one: its exporter may have written that batch into the computation). When any
IMAGE is a collection, or ``--scheduler ADDRESS`` is given, every image is instead its own task of
``cnnmath.tiled.stream`` — on a pool of threads here, or on the ``dask.distributed`` cluster
at ADDRESS (the model sent to each worker once; the preprocessing, the module-level
``_prepare``, runs on the worker) — and the results are printed in input order as they
arrive. The numbers are the same either way (the same preprocessing and model; a batch of
one instead of ``--batch-size``). A progress bar goes to stderr (tqdm, the ``progress``
extra; ``--quiet`` hides it).

What the model's output is decides what is printed (a model of several outputs — an ONNX
file with several, a segmentation network with its auxiliary head — is read by its first,
the main one):

- (B, K), or (B, K, 1, ..., 1): a classifier. The outputs are taken as logits and turned
  into probabilities by softmax, unless a row already is a distribution (non-negative, sums
  to 1: a model ending in Softmax) or its exponential is (LogSoftmax). For each file the top
  K classes are printed, best first, with their probabilities and label names (``--labels``:
  a text file, one name per line, line i naming class i), or with ``--json`` one JSON object
  per line: ``{"file", "top": [{"class", "label", "probability", "score"}]}``.
- (B, K, H, W) with H·W > 1: a segmentation model (torchvision's ``out``: K ≥ 2 class
  logits per pixel, at any resolution). Each image's logits are resized to the image's own
  size as decoded (before the resize; read from its header, ``cnnmath.images.image_shape``;
  with ``--center-crop``, the crop's size: the report is of the pixels the model saw)
  by bilinear interpolation on the logits — ``cnnmath.ops.interpolate_bilinear``, half-pixel
  centres, torch's ``F.interpolate(..., mode="bilinear", align_corners=False)`` — in
  float64, and each pixel's class is the argmax over K (softmax is monotone, so the argmax of
  the probabilities too; on a tie the lower index). For each file the classes present are
  printed, largest area first (a tie: the lower index), with the fraction of the image's
  pixels each covers and its label name (all of them; the first K with ``--top K``); with
  ``--json``: ``{"file", "size": [H, W], "mask", "areas": [{"class", "label", "fraction",
  "pixels"}]}``, ``"mask"`` the PNG written or null.

``--masks DIR`` (segmentation models only: with a classifier it is an error) writes each
image's classes to ``DIR/STEM.png``, STEM the image's file name without its extension: a
palette PNG (``cnnmath.images.save_label_map``) whose stored pixel values are the class
indices (so K ≤ 256), with PASCAL VOC's colour map as its palette (class 0 black, 1 dark
red, 2 green, …; ``cnnmath.images.voc_palette``). DIR is created if missing. Two different
input files whose stems are the same, or differ only by case (one file on macOS and Windows),
would write one mask: that is refused before any work, naming both — rename one, or run
them separately; so is a mask that would replace an input file. Each mask is written to a
temporary file in DIR and renamed once whole, before its image's report is printed: an
error stops the run with no partial file, the masks of the images already reported kept.

``--cams DIR`` (classifiers only: with a segmentation model, ``--masks`` or ``--scheduler`` it
is an error) writes ``DIR/STEM.png`` per image: the image as the model saw it (after the
resize and crop, before the normalisation) under the Grad-CAM heat map
(``cnnmath.attribution.save_overlay``) of the class printed first for it, at ``--cam-layer
NAME`` (a dotted module path; an ONNX graph's node name; a BatchNorm folded into its
convolution is refused, naming the convolution) or by default the last module to finish in
the forward pass that runs once and outputs maps (B, K, h, w) with h·w > 1 on the first image
(``_cams``), with ``--cam-method gradcam`` (default) or ``gradcam++``. Its names are checked as
``--masks``' are, each picture is written whole before its image's report, which gains
" -> DIR/STEM.png" (``"cam"`` in JSON). The heat maps are computed in this process, one
forward and backward per image (on a copy of the model when a collection streams on threads).

Everything that can be checked before the model runs is: the files exist and are regular files
(a FIFO or a device such as ``/dev/zero`` is refused before it is opened), the images' headers
are readable, the options agree with each other, ``--masks``' folder can be written (or
made) and its masks' names are distinct, and a ``--size`` whose batch (with the model's
largest layer output) needs more memory than is available is refused before any image is
resized; the number of labels and ``--top`` (and, for ``--masks``, that the model is a
segmentation model with at most 256 classes) are checked against the model's first
outputs before anything is printed or written. Errors are one line on stderr naming the
argument (MODEL, IMAGE, an option) and exit status 2; predict writes no file but the masks
and the Grad-CAM pictures.

The code, one concern a module: ``_arguments`` (the command line), ``_inputs`` (the checks
of the IMAGE arguments, the labels, the masks' names, the normalisation), ``_model`` (the
model read, its channels and dtype, the memory check of ``--size``), ``_preprocess`` (one
image's preprocessing), ``_reports`` (probabilities, top K, class per pixel and the reports),
``_printer`` (the checks against the first outputs, then the reports and masks in order),
``_cams`` (``--cams``: the layer, the Grad-CAM pictures),
``_progress`` (the progress bar) and ``_pipeline`` (``run``). This package re-exports every
name the single module had; a module-level name is bound in each module that reads it, so
a test that replaces one sets it in each of them (``helpers.set_everywhere``).
"""

from __future__ import annotations

from ._arguments import _EPILOG as _EPILOG
from ._arguments import DEFAULT_BATCH as DEFAULT_BATCH
from ._arguments import DEFAULT_SIZE as DEFAULT_SIZE
from ._arguments import IMAGENET_MEAN as IMAGENET_MEAN
from ._arguments import IMAGENET_STD as IMAGENET_STD
from ._arguments import _architectures as _architectures
from ._arguments import _real as _real
from ._arguments import add_arguments as add_arguments
from ._inputs import _expand as _expand
from ._inputs import _mask_targets as _mask_targets
from ._inputs import _read_labels as _read_labels
from ._inputs import _statistics as _statistics
from ._model import _check_size as _check_size
from ._model import _load_model as _load_model
from ._model import _model_channels as _model_channels
from ._model import _model_dtype as _model_dtype
from ._pipeline import _streamed as _streamed
from ._pipeline import run as run
from ._preprocess import _Geometry as _Geometry
from ._preprocess import _image_error as _image_error
from ._preprocess import _prepare as _prepare
from ._preprocess import _to_channels as _to_channels
from ._printer import MAX_MASK_CLASSES as MAX_MASK_CLASSES
from ._printer import _Printer as _Printer
from ._progress import _LateBar as _LateBar
from ._reports import _DISTRIBUTION_TOLERANCE as _DISTRIBUTION_TOLERANCE
from ._reports import _RESIZE_CHUNK as _RESIZE_CHUNK
from ._reports import _area_report as _area_report
from ._reports import _label_map as _label_map
from ._reports import _per_pixel as _per_pixel
from ._reports import _probabilities as _probabilities
from ._reports import _report as _report
from ._reports import _top as _top

NAME = "predict"
HELP = "classify image files, or segment them per pixel (.onnx, or .safetensors with --arch)"
ORDER = 44
