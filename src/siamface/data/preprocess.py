"""How an LFW JPEG becomes a network input: crop box, output size, channels; and load_image().

The seed projects fed the whole 250x250 frame, shrunk to 105x105 grey (the paper's input size).
The deep-funneled images are aligned, so the face sits at a fixed place in the middle of the
frame; cropping it away from the background ("face", "tight") gives the network more face
pixels for the same input size.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import ExifTags, Image

from siamface.errors import SiamfaceError
from siamface.utils.registry import Registry

# Pillow's resize is a separable convolution whose kernel is widened by the reduction factor,
# so every filter below is anti-aliased when shrinking. LANCZOS (a windowed sinc, 3 lobes) keeps
# the most detail of eyes, brows and mouth at the 1.5-2.5x reductions used here, with only a
# faint ringing; BILINEAR (a triangle) is visibly softer. Measured on LFW, LANCZOS costs about
# 0.5 ms per image against 0.2 ms for BILINEAR; beside a ~1 ms JPEG decode and a 60 s budget for
# all 13,233 images that is cheap, so we take the sharper filter.
RESAMPLE = Image.Resampling.LANCZOS

# Image.draft() lets libjpeg do part of the work while decoding. Measured against a full decode
# on 400 LFW images (benchmarks/README.md):
# - grey output: decoding only the luma plane (draft "L") is ~20% faster and differs from
#   Pillow's RGB->L conversion by 0.03 grey levels on average, so we always do it;
# - half-scale decode: the 1/2 DCT scaling is a slightly softer filter than LANCZOS. When the
#   crop still has DRAFT_MARGIN x the output size after halving, the mean difference is under
#   0.5 grey levels (99th percentile 3); at the "full" 250 -> 105 setting (a margin of 1.19) it
#   would be 0.8 on average and up to 39, so that setting decodes at full scale. The 1/4 and 1/8
#   decodes differ by 0.6-2.5 on average even with wide margins, so we never use them.
DRAFT_MARGIN = 2.0

_MODES = {1: "L", 3: "RGB"}
FRAME_SIZE = 250  # LFW's frame, in which every crop box is given (photos are aligned to one)

# The most pixels an image may have: checked from the header, before anything is decoded. 50
# megapixels is a large camera photo (about 150 MB as RGB); LFW's frames have 62,500. Pillow's
# own limit (89 megapixels, an error from 179) would let a 13000x13000 PNG decode 500 MB.
MAX_PIXELS = 50_000_000
SCALE_BLOCK = 1 << 20  # values scaled at a time from a deeper grey mode to 8 bits (8 MB)
_LIMIT = f"the limit is {MAX_PIXELS:,} pixels ({MAX_PIXELS // 1_000_000} megapixels)"

# What transparent pixels are shown over: white, as an image viewer or a web page shows them.
BACKGROUND = (255, 255, 255)

# What Pillow raises on an unreadable file: OSError (UnidentifiedImageError, "image file is
# truncated", "broken data stream"), SyntaxError from some plugin parsers, ValueError from
# others (e.g. a PNG text chunk too large to decompress).
DECODE_ERRORS = (OSError, SyntaxError, ValueError)  # what Pillow raises for undecodable files

# What undoes each EXIF orientation (2-8; 1 is upright); 5-8 turn the frame by 90 degrees.
_UNDO_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


class ImageDecodeError(SiamfaceError, ValueError):
    """An image file could not be decoded (corrupt, truncated, not an image or too large)."""


@dataclass(frozen=True)
class Preprocessing:
    """What load_image() does to a source image.

    Args:
        crop: ``(left, top, right, bottom)`` box in source-frame pixels, right and bottom
            exclusive (Pillow's convention); ``None`` keeps the full frame, as the seed
            projects did.
        size: Side of the square output in pixels. A non-square crop is stretched to it.
        channels: 1 for grey (ITU-R 601 luma, as Pillow's "L"), 3 for RGB.
    """

    crop: tuple[int, int, int, int] | None = None
    size: int = 105
    channels: int = 1

    def __post_init__(self) -> None:
        if self.crop is not None:
            if not isinstance(self.crop, tuple):
                # from_dict and YAML give lists; a frozen dataclass must stay hashable.
                object.__setattr__(self, "crop", tuple(self.crop))
            crop = self.crop
            if len(crop) != 4 or not all(_is_int(v) for v in crop):
                raise ValueError(
                    f"crop must be None or 4 integers (left, top, right, bottom), got {crop!r}"
                )
            left, top, right, bottom = crop
            if not (0 <= left < right <= FRAME_SIZE and 0 <= top < bottom <= FRAME_SIZE):
                raise ValueError(
                    f"crop must satisfy 0 <= left < right <= {FRAME_SIZE} and 0 <= top < "
                    f"bottom <= {FRAME_SIZE} (LFW's frame), got (left, top, right, bottom) = "
                    f"{crop!r}"
                )
        if not _is_int(self.size) or self.size < 1:
            raise ValueError(f"size must be a positive integer, got {self.size!r}")
        if self.channels not in _MODES or not _is_int(self.channels):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels!r}")
        # NumPy's integers made plain: equal settings get one cache key and index.json
        if self.crop is not None:
            object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "channels", int(self.channels))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one preprocessed image."""
        return (self.channels, self.size, self.size)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crop"] = None if self.crop is None else list(self.crop)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """Inverse of to_dict(); unknown keys are an error, missing keys take the defaults."""
        unknown = set(d) - {"crop", "size", "channels"}
        if unknown:
            raise ValueError(
                f"unknown preprocessing keys {sorted(unknown)}; expected crop, size, channels"
            )
        return cls(**d)


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


# Named crop boxes for the 250x250 deep-funneled frame. Each factory takes the output size and
# channels, so that `preset("face", size=80, channels=3)` builds the default input.
PRESETS: Registry[Preprocessing] = Registry("preprocessing preset")


@PRESETS.register("full")
def _full(size: int = 105, channels: int = 1) -> Preprocessing:
    """The whole frame, as the seed projects and the paper's 105x105 grey input used it."""
    return Preprocessing(crop=None, size=size, channels=channels)


@PRESETS.register("face")
def _face(size: int = 105, channels: int = 1) -> Preprocessing:
    """The centred 150x150 box that holds the aligned face with hair, ears and chin."""
    return Preprocessing(crop=(50, 50, 200, 200), size=size, channels=channels)


@PRESETS.register("tight")
def _tight(size: int = 105, channels: int = 1) -> Preprocessing:
    """Brows to chin, cheek to cheek (110 wide x 120 tall): almost no background."""
    return Preprocessing(crop=(70, 65, 180, 185), size=size, channels=channels)


def preset(name: str, size: int = 105, channels: int = 1) -> Preprocessing:
    """The named preset ("full", "face", "tight") at the given output size and channels."""
    return PRESETS.build(name, size=size, channels=channels)


def load_image(path: str | Path, prep: Preprocessing) -> np.ndarray:
    """Decode, turn upright, crop and resize one image.

    Args:
        path: Any image Pillow reads (LFW's are 250x250 RGB JPEGs), in any mode (see to_8bit);
            its EXIF orientation is applied before cropping.
        prep: The preprocessing settings.

    Returns:
        uint8 array of shape ``(C, size, size)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageDecodeError: the file is not a readable image (corrupt or truncated), or it has
            more than MAX_PIXELS pixels.
        ValueError: the crop box does not fit inside the (upright) image.
    """
    mode = _MODES[prep.channels]
    with open_image(path) as im:
        width, height = im.size
        crop_width, crop_height = (width, height) if prep.crop is None else (
            prep.crop[2] - prep.crop[0], prep.crop[3] - prep.crop[1]
        )
        try:
            # Decode at half scale when that is accurate (see DRAFT_MARGIN); draft() is a no-op
            # for anything but JPEG, and returns the original frame's size in decoded pixels.
            # (the image's own sides too: drafting a side of 1 pixel to 0 divides by zero)
            half = min(crop_width, crop_height, width, height) / 2 >= DRAFT_MARGIN * prep.size
            scale = 2 if half else 1
            drafted = im.draft(mode, (width // scale, height // scale))
            scale = 1 if drafted is None else width / drafted[1][2]
            im.load()
            turned = upright(im)
            if turned.size != im.size:  # turned by 90 degrees: the full-size sides swap too
                width, height = height, width
            converted = to_8bit(turned, mode, path)
        except ImageDecodeError:
            raise
        except DECODE_ERRORS as err:
            raise ImageDecodeError(f"{path}: cannot decode image: {err}") from err
    box = _fitting_box(prep, width, height, path)
    return _crop_resize(converted, box, prep.size, scale)


# The image this thread is opening or decoding (inside ``open_image``'s block): the command
# line names it beside a warning Pillow gives without saying which file it read, such as
# "Corrupt EXIF data" (siamface.cli.main.warnings_as_notices).
READING: ContextVar[str | None] = ContextVar("READING", default=None)


@contextmanager
def open_image(path: str | Path | BinaryIO,
               formats: Sequence[str] | None = None) -> Iterator[Image.Image]:
    """Open an image file for the block, reading only its header, and refuse one of more than
    MAX_PIXELS. The image is closed at the end of the block.

    Pillow's own decompression-bomb limit is higher than ours, so its warning is silenced and
    its error (above twice that limit) becomes an ImageDecodeError like ours.

    Args:
        path: The image file, or a file object whose str() names it.
        formats: The Pillow formats to try (None: all). A few (ICO, ICNS) decode the whole
            image while opening, before its size can be refused: a server names the ones it
            takes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageDecodeError: not a readable image (of ``formats``), or too many pixels.
    """
    reading = READING.set(str(path))
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(path, formats=formats)
        except FileNotFoundError:
            raise
        except Image.DecompressionBombError as err:
            found = re.search(r"\((\d+) pixels\)", str(err))
            pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
            raise ImageDecodeError(f"{path}: the image has {pixels}; {_LIMIT}") from err
        except DECODE_ERRORS as err:
            raise ImageDecodeError(f"{path}: cannot decode image: {err}") from err
        with im:
            check_pixel_count(*im.size, path)
            yield im
    finally:
        READING.reset(reading)


def check_pixel_count(width: int, height: int, source: str | Path) -> None:
    """Refuse an image of more than MAX_PIXELS (ImageDecodeError naming ``source``)."""
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(f"{source}: the image is {width}x{height} "
                               f"({width * height:,} pixels); {_LIMIT}")


def to_8bit(im: Image.Image, mode: str, source: str | Path = "image") -> Image.Image:
    """``im`` as an 8-bit ``mode`` ("L" or "RGB") image, whatever its own mode.

    - "L" and "RGB" convert as Pillow does (ITU-R 601 luma for grey).
    - Deeper grey modes are scaled, not clipped, to 0..255: "I;16*" by 1/257; "I" by the bit
      depth its file declares (see _declared_bits); otherwise, and for "F", by the smallest of
      8, 16 or 32 bits that holds the largest value, except that "F" within 0..1 is scaled by
      255. Values below 0 (and NaN) become 0.
    - Transparency (RGBA, LA, PA, or a palette or colour key with a transparent entry) is
      composited over BACKGROUND; CMYK, "1", "P" and the rest convert as Pillow does.

    Args:
        im: The image, in any mode.
        mode: "L" or "RGB".
        source: Names the image in error messages.

    Raises:
        ImageDecodeError: Pillow cannot convert that mode (e.g. "LAB").
    """
    if im.mode in ("L", "RGB") and not im.has_transparency_data:  # LFW's JPEGs: the fast path
        return im.convert(mode)
    try:
        if im.mode.startswith("I") or im.mode == "F":
            grey = _scaled_to_8bit(np.asarray(im), _declared_bits(im))
            return Image.fromarray(grey).convert(mode)
        if im.has_transparency_data:
            background = Image.new("RGBA", im.size, (*BACKGROUND, 255))
            return Image.alpha_composite(background, im.convert("RGBA")).convert(mode)
        return im.convert(mode)
    except ValueError as err:  # "conversion from LAB to RGB not supported" and the like
        raise ImageDecodeError(
            f"{source}: cannot convert a {im.mode} image to {mode}: {err}"
        ) from err


def preprocess_image(
    im: Image.Image, prep: Preprocessing, source: str | Path = "image"
) -> np.ndarray:
    """Crop and resize an image already in memory, exactly as load_image() does a file.

    For frames made at inference time (``siamface.inference.align``), which never were a file.

    Args:
        im: The source frame (250x250 for LFW's crop boxes), in any mode (see to_8bit).
        prep: The preprocessing settings.
        source: Names the image in error messages.

    Returns:
        uint8 array of shape ``(C, size, size)``.

    Raises:
        ImageDecodeError: a mode Pillow cannot convert.
        ValueError: the crop box does not fit inside the image.
    """
    box = _fitting_box(prep, *im.size, source)
    return _crop_resize(to_8bit(im, _MODES[prep.channels], source), box, prep.size, scale=1)


def upright(im: Image.Image) -> Image.Image:
    """``im`` turned as its EXIF orientation says a person sees it (``im`` itself if upright).

    Loads ``im``. Only the orientation tag is read, and a photo whose EXIF Pillow cannot
    parse is taken as stored: Pillow's own ``ImageOps.exif_transpose`` also writes the EXIF
    back, which raises struct.error, TypeError or AttributeError on one malformed tag of a
    photo whose pixels are fine (python-pillow/Pillow#8965, #6799).
    """
    im.load()  # first: the pixels' own errors (a PNG reads EXIF after them) are raised
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # any parser error: the tags are unreadable, not the pixels
        return im
    method = _UNDO_ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return im if method is None else im.transpose(method)


def _declared_bits(im: Image.Image) -> int | None:
    """The bits per sample an "I;16*" or "I" image's file declares; None if unknown or "F"."""
    if im.mode.startswith("I;16"):
        return 16
    if im.mode != "I":
        return None
    if im.format == "TIFF":
        bits = im.tag_v2.get(258)  # BitsPerSample: one value, or one per channel
        return int(bits[0] if isinstance(bits, tuple) else bits) if bits else None
    if im.format == "PPM":  # Pillow scales a maxval above 255 to 0..65535
        return 16
    return None


def _scaled_to_8bit(values: np.ndarray, bits: int | None) -> np.ndarray:
    """Grey values of any depth scaled to uint8, full scale to 255 (see to_8bit).

    In float64 (exact for every 32-bit value), a block of SCALE_BLOCK values at a time: the
    whole of a 50-megapixel image at once took 1.5-2.5 GB of temporaries.
    """
    is_float = values.dtype.kind == "f"
    flat = values.reshape(-1)
    blocks = [slice(i, i + SCALE_BLOCK) for i in range(0, flat.size, SCALE_BLOCK)]

    def finite(block: slice) -> np.ndarray:
        return np.nan_to_num(flat[block].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)

    if bits is not None:
        full_scale = 2.0**bits - 1
    else:  # from the largest value: one pass more
        top = max((float(finite(b).max(initial=0.0)) for b in blocks), default=0.0)
        full_scale = 1.0 if is_float and top <= 1.0 else next(
            (2.0**b - 1 for b in (8, 16, 32) if top <= 2.0**b - 1), top)
    out = np.empty(flat.size, dtype=np.uint8)
    for block in blocks:
        out[block] = np.rint(np.clip(finite(block), 0.0, full_scale) * (255.0 / full_scale))
    return out.reshape(values.shape)


def _fitting_box(
    prep: Preprocessing, width: int, height: int, source: str | Path
) -> tuple[int, int, int, int]:
    """The crop box in source-frame pixels, checked to fit in a ``width`` x ``height`` frame."""
    box = prep.crop if prep.crop is not None else (0, 0, width, height)
    if box[2] > width or box[3] > height:
        raise ImageDecodeError(f"{source}: crop box {box} does not fit in the {width}x{height} "
                               f"image: expected an LFW frame ({FRAME_SIZE}x{FRAME_SIZE})")
    return box


def _crop_resize(
    im: Image.Image, box: tuple[int, int, int, int], size: int, scale: float
) -> np.ndarray:
    """Cut ``box`` (source-frame pixels) out of ``im`` decoded at 1/``scale``, resize to ``size``.

    Cut the box out first: resize(box=...) alone would let the filter reach pixels outside the
    box. At half scale an odd coordinate falls mid-pixel, so cut to whole decoded pixels around
    it and give resize the exact fraction that remains.
    """
    left, top, right, bottom = (v / scale for v in box)  # in decoded pixels
    outer = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
    inner = (left - outer[0], top - outer[1], right - outer[0], bottom - outer[1])
    im = im.crop(outer).resize((size, size), RESAMPLE, box=inner)
    pixels = np.asarray(im, dtype=np.uint8)  # (H, W) grey or (H, W, 3) RGB
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels)  # (C, H, W)
