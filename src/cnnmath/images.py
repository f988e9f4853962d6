"""Image files in and out (Pillow), and the bundled sample photograph.

Pixels come in as float64 in [0, 1], laid out (C, H, W) — the conv ops' unbatched layout:

    x[c, i, j] = q[i, j, c] / (2**bits - 1)

where q is the integer stored in the file (bits = 8, or 16 for 16-bit grayscale). Going out,
the inverse with rounding to the nearest level: q = round(x · (2**bits - 1)).

Channel layouts: 1 (L, gray), 2 (LA, gray + alpha), 3 (RGB), 4 (RGBA). Palette, bilevel,
CMYK and other Pillow modes are converted explicitly on the way in (see ``load_image``).
Pillow has no 16-bit colour mode (it would silently keep only the top 8 bits), so a 16-bit
colour file is refused with an error rather than read wrongly.

A segmentation's class per pixel goes out as a label map (``save_label_map``): a palette PNG
whose stored values are the class indices, shown in PASCAL VOC's colours (``voc_palette``).

Resizing and center cropping (``resize``, ``resized_size``, ``center_crop``, from
``_resize_crop``) follow torchvision's ``T.Resize`` and ``T.CenterCrop``: an int size sets the
shorter side, and ``resize(..., as_uint8=True)`` resizes 8-bit samples as torchvision does on a
PIL image, so its evaluation preprocessing is reproduced to the last bit.

The photograph is matplotlib's bundled sample ``grace_hopper.jpg`` (512 wide, 600 high, RGB),
so nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_float_array, check_ndim, output_file
from ._files import UnwritableDirectory, atomic_output, open_regular
from ._optional import require
from ._resize_crop import center_crop as center_crop
from ._resize_crop import resize as resize
from ._resize_crop import resized_size as resized_size

# Formats save_image writes, by file extension, and what each can hold.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")  # 16-bit grayscale ("I;16")
# channel counts that keep alpha; BMP is not among them: Pillow writes RGBA as a 32-bit
# BI_RGB file whose fourth byte readers ignore, so its alpha would not come back
ALPHA_FORMATS = {"PNG": (2, 4), "TIFF": (2, 4), "BMP": (), "JPEG": ()}

# Pillow mode of the array we hand back / accept, by channel count.
_MODE_OF_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_CHANNEL_NAMES = {
    "L": ("L",),
    "LA": ("L", "A"),
    "RGB": ("R", "G", "B"),
    "RGBA": ("R", "G", "B", "A"),
}
_SIXTEEN_BIT_GRAY = ("I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True)
class ImageInfo:
    """What ``load_image`` found in a file.

    format : Pillow's name of the file format ("PNG", "JPEG", "TIFF", "BMP", ...).
    mode : the Pillow mode of the file as stored ("L", "RGB", "P", "I;16", ...).
    bit_depth : bits per sample stored in the file: 1, 8 or 16.
    channels : names of the returned array's channels, e.g. ("R", "G", "B", "A").
    converted : how the stored mode was turned into the returned channels, "" if unchanged
        (e.g. "palette (P) expanded to RGBA").
    """

    format: str | None
    mode: str
    bit_depth: int
    channels: tuple[str, ...]
    converted: str = ""

    @property
    def has_alpha(self) -> bool:
        """True when the last channel is alpha (LA or RGBA)."""
        return self.channels[-1] == "A"


def _pillow():
    require("PIL", "image")
    from PIL import Image

    return Image


def sample_image_path() -> str:
    """Path of matplotlib's bundled ``grace_hopper.jpg`` (needs the ``plot`` extra)."""
    require("matplotlib", "plot")
    from matplotlib import cbook

    return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def sample_image() -> np.ndarray:
    """The bundled photograph as float64 in [0, 1], shape (3, 600, 512) (channels R, G, B).

    Needs the ``plot`` extra (matplotlib ships the file) and the ``image`` extra (Pillow reads
    it): ``pip install "cnnmath[image,plot]"``.
    """
    x, _ = load_image(sample_image_path())
    return x


# ---------------------------------------------------------------------------------------------
# Reading


def _tile_rawmodes(im) -> list[str]:
    """The raw (on-disk) sample layouts Pillow will decode, e.g. "RGB;16B" — before loading."""
    rawmodes = []
    for tile in getattr(im, "tile", None) or []:
        args = tile[-1] if not hasattr(tile, "args") else tile.args
        raw = args if isinstance(args, str) else (args[0] if args else "")
        if isinstance(raw, str):
            rawmodes.append(raw)
    return rawmodes


def _stored_bits(im, rawmodes: list[str]) -> int:
    if im.mode == "1":
        return 1
    if im.mode in _SIXTEEN_BIT_GRAY:
        return 16
    if any(";16" in raw for raw in rawmodes):
        return 16
    if any(";32" in raw for raw in rawmodes) or im.mode in ("I", "F"):
        return 32
    return 8


def _upright(im):
    """The image as it is meant to be seen: a camera's EXIF orientation tag (274) applied.

    Returns (image, note); the note is "" when the tag is absent or says "as stored". The tag's
    valid values are 1 to 8; any other is ignored (the image used as stored) and the note says
    so — it never claims a turn that did not happen.
    """
    from PIL import ImageOps

    orientation = im.getexif().get(0x0112, 1)
    if orientation in (None, 1):
        return im, ""
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return im, f"invalid EXIF orientation tag ({orientation!r}) ignored: used as stored"
    note = f"turned upright by its EXIF orientation tag ({orientation})"
    return ImageOps.exif_transpose(im), note


@contextlib.contextmanager
def _opened(path: Path, func: str, max_pixels: int | None) -> Iterator[Any]:
    """The file opened lazily by Pillow (header read, no pixel decoded), its size checked.

    Every way a hostile file can fail here becomes a ``ValueError`` naming ``func``, the
    argument ``path`` and the file: not an image, truncated or corrupt (Pillow raises
    ``OSError("Truncated File Read")`` and the like), a decompression bomb. Pillow's
    warnings about damaged files (``UserWarning``) are not printed: the error says it.
    """
    Image = _pillow()
    where = f"{func}: path: '{path}'"
    limits = [n for n in (Image.MAX_IMAGE_PIXELS, max_pixels) if n is not None]
    limit = min(limits) if limits else None
    # a regular file, opened without blocking: a FIFO would hang Pillow's read, a device
    # such as /dev/zero never end
    with open_regular("path", path, func=func, expected="an image file") as handle:
        yield from _opened_handle(handle, where, limit)


def _opened_handle(handle: Any, where: str, limit: int | None) -> Iterator[Any]:
    Image = _pillow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(handle)
        except Image.UnidentifiedImageError:
            raise ValueError(
                f"{where} is not an image file that Pillow can read "
                "(expected PNG, JPEG, TIFF, BMP, ...)"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(f"{where} refused as a possible decompression bomb: {exc}") from None
        except (OSError, SyntaxError, EOFError, ValueError) as exc:
            raise ValueError(
                f"{where} could not be read: the file is truncated or corrupt ({exc})"
            ) from None
        with im:
            width, height = im.size
            if limit is not None and width * height > limit:
                raise ValueError(
                    f"{where} refused as a possible decompression bomb: "
                    f"{width}x{height} = {width * height} pixels exceeds the limit of {limit} "
                    "(PIL.Image.MAX_IMAGE_PIXELS and max_pixels= set it)"
                )
            try:
                yield im
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ValueError(
                    f"{where} refused as a possible decompression bomb: {exc}"
                ) from None
            except (OSError, SyntaxError, EOFError) as exc:
                raise ValueError(
                    f"{where} could not be decoded: the file is truncated or corrupt ({exc})"
                ) from None


def _readable_bits(im: Any, where: str) -> int:
    """The stored bits per sample, from the header; ValueError for the samples
    ``load_image`` refuses (16-bit colour or alpha, 32-bit integer or float)."""
    rawmodes = _tile_rawmodes(im)
    bits = _stored_bits(im, rawmodes)
    if bits == 16 and im.mode not in _SIXTEEN_BIT_GRAY + ("I",):
        raise ValueError(
            f"{where} has 16-bit colour or alpha samples ({rawmodes[0]}); "
            "Pillow can only read 16-bit grayscale exactly — convert the file to "
            "8 bits per channel or to 16-bit gray"
        )
    if bits == 32 or im.mode == "F":
        kind = "float" if im.mode == "F" else "integer"
        raise ValueError(
            f"{where} has 32-bit {kind} samples; supported are 8-bit L, "
            "LA, RGB, RGBA and 16-bit grayscale"
        )
    return bits


def _channels_of(im: Any) -> int:
    """How many channels ``load_image`` returns for the stored mode (see its table)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_GRAY or mode in ("I", "1", "L", "F"):
        return 1
    if mode in ("LA", "La"):
        return 2
    if mode == "P":
        return 4 if "transparency" in im.info else 3
    if mode in ("RGBA", "RGBa", "PA"):
        return 4
    return 3


def image_shape(path: str | os.PathLike, *, max_pixels: int | None = None) -> tuple[int, int, int]:
    """(C, H, W) of the array ``load_image`` would return, read from the header alone.

    Nothing is decoded, so a size can be judged (memory, a limit) before the pixels cost
    anything. Errors as ``load_image``'s, its refusals (16-bit colour, 32-bit samples)
    included; an EXIF orientation that turns the picture a quarter swaps H and W, as
    ``load_image`` does (in a PNG too: an EXIF or XMP tag before the pixels, an eXIf chunk
    after them, found without decoding them).
    """
    path = Path(path)
    with _opened(path, "image_shape", max_pixels) as im:
        _readable_bits(im, f"image_shape: path: '{path}'")
        width, height = im.size
        if im.format == "TIFF":  # Pillow's TIFF reader gives the upright size already
            orientation = 1
        elif im.format != "PNG" or "exif" in im.info:
            orientation = im.getexif().get(0x0112, 1)  # EXIF, else XMP's tiff:Orientation
        else:  # a PNG's eXIf chunk after the pixels (Pillow decodes them to find it), or XMP
            orientation = _trailing_png_orientation(path)
            if orientation is None:
                orientation = _xmp_orientation(im.info.get("XML:com.adobe.xmp", ""))
        if orientation in (5, 6, 7, 8):  # a quarter turn (see _upright)
            width, height = height, width
        return _channels_of(im), height, width


#: Chunks walked at most looking for a PNG's trailing eXIf (a bound on a crafted file).
_MAX_PNG_CHUNKS = 1 << 20


def _xmp_orientation(xmp: Any) -> int:
    """The tiff:Orientation of an XMP packet (an attribute or an element, as Pillow reads
    it when a file has no EXIF tag), 1 when it has none."""
    import re

    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    found = re.search(r'tiff:Orientation(?:="|>)([0-9])', text)
    return int(found[1]) if found else 1


def _trailing_png_orientation(path: Path) -> Any:
    """The EXIF orientation tag of a PNG's eXIf chunk that follows its pixel data (None when
    it has no such chunk or tag), read by walking the chunks' 8-byte headers and seeking over
    their data: the pixels are not decoded. A malformed chunk list ends the walk (the decoder
    judges it); an eXIf chunk that is not EXIF raises SyntaxError, which ``_opened`` reports
    as ``load_image`` does."""
    from PIL import Image

    with open_regular("path", path, func="image_shape") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        for _ in range(_MAX_PNG_CHUNKS):
            head = f.read(8)
            if len(head) < 8:
                return None
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind == b"IEND" or length > 0x7FFFFFFF:
                return None
            if kind == b"eXIf":
                exif = Image.Exif()
                with warnings.catch_warnings():  # a short block: Pillow warns and reads less
                    warnings.simplefilter("ignore")
                    exif.load(f.read(length))  # not a TIFF block: SyntaxError, as decoding
                return exif.get(0x0112)
            f.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


def available_memory() -> int | None:
    """Bytes of memory this process can still take, or None where the system does not say.

    Linux: ``MemAvailable`` of /proc/meminfo, lowered to what a cgroup v2 memory limit
    (``memory.max`` less ``memory.current``) leaves; elsewhere the free physical pages.
    """
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            found.append(max(int(limit) - int(used), 0))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            return None
    return min(found)


def load_image(
    path: str | os.PathLike, *, max_pixels: int | None = None
) -> tuple[np.ndarray, ImageInfo]:
    """Read an image file into float64 pixels in [0, 1], shape (C, H, W).

    x[c, i, j] = q[i, j, c] / (2**bits - 1), with q the stored integer sample: bits = 8 for
    8-bit files (divide by 255), 16 for 16-bit grayscale (Pillow mode "I;16", divide by 65535).

    Channels by stored mode:

    - L → 1 (gray); LA → 2 (gray, alpha); RGB → 3; RGBA → 4; I;16 → 1 (16-bit gray);
    - 1 (bilevel) → 1 (gray, 0 or 1); P (palette) → RGBA if the palette has transparency,
      else RGB; PA → RGBA; La / RGBa (premultiplied) → LA / RGBA; CMYK, YCbCr, LAB, HSV,
      RGBX → RGB. ``info.converted`` records any such conversion.

    A file of several frames (an animated GIF, PNG or WebP; a multi-page TIFF) gives its
    first frame, and ``info.converted`` says so ("first of N frames used"): one array is one
    picture, and the first is the one every viewer shows first. A camera's EXIF orientation
    tag is applied (the picture as meant to be seen) and recorded there too; an invalid tag
    is ignored, and the note says that instead.

    Refused, with ``ValueError`` naming the file: a file Pillow cannot read as an image; a
    truncated or corrupt one; 16-bit colour or 16-bit gray + alpha (Pillow has no such mode
    and would silently keep only the top 8 bits); 32-bit integer or float samples; too many
    pixels (decompression bombs — a few bytes of compressed data that expand to gigabytes).
    The pixel limit is Pillow's own, ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 million
    pixels, ~2.9 GB once float64 RGBA), or ``max_pixels`` where that is lower (raise
    Pillow's limit to go higher). The size is checked from the header, before any pixel is
    decoded; Pillow's ``DecompressionBombWarning`` is turned into this error, so the result
    is a message, never an exhausted memory (``image_shape`` gives the size alone, for
    callers that must judge the memory their own work will take). A missing file raises
    ``FileNotFoundError``.

    Returns
    -------
    x : (C, H, W) float64 in [0, 1], C in {1, 2, 3, 4} (alpha last).
    info : ``ImageInfo`` (format, stored mode, bit depth, channel names, conversion).
    """
    path = Path(path)
    where = f"load_image: path: '{path}'"
    with _opened(path, "load_image", max_pixels) as im:
        bits = _readable_bits(im, where)
        file_format, stored_mode = im.format, im.mode
        frames = getattr(im, "n_frames", 1)
        im.load()
        upright, turned = _upright(im)
        x, mode, converted = _to_array(upright, bits)
        first = f"first of {frames} frames used (the others ignored)" if frames > 1 else ""
        converted = "; ".join(note for note in (first, turned, converted) if note)
    info = ImageInfo(
        format=file_format,
        mode=stored_mode,
        bit_depth=bits,
        channels=_CHANNEL_NAMES[mode],
        converted=converted,
    )
    return x, info


def _to_array(im, bits: int) -> tuple[np.ndarray, str, str]:
    """Pixels of a loaded Pillow image as (C, H, W) float64 in [0, 1]; its mode; conversion."""
    mode = im.mode
    converted = ""
    if mode in _SIXTEEN_BIT_GRAY or mode == "I":
        q = np.asarray(im)
        if q.size and (q.min() < 0 or q.max() > 65535):  # "I" from an older Pillow: check
            raise ValueError(f"samples outside 0..65535 in a 16-bit image (mode {mode})")
        hw = q.astype(np.float64) / 65535.0
        return hw[None], "L", converted
    if mode == "1":
        im, converted = im.convert("L"), "bilevel (1) expanded to gray L"
    elif mode == "P":
        target = "RGBA" if "transparency" in im.info else "RGB"
        im, converted = im.convert(target), f"palette (P) expanded to {target}"
    elif mode == "PA":
        im, converted = im.convert("RGBA"), "palette with alpha (PA) expanded to RGBA"
    elif mode == "La":
        im, converted = im.convert("LA"), "premultiplied La un-premultiplied to LA"
    elif mode == "RGBa":
        im, converted = im.convert("RGBA"), "premultiplied RGBa un-premultiplied to RGBA"
    elif mode not in _MODE_OF_CHANNELS.values():
        im, converted = im.convert("RGB"), f"{mode} converted to RGB by Pillow"
    q = np.asarray(im)
    hwc = q.astype(np.float64) / 255.0
    if hwc.ndim == 2:
        hwc = hwc[:, :, None]
    return np.ascontiguousarray(hwc.transpose(2, 0, 1)), im.mode, converted


# ---------------------------------------------------------------------------------------------
# Writing


def image_format(path: str | os.PathLike) -> str:
    """Pillow's format name for ``path``'s extension (".png" → "PNG"); ValueError if unknown."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise ValueError(
            f"path: unsupported image extension {ext or '(none)'!r} in '{path}'; expected one of "
            + ", ".join(sorted(FORMATS))
        )
    return FORMATS[ext]


#: the longest side a format's encoder writes (libjpeg's limit; PNG, TIFF, BMP: 2³¹ − 1)
_MAX_SIDE = {"JPEG": 65500}


def save_image(
    x: np.ndarray, path: str | os.PathLike, *, bit_depth: int = 8, quality: int = 95
) -> Path:
    """Write (C, H, W) pixels in [0, 1] to an image file; the format follows the extension.

    q[i, j, c] = round(x[c, i, j] · (2**bit_depth - 1)), stored as uint8 (bit_depth 8) or
    uint16 (bit_depth 16). C = 1, 2, 3, 4 → L, LA, RGB, RGBA (alpha last).

    Formats: .png, .tif/.tiff (every layout; 16-bit for C = 1), .jpg/.jpeg (L, RGB; lossy,
    ``quality``), .bmp (L, RGB, RGBA). Anything a format cannot hold is a ``ValueError``
    that says so — a 16-bit JPEG, alpha in a JPEG — never a silent conversion: callers that
    want 8 bits or no alpha say so by what they pass. Values must lie in [0, 1] (a margin of
    1e-9 for rounding is clipped); map signed data to pixels first (e.g. 0.5 + d/2).

    The file is written to a temporary file in the same directory and renamed over ``path``
    (``os.replace``) only once complete: a failure never leaves a partial file. The
    directory must exist and be writable (else ``PermissionError`` "output directory is not
    writable: DIR", naming the directory, not the temporary file). Returns the path written.
    """
    check_float_array("x", x, func="save_image")
    check_ndim(
        "x",
        x,
        (3,),
        func="save_image",
        layout="(C, H, W)",
        hint="for one gray image add the channel axis with x[None]" if x.ndim == 2 else "",
    )
    C = x.shape[0]
    if C not in _MODE_OF_CHANNELS:
        raise ValueError(
            f"save_image: x: expected 1, 2, 3 or 4 channels (L, LA, RGB, RGBA), "
            f"got {C} (shape {x.shape})"
        )
    if bit_depth not in (8, 16):
        raise ValueError(f"save_image: bit_depth: expected 8 or 16, got {bit_depth!r}")
    fmt = image_format(path)
    if bit_depth == 16 and (C != 1 or fmt not in SIXTEEN_BIT_FORMATS):
        raise ValueError(
            f"save_image: bit_depth: 16 bits need one channel (gray) and a PNG or TIFF file, "
            f"got {C} channel(s) and {fmt}; pass bit_depth=8"
        )
    if C in (2, 4) and C not in ALPHA_FORMATS[fmt]:
        raise ValueError(
            f"save_image: x: {fmt} cannot store {_MODE_OF_CHANNELS[C]} (alpha); drop the alpha "
            "channel (x[:-1]) or write PNG or TIFF"
        )
    if fmt in _MAX_SIDE and max(x.shape[1:]) > _MAX_SIDE[fmt]:
        raise ValueError(
            f"save_image: x: {fmt} holds at most {_MAX_SIDE[fmt]} pixels a side, got "
            f"{x.shape[1]}×{x.shape[2]}; write PNG or TIFF"
        )
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("save_image: x: expected finite values, got NaN or infinity")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
    margin = 1e-9
    if lo < -margin or hi > 1 + margin:
        raise ValueError(
            f"save_image: x: expected values in [0, 1], got [{lo:.6g}, {hi:.6g}]; scale or clip "
            "first (signed differences d map to pixels as 0.5 + d/2)"
        )
    # through a symlink to its target, as open() writes; no directory, no symlink loop, a
    # writable folder: checked before the pixels are converted
    path = output_file("path", path, func="save_image")
    levels = 2**bit_depth - 1
    q = np.rint(np.clip(x, 0.0, 1.0) * levels).astype(np.uint16 if bit_depth == 16 else np.uint8)
    Image = _pillow()
    if bit_depth == 16:
        im = Image.fromarray(np.ascontiguousarray(q[0]))  # uint16 → mode "I;16"
    else:
        hwc = np.ascontiguousarray(q.transpose(1, 2, 0))
        im = Image.fromarray(hwc[:, :, 0] if C == 1 else hwc)
    options = {"quality": quality} if fmt == "JPEG" else {}
    try:
        with atomic_output(path) as handle:
            im.save(handle, format=fmt, **options)
    except UnwritableDirectory as exc:
        raise UnwritableDirectory(f"save_image: path: {exc}") from None
    return path


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: (n, 3) uint8, row k the colour of class k (n ≤ 256).

    Generated by the VOC development kit's bit formula (``labelcolormap.m``): the bits of k,
    read three at a time from the lowest, go to R, G and B from the highest bit down —

        R[k] = Σ_{j=0}^{7} bit(k, 3j)     · 2^(7−j)
        G[k] = Σ_{j=0}^{7} bit(k, 3j + 1) · 2^(7−j)
        B[k] = Σ_{j=0}^{7} bit(k, 3j + 2) · 2^(7−j)

    so class 0 is black, 1 (128, 0, 0), 2 (0, 128, 0), 15 (192, 128, 128) and 255 — VOC's
    "void" border — (224, 224, 192): neighbouring classes get far-apart colours.

    >>> voc_palette(4).tolist()
    [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 256:
        raise ValueError(f"voc_palette: n: expected an int in [1, 256], got {n!r}")
    k = np.arange(int(n))
    colours = np.zeros((int(n), 3), np.uint8)
    for j in range(8):  # over the 8 bits of each channel, not over the classes
        for channel in range(3):
            colours[:, channel] |= (((k >> (3 * j + channel)) & 1) << (7 - j)).astype(np.uint8)
    return colours


def save_label_map(labels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a map of class indices (H, W), integers in [0, 255], as a palette PNG.

    The PNG is Pillow's mode "P": each pixel's stored value is its class index itself (read
    it back with ``numpy.asarray(PIL.Image.open(path))``), and the palette, 256 entries, is
    ``voc_palette()`` — so a viewer shows the classes in PASCAL VOC's colours, the way VOC's
    own ``SegmentationClass`` files are stored. ``path`` must end in .png. Written as
    ``save_image`` writes: a temporary file in the same folder renamed over ``path`` once
    complete, so a failure never leaves a partial file; the folder must exist and be
    writable. Returns the path written.
    """
    func = "save_label_map"
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        what = labels.dtype if isinstance(labels, np.ndarray) else type(labels).__name__
        raise TypeError(f"{func}: labels: expected an integer numpy array (H, W), got {what}")
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(
            f"{func}: labels: expected shape (H, W) with H, W >= 1, got {labels.shape}"
        )
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) > 255):
        raise ValueError(
            f"{func}: labels: a palette PNG holds class indices 0 to 255, got "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    if Path(os.fspath(path)).suffix.lower() != ".png":
        raise ValueError(f"{func}: path: expected a .png file (a palette PNG), got '{path}'")
    path = output_file("path", path, func=func)
    Image = _pillow()
    height, width = labels.shape
    # the bytes are the indices themselves: no conversion that could remap them
    im = Image.frombytes("P", (width, height), labels.astype(np.uint8).tobytes())
    im.putpalette(voc_palette().tobytes())
    try:
        with atomic_output(path) as handle:
            im.save(handle, format="PNG")
    except UnwritableDirectory as exc:
        raise UnwritableDirectory(f"{func}: path: {exc}") from None
    return path


def to_channels(x: np.ndarray, has_alpha: bool, channels: int) -> np.ndarray:
    """An image x (C, H, W) in [0, 1] with ``channels`` channels for a model: its alpha
    dropped (``has_alpha``, as ``ImageInfo.has_alpha`` says), gray repeated for a colour
    model, BT.601 luma (result 3, ``filters.to_grayscale``) for a gray one. Any other
    mismatch is a ValueError naming both counts."""
    from .filters import to_grayscale

    if has_alpha:
        x = x[:-1]
    if x.shape[0] == channels:
        return x
    if x.shape[0] == 1 and channels == 3:
        return np.repeat(x, 3, axis=0)
    if x.shape[0] == 3 and channels == 1:
        return to_grayscale(x)
    raise ValueError(f"has {x.shape[0]} colour channel(s); expected {channels}")
