"""What the routes share: the ledger, the data folder, the sources of live state, services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.cases import CaseService
from alerts.ledger import Ledger
from detect.references import ReferenceStore
from ingest.status import CameraStatus
from sitewatch.api.auth import Authenticator
from sitewatch.api.event_stream import EventHub

StatusSource = Callable[[], list[CameraStatus]]
HealthSource = Callable[[], dict[str, Any]]
FrameSource = Callable[[str], npt.NDArray[np.uint8] | None]  # camera -> latest BGR image


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

    def camera_names(self) -> set[str]:
        """Names of the configured cameras."""
        return {status.camera for status in self.cameras()}
