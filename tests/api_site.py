"""A small site for API tests: a ledger with alerts and evidence, one token per role, and an
app over them (plain helpers, not fixtures)."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.cases import CaseService
from alerts.clip_recorder import ClipReady
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.model import Evidence
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from ingest.status import CameraState, CameraStatus
from sitewatch.api import api_server, create_app
from sitewatch.api.auth import FailureLimiter
from sitewatch.api.context import ApiDependencies
from sitewatch.config.site import SiteConfig
from sitewatch.demo.rtsp import free_port
from sitewatch.zone_editor import ZoneEditor

TOPICS = Topics("sw", "plant-a")
BASE_URL = "http://testserver"
T0 = 1_800_000_000.0
ROLES = ("viewer", "operator", "auditor", "admin")
TOKENS = {f"{role}-token-0123456789abcdef": (f"{role}-holder", role) for role in ROLES}
FRAME = np.full((48, 64, 3), 120, np.uint8)


def token_of(role: str) -> str:
    """The config token of a role."""
    return f"{role}-token-0123456789abcdef"


def bearer(role: str) -> dict[str, str]:
    """Authorization header of a role."""
    return {"Authorization": f"Bearer {token_of(role)}"}


class Clock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    """Everything a test may poke at."""

    tmp: Path
    ledger: Ledger
    alerts: AlertService
    cases: CaseService
    clock: Clock
    app: FastAPI
    client: TestClient
    ended_id: str  # incident over, with snapshots and a clip
    active_id: str  # incident still detected, snapshots only

    def headers(self, role: str) -> dict[str, str]:
        """Authorization header of a role."""
        return bearer(role)


def add_clip(ledger: Ledger, service: AlertService, tmp: Path, alert_id: str) -> bytes:
    """A fake 10 kB clip recorded for ``alert_id``; returns its bytes."""
    clip = tmp / "evidence" / alert_id / "clip.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    data = bytes(range(256)) * 40
    clip.write_bytes(data)
    evidence = Evidence(f"evidence/{alert_id}/clip.mp4", hashlib.sha256(data).hexdigest())
    service.clip_ready(ClipReady(alert_id, 1, evidence, T0, T0 + 10, False))
    return data


def make_site(
    tmp: Path,
    tokens: dict[str, tuple[str, str]] | None = None,
    limiter: FailureLimiter | None = None,
    cors_origins: tuple[str, ...] = (),
    trusted_proxies: tuple[str, ...] = (),
) -> Site:
    """Two alerts on camera dock: one ended (with a clip), one still active."""
    ledger = Ledger(tmp / "ledger.sqlite3")
    clock = Clock(T0 + 100)
    counter = itertools.count()
    service = AlertService(
        ledger, TOPICS, tmp, BASE_URL, {}, clock=clock, min_update_interval_s=0.0
    )
    ended = service.handle(
        Observation("dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.START, T0, 0.8), FRAME
    )
    service.handle(
        Observation("dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.END, T0 + 30, 0.8), None
    )
    active = service.handle(
        Observation("dock", "bay-2", Hazard.FLAME, Phase.START, T0 + 40, 0.9), FRAME
    )
    assert ended is not None and active is not None
    add_clip(ledger, service, tmp, ended.after.alert_id)
    cases = CaseService(ledger, TOPICS, tmp, BASE_URL, clock=clock)
    frames = {"dock": FRAME}
    app = create_app(
        ApiDependencies(
            ledger,
            tmp,
            TOPICS,
            BASE_URL,
            cases,
            cameras=lambda: [
                CameraStatus("dock", CameraState.ONLINE, T0),
                CameraStatus("yard", CameraState.OFFLINE, T0),
            ],
            health=lambda: {"mqtt_connected": True, "outbox_pending": next(counter)},
            latest_frame=frames.get,
            zones=ZoneEditor(site_config(tmp), ledger),
            tokens=TOKENS if tokens is None else tokens,
            limiter=limiter,
            cors_origins=cors_origins,
            trusted_proxies=trusted_proxies,
        )
    )
    return Site(
        tmp,
        ledger,
        service,
        cases,
        clock,
        app,
        TestClient(app),
        ended.after.alert_id,
        active.after.alert_id,
    )


def site_config(tmp: Path) -> SiteConfig:
    """The site's configuration: camera dock with one exit zone, data in ``tmp``."""
    exit_zone = {"name": "exit-1", "kind": "exit", "points": [[0.5, 0.1], [0.9, 0.1], [0.9, 0.9]]}
    return SiteConfig.model_validate(
        {
            "site": {"id": TOPICS.site},
            "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:9/dock", "zones": [exit_zone]}],
            "storage": {"data_dir": str(tmp)},
        }
    )


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` as ``sitewatch run`` serves it, on a free loopback port; yields its base
    URL."""
    port = free_port()
    server = api_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
