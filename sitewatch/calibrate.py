"""``sitewatch calibrate``: capture the reference image of a camera's clear exits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from core.errors import SitewatchError
from core.vocabulary import ZoneKind
from detect.references import Reference, ReferenceStore
from detect.zones import ZoneShape
from ingest.camera_reader import CameraReader, DecodePolicy, ReaderSettings
from sitewatch.config.camera import Camera
from sitewatch.config.site import SiteConfig
from sitewatch.rule_setup import zone_shapes

Image = npt.NDArray[np.uint8]


class CalibrationError(SitewatchError, RuntimeError):
    """No reference could be captured; the message says why."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """What was stored."""

    reference: Reference
    preview: Path  # the reference with the exit zones drawn, for a human to check


def grab_frame(camera: Camera, timeout_s: float) -> Image:
    """One decoded frame from the camera (CalibrationError with the camera's status if none)."""
    stop = threading.Event()
    settings = ReaderSettings(
        name=camera.name,
        url=camera.url,
        transport=camera.transport.value,
        stall_timeout_s=min(camera.stall_timeout_s, timeout_s),
        decode=DecodePolicy.ALL,
        max_width=camera.max_width,
        buffer_seconds=0.0,
        loop=camera.loop,
    )
    reader = CameraReader(settings, stop)
    reader.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            frame = reader.latest.take_newer(-1, time.monotonic())
            if frame is not None:
                return np.ascontiguousarray(frame.image)
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(5.0)
    status = reader.status
    reason = status.last_error or status.state.value
    raise CalibrationError(f"camera {camera.name}: no frame within {timeout_s:g} s ({reason})")


def exit_zones(camera: Camera) -> list[ZoneShape]:
    """The camera's exit zones as shapes."""
    return [zone for zone in zone_shapes(camera) if zone.kind == ZoneKind.EXIT.value]


def draw_zones(image: Image, zones: list[ZoneShape]) -> Image:
    """A copy of ``image`` with each zone outlined and named."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    thickness = max(2, width // 400)
    for zone in zones:
        points = zone.pixel_points(width, height)
        cv2.polylines(canvas, [points], True, (0, 200, 0), thickness)
        x, y = points.min(axis=0)
        cv2.putText(
            canvas,
            zone.name,
            (int(x), max(int(y) - 6, 14)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thickness,
            (0, 200, 0),
            thickness,
        )
    return canvas


def calibrate(
    config: SiteConfig, camera_name: str, image: Path | None = None, timeout_s: float = 20.0
) -> Calibration:
    """Store (or replace) the reference of ``camera_name`` from the camera or an image file."""
    try:
        camera = config.camera(camera_name)
    except KeyError as error:
        raise CalibrationError(str(error.args[0])) from None
    zones = exit_zones(camera)
    if not zones:
        raise CalibrationError(f"camera {camera_name} has no exit zone: nothing to calibrate")
    if image is not None:
        picture = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if picture is None:
            raise CalibrationError(f"cannot read image {image}")
        frame = np.asarray(picture, np.uint8)
    else:
        frame = grab_frame(camera, timeout_s)
    store = ReferenceStore(config.storage.data_dir / "references")
    reference = store.save(camera_name, frame)
    preview = reference.path.with_name(f"{camera_name}-zones.jpg")
    cv2.imwrite(str(preview), draw_zones(frame, zones))
    return Calibration(reference, preview)
