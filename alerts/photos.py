"""Rectification photos: only a picture that decodes completely is accepted, and what is stored
is that picture re-encoded, so that nothing else rides along (a payload after the image data or
inside its metadata: HTML, a ZIP archive, a program).

The size the header declares is read before decoding and bounded, so a small file that would
decode to gigabytes (a "decompression bomb") is refused without being decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import SitewatchError

PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png"}  # media type -> file extension
MAGIC = {"jpg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}
NAMES = {"jpg": "JPEG", "png": "PNG"}
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000
JPEG_QUALITY = 95
PNG_COMPRESSION = 6
# JPEG start-of-frame markers (they carry the picture's size): C0-CF but DHT, JPG and DAC
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})  # no length field


class PhotoError(SitewatchError, ValueError):
    """An upload that is not a usable JPEG or PNG picture (the message says why)."""


@dataclass(frozen=True, slots=True)
class Photo:
    """A verified photo: the re-encoded picture to store."""

    extension: str
    data: bytes
    width: int
    height: int


def declared_size(data: bytes, extension: str) -> tuple[int, int]:
    """Width and height from the header of a PNG or JPEG, without decoding it."""
    if extension == "png":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise PhotoError("the PNG image has no header (IHDR)")
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        if marker in {0xD9, 0xDA}:  # end of image, start of scan: no frame header before
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in SOF_MARKERS and position + 9 <= len(data):
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return int(width), int(height)
        position += 2 + length
    raise PhotoError("the JPEG image has no frame header (it is truncated or not a JPEG)")


def verified_photo(data: bytes, media_type: str) -> Photo:
    """The picture in ``data``, decoded and re-encoded as its own type, or PhotoError."""
    extension = PHOTO_TYPES.get(media_type)
    if extension is None:
        raise PhotoError(f"photos must be image/jpeg or image/png, not {media_type or 'none'}")
    kind = NAMES[extension]
    if not data.startswith(MAGIC[extension]):
        raise PhotoError(f"the body is not a {kind} image")
    width, height = declared_size(data, extension)
    if width * height > MAX_PHOTO_PIXELS:
        raise PhotoError(
            f"the {kind} image is {width}x{height} pixels, more than the "
            f"{MAX_PHOTO_PIXELS // 1_000_000} million accepted"
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise PhotoError(f"the body is not a complete {kind} image (it does not decode)")
    if extension == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    ok, encoded = cv2.imencode(f".{extension}", image, params)
    if not ok:
        raise PhotoError(f"the {kind} image cannot be re-encoded")
    decoded_height, decoded_width = image.shape[:2]
    return Photo(extension, encoded.tobytes(), int(decoded_width), int(decoded_height))
