"""Uploaded files to aligned faces, refused with the field's name when they are not ones we take.

A file is taken by what its bytes are, not by the name or type the client gave it: Pillow
reads the header of those formats only (ACCEPTED_FORMATS), and an image of more than
``siamface.data.preprocess.MAX_PIXELS`` is refused from its header, before it is decoded.
``UploadAligner`` then finds and aligns its face, in a worker process or thread
(``photo_pool.PhotoPool``). The per-photo notices of the command line (several faces, a grey
photo for a model of colour photos) are not given as warnings: the response's photo carries
them (``faces_found``, ``grey`` and ``note``).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from siamface.data.preprocess import (
    DECODE_ERRORS,
    MAX_PIXELS,
    ImageDecodeError,
    Preprocessing,
    open_image,
)
from siamface.errors import SiamfaceWarning
from siamface.inference.align import (
    AlignedFace,
    FaceAligner,
    Photo,
    decode_upright,
)
from siamface.inference.face_detection import NoFaceError
from siamface.serve.problems import ApiError

# Pillow format -> media type: the photo formats a browser or a phone sends.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
}

# The ISO base media "ftyp" brands of HEIC/HEIF still images, which Pillow cannot identify.
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


class UploadBuffer(io.BytesIO):
    """An upload's bytes, which name themselves by their form field in error messages.

    Args:
        data: The file's bytes.
        field: The form field it came in ("image_a").
    """

    def __init__(self, data: bytes, field: str) -> None:
        super().__init__(data)
        self.field = field

    def __str__(self) -> str:
        return self.field

    __repr__ = __str__  # Pillow names an unidentified file by its repr


def decode_photo(data: bytes, field: str, max_bytes: int,
                 min_side: int = 0) -> tuple[Image.Image, float]:
    """An uploaded photo as an upright 8-bit RGB image, and the file's pixels per image pixel.

    Args:
        data: The uploaded file.
        field: Its form field, named in every error.
        max_bytes: The largest file taken.
        min_side: A large JPEG is decoded reduced, its shorter side kept at least this
            (``siamface.inference.align.decode_upright``); 0: full size.

    Raises:
        ApiError: 413 for a file or image too large, 415 for a file that is no image of an
            accepted format, 422 for an empty file or one that cannot be decoded.
    """
    if not data:
        raise ApiError(422, field, f"{field}: the file is empty")
    if len(data) > max_bytes:
        # only the limit and one byte more were read: the file's own size is not known
        raise ApiError(413, field, f"{field}: the file is larger than the limit of "
                       f"{max_bytes:,} bytes")
    accepted = ", ".join(ACCEPTED_FORMATS)
    try:
        # only the accepted formats are tried: an ICO is decoded whole while it is opened
        with open_image(UploadBuffer(data, field), list(ACCEPTED_FORMATS)) as im:  # JPEG: MPO too
            try:
                return decode_upright(im, min_side, field)
            except DECODE_ERRORS as err:
                raise ApiError(422, field, f"{field}: cannot decode image: {err}") from None
    except ImageDecodeError as err:
        if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:  # a phone's HEIC: not taken
            raise ApiError(415, field, f"{field}: HEIC/HEIF images are not accepted; send one "
                           f"of {accepted} (a phone can share a photo as JPEG)") from None
        if isinstance(err.__cause__, UnidentifiedImageError):
            raise ApiError(415, field, f"{field}: not an image of an accepted format; send "
                           f"one of {accepted}") from None
        message = " ".join(str(err).split())
        status = 413 if f"{MAX_PIXELS:,} pixels" in message else 422  # over the limit
        raise ApiError(status, field, message) from None


@dataclass(frozen=True)
class Face:
    """An uploaded photo, aligned.

    Attributes:
        aligned: The model's input and the face's box.
        faces_found: Faces the detector found (the largest is used); None without detection.
        width, height: The upright photo's size, in the pixels the box is given in.
    """

    aligned: AlignedFace
    faces_found: int | None
    width: int
    height: int


class UploadAligner:
    """Uploaded files to aligned faces: ``decode_photo``, then detect and align the largest.

    Not for two threads at once (a face detector may keep scratch buffers): one per thread or
    process.

    Args:
        preprocessing: The model's input preprocessing.
        detect: Find the face; off: every photo is an aligned LFW-style frame already.
        max_file_bytes: The largest file taken.
    """

    def __init__(self, preprocessing: Preprocessing, detect: bool, max_file_bytes: int) -> None:
        self.preprocessing = preprocessing
        self.detect = detect
        self.max_file_bytes = max_file_bytes
        self.aligner = FaceAligner(preprocessing, detect)

    def face(self, data: bytes, field: str) -> Face:
        """Decode an upload and align its largest face.

        Raises:
            ApiError: as ``decode_photo``, and 422 naming ``field`` when no face is found.
        """
        photo, scale = decode_photo(data, field, self.max_file_bytes, self.aligner.min_side)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SiamfaceWarning)  # faces_found says it
                aligned = self.aligner(Photo(photo, field, scale))  # in the file's pixels
        except NoFaceError as err:  # "no face found in <field> (...)"
            raise ApiError(422, field, str(err)) from None
        # in the file's pixels, like the box (a reduced decoding's sides are rounded up)
        return Face(aligned, aligned.faces_found, round(photo.width * scale),
                    round(photo.height * scale))
