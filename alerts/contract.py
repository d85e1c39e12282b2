"""The MQTT contract: topics and versioned JSON payloads (schema in alerts/schemas/)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from alerts.audit import AuditHead
from alerts.model import Alert, AlertChange, Evidence

ALERT_EVENT_SCHEMA = "sitewatch.alert-event/1"
AUDIT_HEAD_SCHEMA = "sitewatch.audit-head/1"
COMMAND_SCHEMA = "sitewatch.command/1"
COMMAND_RESULT_SCHEMA = "sitewatch.command-result/1"


@dataclass(frozen=True)
class Topics:
    """Topic names under ``<prefix>/<site>/``."""

    prefix: str
    site: str

    @property
    def base(self) -> str:
        """``<prefix>/<site>``."""
        return f"{self.prefix}/{self.site}"

    @property
    def alerts(self) -> str:
        """Alert events (QoS 1, not retained)."""
        return f"{self.base}/alerts"

    @property
    def status(self) -> str:
        """Node status, retained ``online``/``offline`` (last will)."""
        return f"{self.base}/status"

    @property
    def audit_head(self) -> str:
        """The audit trail's latest head (QoS 1, retained): the anchor the platform keeps."""
        return f"{self.base}/audit/head"

    @property
    def commands(self) -> str:
        """Case commands from the fleet hub (QoS 1, ``sitewatch.command/1``)."""
        return f"{self.base}/commands"

    @property
    def command_results(self) -> str:
        """The edge's answer to each command (QoS 1, ``sitewatch.command-result/1``)."""
        return f"{self.base}/commands/result"

    def camera_status(self, camera: str) -> str:
        """Retained health of one camera."""
        return f"{self.base}/cameras/{camera}/status"

    def record_status(self, camera: str) -> str:
        """Retained health of one camera's recording stream (its ``record_url``)."""
        return f"{self.base}/cameras/{camera}/record/status"


def iso(timestamp: float | None) -> str | None:
    """Seconds since the epoch -> ISO 8601 UTC with milliseconds."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_document(alert: Alert, site: str, evidence_base_url: str) -> dict[str, Any]:
    """An alert as published and served by the API."""

    def url(item: Evidence) -> str | None:
        if item.removed_at is not None:
            return None
        return f"{evidence_base_url}/api/alerts/{alert.alert_id}/evidence/{item.name}"

    def link(item: Evidence | None, **extra: Any) -> dict[str, Any] | None:
        if item is None or item.removed_at is not None:
            return None
        return {"url": url(item), "sha256": item.sha256, **extra}

    clip = alert.clip
    evidence = [
        {
            "kind": item.kind.value,
            "part": item.part,
            "sha256": item.sha256,
            "url": url(item),
            "removed_at": iso(item.removed_at),
        }
        for item in alert.evidence
    ]
    return {
        "alert_id": alert.alert_id,
        "site": site,
        "camera": alert.camera,
        "zone": alert.zone,
        "hazard": alert.hazard,
        "severity": alert.severity,
        "score": alert.score,
        "peak_score": alert.peak_score,
        "active": alert.active,
        "started_at": iso(alert.started_at),
        "updated_at": iso(alert.updated_at),
        "ended_at": iso(alert.ended_at),
        "workflow_state": alert.workflow_state,
        "boxes": [],
        "snapshot": link(alert.snapshot),
        "clip": None if clip is None else link(clip, part=clip.part, **_span(clip)),
        "evidence": evidence,
        "details": alert.details,
    }


def event_payload(
    event_id: str,
    change: AlertChange,
    site: str,
    created_at: float,
    evidence_base_url: str,
    case: Mapping[str, Any] | None = None,
) -> str:
    """The JSON text of one alert event (``case``: the workflow action of a ``state`` event)."""
    before = change.before
    document: dict[str, Any] = {
        "schema": ALERT_EVENT_SCHEMA,
        "event_id": event_id,
        "type": change.type.value,
        "created_at": iso(created_at),
        "before": None if before is None else alert_document(before, site, evidence_base_url),
        "after": alert_document(change.after, site, evidence_base_url),
    }
    if case is not None:
        document["case"] = dict(case)
    return _dump(document)


def with_audit_head(payload: str, head: AuditHead) -> str:
    """The event text with ``audit_head``: the trail's head when the event was stored (before
    the entry that seals the event, which hashes this very text)."""
    document = json.loads(payload)
    document["audit_head"] = head.to_dict()
    return _dump(document)


def audit_head_payload(head: AuditHead, at: float | None) -> str:
    """The retained message on ``Topics.audit_head`` (``at``: when that entry was written)."""
    return _dump({"schema": AUDIT_HEAD_SCHEMA, **head.to_dict(), "at": iso(at)})


def load_schema(name: str = "alert-event.v1.json") -> dict[str, Any]:
    """A JSON Schema of the contract: alert events (default) or ``audit-head.v1.json``."""
    text = resources.files("alerts").joinpath(f"schemas/{name}").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _span(item: Evidence) -> dict[str, str | None]:
    start, end = item.covers if item.covers else (None, None)
    return {"started_at": iso(start), "ended_at": iso(end)}
