"""What the routes share: the ledger, the data folder, the sources of live state, services."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.cases import CaseService
from alerts.contract import Topics
from alerts.ledger import Ledger
from detect.references import ReferenceStore
from ingest.status import CameraStatus
from sitewatch.api.auth import Authenticator, FailureLimiter
from sitewatch.api.event_stream import EventHub
from sitewatch.api.live_stream import LiveFeed, LiveFigures, SharedJpegs
from sitewatch.zone_editor import ZoneEditor

StatusSource = Callable[[], list[CameraStatus]]
HealthSource = Callable[[], dict[str, Any]]
FrameSource = Callable[[str], npt.NDArray[np.uint8] | None]  # camera -> latest BGR image


def no_cameras() -> list[CameraStatus]:
    """Camera source of an API without cameras."""
    return []


def no_health() -> dict[str, Any]:
    """Health source of an API without a running pipeline."""
    return {}


def no_frames(_camera: str) -> None:
    """Frame source of an API without cameras."""
    return


@dataclass(frozen=True)
class ApiDependencies:
    """What the API takes from the node, built once by the composition root
    (``sitewatch.runner``): the ledger and services, the live sources, the access settings.
    The site and the MQTT topics come from ``topics`` alone."""

    ledger: Ledger
    data_dir: Path
    topics: Topics
    base_url: str  # where evidence URLs point
    cases: CaseService
    cameras: StatusSource = no_cameras
    health: HealthSource = no_health
    latest_frame: FrameSource = no_frames
    tokens: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # secret -> (name, role)
    open_when_no_tokens: bool = True  # the runner allows it on loopback binds only
    cors_origins: Sequence[str] = ()
    trusted_proxies: Sequence[str] = ()  # addresses or networks whose X-Forwarded-For counts
    limiter: FailureLimiter | None = None
    live: LiveFeed | None = None  # the live view's frames and analysis results (none: no view)
    zones: ZoneEditor | None = None  # zones edited in the console (none: read-only, from YAML)
    timezone: str = "UTC"  # the site's IANA zone: the console shows times in it
    site_name: str = ""

    @classmethod
    def of_ledger(
        cls, ledger: Ledger, data_dir: Path, topics: Topics, base_url: str, **more: Any
    ) -> ApiDependencies:
        """Dependencies with a case service on the same ledger and topics (tests, benches)."""
        cases = CaseService(ledger, topics, data_dir, base_url)
        return cls(ledger, data_dir, topics, base_url, cases, **more)


@dataclass(frozen=True)
class ApiContext:
    """Everything a route may need, built once by ``create_app``."""

    ledger: Ledger
    data_dir: Path
    site: str
    base_url: str
    cameras: StatusSource
    health: HealthSource
    latest_frame: FrameSource
    references: ReferenceStore
    cases: CaseService
    hub: EventHub
    auth: Authenticator
    live: LiveFeed | None = None
    zones: ZoneEditor | None = None
    timezone: str = "UTC"
    site_name: str = ""
    jpegs: SharedJpegs = field(default_factory=SharedJpegs)
    live_figures: LiveFigures = field(default_factory=LiveFigures)

    def camera_names(self) -> set[str]:
        """Names of the configured cameras."""
        return {status.camera for status in self.cameras()}
