"""Zones edited in the console: the current zones of each camera with their version, saved
with a version check, validated as the configuration is, audited, and handed to the analysis
loop, which applies them from the next frame on (no restart).

A save is one ledger transaction: the audit entry (``zones.saved``: who, when, the camera, the
version, the zones before and after) is appended and the zone file is written inside it, so
a file that cannot be written leaves no entry, and an entry always names a saved file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alerts import audit
from alerts.ledger import Ledger
from core.errors import SitewatchError
from sitewatch.config.camera import Camera, Zone
from sitewatch.config.site import SiteConfig
from sitewatch.config.zone_files import check_zones, usable_kinds, write_zone_file, zone_files
from sitewatch.pipeline import CameraWork

log = logging.getLogger(__name__)


class ZoneVersionError(SitewatchError):
    """The zones were saved by someone else since the caller read them."""

    def __init__(self, camera: str, expected: int, current: int) -> None:
        super().__init__(
            f"the zones of camera {camera} are at version {current}, not {expected}: "
            "someone saved them meanwhile (reload them, then save again)"
        )
        self.camera = camera
        self.current = current


@dataclass(frozen=True, slots=True)
class CameraZones:
    """A camera's zones as they stand."""

    camera: str
    version: int  # 0: the zones of the site YAML, never saved from the console
    zones: tuple[Zone, ...]
    updated_by: str | None
    updated_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """As the API serves it."""
        return {
            "camera": self.camera,
            "version": self.version,
            "source": "file" if self.version else "config",
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
            "zones": [zone.model_dump(mode="json") for zone in self.zones],
        }


class ZoneEditor:
    """Every camera's current zones (from the merged configuration and its zone files)."""

    def __init__(
        self, config: SiteConfig, ledger: Ledger, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._clock = clock
        self._lock = threading.Lock()
        saved = zone_files(config)
        self._zones: dict[str, CameraZones] = {}
        for camera in config.cameras:
            file = saved.get(camera.name)
            self._zones[camera.name] = (
                CameraZones(camera.name, 0, tuple(camera.zones), None, None)
                if file is None
                else CameraZones(
                    camera.name, file.version, file.zones, file.updated_by, file.updated_at
                )
            )

    @property
    def kinds(self) -> list[str]:
        """The zone kinds this site's rules and models can use."""
        return usable_kinds(self._config)

    @property
    def classes(self) -> list[str]:
        """The classes the configured models find (obstacle classes of exit zones)."""
        return sorted(self._config.known_classes())

    def current(self, camera: str) -> CameraZones:
        """The camera's zones (KeyError for an unknown camera)."""
        with self._lock:
            return self._zones[camera]

    def version(self, camera: str) -> int:
        """The version of the camera's zones."""
        with self._lock:
            found = self._zones.get(camera)
        return 0 if found is None else found.version

    def camera(self, name: str) -> Camera:
        """The camera's configuration with its current zones."""
        return self._config.camera(name).model_copy(
            update={"zones": list(self.current(name).zones)}
        )

    def save(
        self, camera: str, expected_version: int, zones: Sequence[Mapping[str, Any]], actor: str
    ) -> CameraZones:
        """Replace the camera's zones when they are still at ``expected_version``.

        ZoneError (nothing saved) when they break a rule of the configuration, ZoneVersionError
        when someone saved meanwhile, KeyError for an unknown camera."""
        self.current(camera)  # KeyError first
        checked = check_zones(self._config, camera, zones)
        with self._lock:
            before = self._zones[camera]
            if before.version != expected_version:
                raise ZoneVersionError(camera, expected_version, before.version)
            now = self._clock()
            version = before.version + 1
            detail = {
                "camera": camera,
                "version": version,
                "before": [z.model_dump(mode="json") for z in before.zones],
                "after": [z.model_dump(mode="json") for z in checked],
            }
            with self._ledger.transaction() as db:
                audit.append(db, now, actor, "zones.saved", None, detail)
                written = write_zone_file(
                    self._config.storage.data_dir, camera, version, checked, actor, now
                )
            after = CameraZones(camera, version, tuple(checked), actor, written.updated_at)
            self._zones[camera] = after
        log.info(
            "camera %s: zones version %d saved by %s (%d zone(s)): %s",
            camera,
            version,
            actor,
            len(checked),
            written.path,
        )
        return after


class ZoneRefresh:
    """The analysis loop's ``refresh``: a camera's work rebuilt when its zones changed, its
    schedule, references, last detections and counters kept; exit zones with an alert still
    open start as blocked (as after a restart), so that their alert ends once they are clear."""

    def __init__(
        self,
        editor: ZoneEditor,
        build: Callable[[Camera, CameraWork], CameraWork],
        open_zones: Callable[[str], set[str]],
    ) -> None:
        self._editor = editor
        self._build = build
        self._open_zones = open_zones

    def __call__(self, work: CameraWork) -> CameraWork:
        version = self._editor.version(work.name)
        if version == work.zones_version:
            return work
        fresh = self._build(self._editor.camera(work.name), work)
        kept = replace(
            fresh,
            motion=work.motion if fresh.detect_period_s is not None else None,
            last_index=work.last_index,
            next_due=work.next_due,
            next_exit_due=work.next_exit_due,
            next_detect_due=work.next_detect_due,
            reference=work.reference,
            reference_stamp=work.reference_stamp,
            detections=work.detections,
            detections_at=work.detections_at,
            inferred=work.inferred,
            gated=work.gated,
            stale_skipped=work.stale_skipped,
            inference_ms=work.inference_ms,
            zones_version=version,
        )
        kept.rules.resume_blocked(self._open_zones(work.name), time.time())
        log.info(
            "camera %s: zones version %d applied (%s)",
            work.name,
            version,
            ", ".join(f"{z.name} ({z.kind})" for z in kept.rules.zones) or "no zone",
        )
        return kept
