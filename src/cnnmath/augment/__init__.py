"""Data augmentation for training batches: random transformations drawn from the loop's generator.

An augmentation is a function ``(x_batch, rng) -> x_batch`` that ``cnnmath.train.fit`` applies
to every training batch. It draws all its randomness from the ``numpy.random.Generator`` it is
given — the training loop's one stream — so a run is repeatable from its seed and resumes from a
checkpoint exactly (the generator's state is part of the checkpoint). Every image of a batch
gets its own draw, as torchvision's per-sample transform applied image by image would give it,
and each augmentation works on the whole batch at once (no loop over images or pixels).

    random_shift            RandomCrop(H, padding=s)       whole-pixel shifts, zeros shifted in
    random_flip             RandomHorizontalFlip(p)
    random_resized_crop     RandomResizedCrop(size)        a box per image, resized bilinearly
    color_jitter            ColorJitter(b, c, s, h)        its four operations in a random order
    random_erasing          RandomErasing(p, scale, ...)   a rectangle per image set to a value
    compose                 Compose([...])

MixUp and CutMix mix the labels too, so they are ``(x_batch, y_batch, rng) -> (x̃, ỹ)``, soft
labels ỹ (B, K), and ``fit`` takes one by its own keyword, ``fit(..., mix=...)``, applied
after ``augment``. They mix the batch with itself rolled by one, one λ (and one box) per
batch, as torchvision.transforms.v2 does:

    random_mixup            MixUp(alpha, num_classes)      x̃ = λx + (1 − λ)x_rolled, λ ~ Beta(α, α)
    random_cutmix           CutMix(alpha, num_classes)     the rolled batch's box pasted in
    random_mix              RandomChoice([MixUp, CutMix])  one of the two per batch

with their deterministic halves ``mixup`` (λ given) and ``cutmix`` (box given), and the box's
draw ``random_cutmix_box``.

Their deterministic halves have torchvision's functional names and can be called alone:
``resized_crop`` (boxes given), ``adjust_brightness`` / ``adjust_contrast`` /
``adjust_saturation`` / ``adjust_hue`` (a factor per image) and ``erase``; the draws of the
boxes are ``random_resized_crop_boxes`` and ``random_erasing_boxes`` (torchvision's
``get_params``).

The code, one concern a module: ``_args`` (the shared argument checks), ``_draws`` (the
batch-wide box sampling), ``composition``, ``geometric`` (shift, flip, resized crop),
``photometric`` (colour jitter), ``erasing`` and ``mixing`` (MixUp, CutMix); this package
re-exports their public names.
"""

from .composition import compose
from .erasing import erase, random_erasing, random_erasing_boxes
from .geometric import (
    random_flip,
    random_resized_crop,
    random_resized_crop_boxes,
    random_shift,
    resized_crop,
)
from .mixing import Mix as Mix
from .mixing import cutmix, mixup, random_cutmix, random_cutmix_box, random_mix, random_mixup
from .photometric import LUMA as LUMA
from .photometric import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    color_jitter,
)

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "color_jitter",
    "compose",
    "cutmix",
    "erase",
    "mixup",
    "random_cutmix",
    "random_cutmix_box",
    "random_erasing",
    "random_erasing_boxes",
    "random_flip",
    "random_mix",
    "random_mixup",
    "random_resized_crop",
    "random_resized_crop_boxes",
    "random_shift",
    "resized_crop",
]
