"""Evidence at the centre: workers that fetch each file an event lists from the owning edge's
API (with that edge's token), check its SHA-256 against the event, and keep it in the hub's
store. An edge that is offline is asked again with a growing delay; a file whose digest does
not match is refused (counted, logged, kept out of the store) and asked again later; a file the
edge no longer keeps (404/410) is marked gone. Rows are claimed with ``FOR UPDATE SKIP
LOCKED``, so several workers and hub processes never fetch the same file twice at once."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hub.config import HubConfig
from hub.db_loop import DbLoop
from hub.edge_client import EdgeClient, EdgeUnavailableError, EvidenceGoneError
from hub.evidence_store import EvidenceStore, evidence_key
from hub.intake import Rejected, Rejection
from hub.metrics import HubMetrics
from hub.store import Db, record_rejection

log = logging.getLogger(__name__)


class EvidenceFetcher:
    """Fetches due evidence rows (``fetch_due`` is one step; ``run`` loops)."""

    def __init__(
        self,
        config: HubConfig,
        store: EvidenceStore,
        metrics: HubMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._edges = {s.id: EdgeClient(s, config.evidence.timeout_s) for s in config.sites}

    def close(self) -> None:
        """Close the HTTP clients."""
        for edge in self._edges.values():
            edge.close()

    def fetch_due(self, db: Db) -> bool:
        """Fetch one due file; False when none is due."""
        now = self._clock()
        with db.transaction():
            row = db.execute(
                "SELECT alert_id, name, site_id, sha256, attempts FROM evidence"
                " WHERE fetched_at IS NULL AND NOT gone AND next_try <= %s"
                " ORDER BY next_try LIMIT 1 FOR UPDATE SKIP LOCKED",
                (now,),
            ).fetchone()
            if row is None:
                return False
            alert_id, name, site, sha256, attempts = row
            edge = self._edges.get(site)
            if edge is None:
                db.execute(
                    "UPDATE evidence SET gone = true, last_error = 'site no longer in hub.yaml'"
                    " WHERE alert_id = %s AND name = %s",
                    (alert_id, name),
                )
                return True
            key = evidence_key(site, alert_id, name)
            try:
                data = edge.evidence(alert_id, name, self._config.evidence.max_bytes)
            except EvidenceGoneError as error:
                self._fail(db, alert_id, name, attempts, str(error), gone=True)
                return True
            except EdgeUnavailableError as error:
                self._metrics.add("sitewatch_hub_evidence_fetch_failures_total")
                self._fail(db, alert_id, name, attempts, str(error))
                return True
            digest = hashlib.sha256(data).hexdigest()
            if digest != sha256:
                rejected = Rejected(
                    Rejection.EVIDENCE_HASH_MISMATCH,
                    f"{key}: SHA-256 {digest} differs from the event's {sha256}; not stored",
                    site,
                )
                log.warning("evidence: %s", rejected.detail)
                self._metrics.add("sitewatch_hub_rejected_total", label=("reason", rejected.reason))
                record_rejection(db, f"evidence/{key}", rejected, digest)
                self._fail(db, alert_id, name, attempts, rejected.detail, slow=True)
                return True
            self._store.put(key, data, sha256)
            db.execute(
                "UPDATE evidence SET fetched_at = %s, stored_key = %s, bytes = %s,"
                " attempts = attempts + 1, last_error = NULL WHERE alert_id = %s AND name = %s",
                (now, key, len(data), alert_id, name),
            )
            self._metrics.add("sitewatch_hub_evidence_fetched_total")
            return True

    def _fail(
        self,
        db: Db,
        alert_id: str,
        name: str,
        attempts: int,
        reason: str,
        gone: bool = False,
        slow: bool = False,
    ) -> None:
        settings = self._config.evidence
        delay = (
            settings.retry_max_s
            if slow
            else min(settings.retry_min_s * 2 ** min(attempts, 20), settings.retry_max_s)
        )
        db.execute(
            "UPDATE evidence SET attempts = attempts + 1, last_error = %s, gone = %s,"
            " next_try = %s WHERE alert_id = %s AND name = %s",
            (reason[:500], gone, self._clock() + timedelta(seconds=delay), alert_id, name),
        )


class EvidenceWorker(DbLoop):
    """One fetching loop (``evidence.workers`` of them per hub process): fetches while files
    are due, otherwise looks again every half second."""

    what = "evidence"

    def __init__(
        self,
        fetcher: EvidenceFetcher,
        connect: Callable[[], Db],
        metrics: HubMetrics,
        stop: threading.Event,
        index: int,
    ) -> None:
        super().__init__(f"hub-evidence-{index}", connect, metrics, stop)
        self._fetcher = fetcher

    def step(self, db: Db) -> float:
        return 0.0 if self._fetcher.fetch_due(db) else 0.5
