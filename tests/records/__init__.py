"""Every op record, gathered from the family modules (one module per ops module)."""

from importlib import import_module

FAMILIES = (
    "conv",
    "deform_conv",
    "pool",
    "fractional_pool",
    "interpolate",
    "resize",
    "linear",
    "lrn",
    "pad",
    "pixel_shuffle",
    "unfold",
    "grid_sample",
    "norm",
    "activations",
    "alpha_dropout",
    "losses",
    "volumetric",
    "einsum",
    "roi",
    "distance",
)

RECORDS = [record for family in FAMILIES for record in import_module(f"records.{family}").RECORDS]
