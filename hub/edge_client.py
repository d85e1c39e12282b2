"""The hub's calls to one edge's HTTP API, with that edge's token: its audit trail, the events
of an alert (to fill gaps) and evidence files."""

from __future__ import annotations

import re
from typing import Any

import httpx

from alerts.audit import AuditEntry
from core.errors import SitewatchError
from hub.config import HubSite

EVIDENCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
ALERT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class EdgeUnavailableError(SitewatchError, RuntimeError):
    """The edge did not answer as expected (offline, refused the token, 5xx...)."""


class EvidenceGoneError(EdgeUnavailableError):
    """The edge no longer keeps the file (404 or 410): nothing to retry."""


class EdgeClient:
    """HTTP calls to one edge (``HubSite.api_url``)."""

    def __init__(self, site: HubSite, timeout_s: float) -> None:
        self.site = site
        self._client = httpx.Client(
            base_url=site.api_url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {site.token.get_secret_value()}"},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        """Trail entries after seq ``after`` (``GET /api/audit``, needs an auditor token)."""
        rows = self._json("/api/audit", {"after": after, "limit": limit})
        if not isinstance(rows, list):
            raise EdgeUnavailableError(f"{self._where('/api/audit')}: not a list of entries")
        try:
            return [
                AuditEntry(
                    int(r["seq"]),
                    float(r["at"]),
                    str(r["actor"]),
                    str(r["action"]),
                    r["alert_id"],
                    str(r["detail_text"]),
                    str(r["prev_hash"]),
                    str(r["hash"]),
                )
                for r in rows
            ]
        except (KeyError, TypeError, ValueError) as error:
            raise EdgeUnavailableError(
                f"{self._where('/api/audit')}: bad entry ({error})"
            ) from None

    def alert_events(self, alert_id: str) -> list[dict[str, Any]]:
        """Every stored event of an alert, oldest first (``GET /api/alerts/{id}``)."""
        if not ALERT_ID.fullmatch(alert_id):
            raise EdgeUnavailableError(f"not an alert id: {alert_id[:40]!r}")
        document = self._json(f"/api/alerts/{alert_id}", None)
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list):
            raise EdgeUnavailableError(f"{self._where('/api/alerts')}: no events list")
        return [e for e in events if isinstance(e, dict)]

    def evidence(self, alert_id: str, name: str, max_bytes: int) -> bytes:
        """One evidence file (``GET /api/alerts/{id}/evidence/{name}``), at most
        ``max_bytes``. Only the configured edge is asked, whatever URL the event gave."""
        if not ALERT_ID.fullmatch(alert_id) or not EVIDENCE_NAME.fullmatch(name):
            raise EvidenceGoneError(f"not an evidence file name: {name[:60]!r}")
        path = f"/api/alerts/{alert_id}/evidence/{name}"
        try:
            with self._client.stream("GET", path) as response:
                if response.status_code in (404, 410):
                    raise EvidenceGoneError(f"{self._where(path)}: {response.status_code}")
                self._check(response, path)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise EvidenceGoneError(f"{self._where(path)}: over {max_bytes} bytes")
                return bytes(data)
        except httpx.HTTPError as error:
            raise EdgeUnavailableError(f"{self._where(path)}: {error}") from None

    def _json(self, path: str, params: dict[str, Any] | None) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as error:
            raise EdgeUnavailableError(f"{self._where(path)}: {error}") from None
        self._check(response, path)
        try:
            return response.json()
        except ValueError:
            raise EdgeUnavailableError(f"{self._where(path)}: not JSON") from None

    def _check(self, response: httpx.Response, path: str) -> None:
        if response.status_code in (401, 403):
            raise EdgeUnavailableError(
                f"{self._where(path)}: {response.status_code} (check sites[].token in hub.yaml:"
                " an auditor token of that edge)"
            )
        if response.status_code != 200:
            raise EdgeUnavailableError(f"{self._where(path)}: HTTP {response.status_code}")

    def _where(self, path: str) -> str:
        return f"edge {self.site.id} {self.site.api_url}{path}"
