"""Gap detection: each edge's audit trail names every event the edge stored (an entry with
``event_id`` and ``event_sha256``). The hub walks the trail from the last entry it verified,
checks the chain (numbering, links, hashes), and for every event entry checks that it holds
that event with that digest. An event MQTT has not brought within ``sync.grace_s`` is fetched
from the edge's API; one stored with another digest is removed from the truth and fetched
again. ``site_sync.verified_seq``/``verified_hash`` is then the anchor the centre holds.

Several hub processes run this loop; a per-site advisory lock lets one at a time work a site.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerts.audit import AuditEntry, entry_hash
from core.errors import SitewatchError
from hub.config import HubConfig
from hub.db_loop import DbLoop
from hub.edge_client import EdgeClient, EdgeUnavailableError
from hub.intake import Event, Rejected, Rejection, canonical_text, judge_event
from hub.metrics import HubMetrics
from hub.store import Db, Outcome, queue_evidence, record_rejection, store_event

log = logging.getLogger(__name__)
SYNC_LOCK_BASE = 0x5157_1000


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one pass over one site did."""

    site: str
    verified_seq: int
    missing: int
    filled: int
    error: str | None = None


def site_lock_key(site: str) -> int:
    """The advisory lock key of a site."""
    return SYNC_LOCK_BASE + zlib.crc32(site.encode())


class ChainBrokenError(SitewatchError, RuntimeError):
    """The edge's trail does not continue the chain the hub verified."""


def check_link(entry: AuditEntry, expected_seq: int, prev_hash: str) -> None:
    """Raise ChainBrokenError unless ``entry`` is the next, linked and intact entry."""
    if entry.seq != expected_seq:
        raise ChainBrokenError(f"entry {expected_seq} is missing (the edge sent {entry.seq})")
    if entry.prev_hash != prev_hash:
        raise ChainBrokenError(f"entry {entry.seq} does not link to the entry the hub verified")
    recomputed = entry_hash(
        entry.seq, entry.at, entry.actor, entry.action, entry.alert_id, entry.detail, prev_hash
    )
    if recomputed != entry.hash:
        raise ChainBrokenError(f"entry {entry.seq} does not match its hash")


class SiteSync:
    """Checks and fills one site (called by the sync loop, or directly by tests)."""

    def __init__(
        self,
        config: HubConfig,
        metrics: HubMetrics,
        edges: dict[str, EdgeClient],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_event: Callable[[Db, Event], None] | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._edges = edges
        self._clock = clock
        self._on_event = on_event
        self._sites = frozenset(s.id for s in config.sites)

    def run(self, db: Db, site: str, force: bool = False) -> SyncReport | None:
        """One pass over ``site`` (None: another hub is on it, or nothing to do)."""
        got = db.execute("SELECT pg_try_advisory_lock(%s)", (site_lock_key(site),)).fetchone()
        db.commit()
        if not got or not got[0]:
            return None
        try:
            return self._run_locked(db, site, force)
        finally:
            db.rollback()
            db.execute("SELECT pg_advisory_unlock(%s)", (site_lock_key(site),))
            db.commit()

    def _run_locked(self, db: Db, site: str, force: bool) -> SyncReport | None:
        row = db.execute(
            "SELECT verified_seq, verified_hash, head_seq, polled_at FROM site_sync"
            " WHERE site_id = %s",
            (site,),
        ).fetchone()
        db.commit()
        if row is None:
            return None
        verified_seq, verified_hash, head_seq, polled_at = row
        now = self._clock()
        poll_due = polled_at is None or now - polled_at >= timedelta(
            seconds=self._config.sync.poll_s
        )
        if not (force or poll_due or head_seq > verified_seq):
            return None
        edge = self._edges[site]
        missing_total = filled_total = 0
        try:
            while True:
                entries = edge.audit_entries(verified_seq, self._config.sync.page)
                if not entries:
                    break
                seq, digest, missing, filled, complete = self._check_page(
                    db, site, edge, entries, verified_seq, verified_hash, now
                )
                missing_total += missing
                filled_total += filled
                verified_seq, verified_hash = seq, digest
                if not complete or len(entries) < self._config.sync.page:
                    break
            error = None
        except EdgeUnavailableError as failure:
            db.rollback()
            self._metrics.add("sitewatch_hub_gap_fill_failures_total")
            error = str(failure)
            log.warning("sync %s: %s (retrying)", site, error)
        except ChainBrokenError as broken:
            db.rollback()
            error = f"audit chain broken: {broken}"
            self._metrics.add(
                "sitewatch_hub_rejected_total", label=("reason", "audit_chain_broken")
            )
            log.error("sync %s: %s; the hub keeps its anchor at seq %d", site, error, verified_seq)
            db.execute("UPDATE site_sync SET chain_broken = %s WHERE site_id = %s", (error, site))
        db.execute(
            "UPDATE site_sync SET checked_at = %s, polled_at = %s, last_error = %s"
            " WHERE site_id = %s",
            (now, now, error, site),
        )
        db.commit()
        return SyncReport(site, verified_seq, missing_total, filled_total, error)

    def _check_page(
        self,
        db: Db,
        site: str,
        edge: EdgeClient,
        entries: list[AuditEntry],
        verified_seq: int,
        verified_hash: str,
        now: datetime,
    ) -> tuple[int, str, int, int, bool]:
        """Check one page; returns (verified seq, its hash, missing, filled, whole page ok)."""
        expected, prev = verified_seq + 1, verified_hash
        for entry in entries:
            check_link(entry, expected, prev)
            expected, prev = entry.seq + 1, entry.hash
        sealed = {
            str(e.details["event_id"]): e
            for e in entries
            if "event_id" in e.details and "event_sha256" in e.details
        }
        stored: dict[str, str] = dict(
            db.execute(
                "SELECT event_id, payload_sha256 FROM events WHERE event_id = ANY(%s)",
                (list(sealed),),
            ).fetchall()
        )
        for event_id, entry in sealed.items():
            digest = stored.get(event_id)
            if digest is not None and digest != entry.details["event_sha256"]:
                self._untrust(db, site, event_id)
                del stored[event_id]
        absent = [event_id for event_id in sealed if event_id not in stored]
        filled = self._fill(db, site, edge, [sealed[e] for e in absent], now)
        stored.update(filled)
        last_seq, last_hash = verified_seq, verified_hash
        complete = True
        for entry in entries:
            sealed_id = entry.details.get("event_id")
            if (
                sealed_id is not None
                and "event_sha256" in entry.details
                and sealed_id not in stored
            ):
                complete = False
                break
            last_seq, last_hash = entry.seq, entry.hash
        db.execute(
            "UPDATE site_sync SET verified_seq = %s, verified_hash = %s, chain_broken = NULL"
            " WHERE site_id = %s",
            (last_seq, last_hash, site),
        )
        db.commit()
        return last_seq, last_hash, len(absent), len(filled), complete

    def _untrust(self, db: Db, site: str, event_id: str) -> None:
        """An event whose digest differs from the one the edge sealed: not truth."""
        rejected = Rejected(
            Rejection.HASH_MISMATCH,
            f"event {event_id} differs from the digest in the edge's audit trail;"
            " removed and fetched from the edge",
            site,
        )
        log.warning("sync %s: %s", site, rejected.detail)
        self._metrics.add("sitewatch_hub_rejected_total", label=("reason", rejected.reason.value))
        db.execute("DELETE FROM events WHERE event_id = %s", (event_id,))
        record_rejection(db, f"sync/{site}", rejected, None)

    def _fill(
        self, db: Db, site: str, edge: EdgeClient, entries: list[AuditEntry], now: datetime
    ) -> dict[str, str]:
        """Note missing events; fetch those missing for longer than the grace period.
        Returns event_id -> digest of those stored now."""
        if not entries:
            return {}
        for entry in entries:
            db.execute(
                "INSERT INTO missing_events (event_id, site_id, alert_id, audit_seq, event_sha256,"
                " first_seen) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (event_id) DO UPDATE SET filled_at = NULL"
                " WHERE missing_events.filled_at IS NOT NULL",
                (
                    entry.details["event_id"],
                    site,
                    entry.alert_id or "",
                    entry.seq,
                    entry.details["event_sha256"],
                    now,
                ),
            )
        cutoff = now - timedelta(seconds=self._config.sync.grace_s)
        due = db.execute(
            "SELECT event_id, alert_id, event_sha256 FROM missing_events"
            " WHERE event_id = ANY(%s) AND first_seen <= %s",
            ([str(e.details["event_id"]) for e in entries], cutoff),
        ).fetchall()
        db.commit()
        by_alert: dict[str, dict[str, str]] = {}
        for event_id, alert_id, digest in due:
            by_alert.setdefault(alert_id, {})[event_id] = digest
        filled: dict[str, str] = {}
        for alert_id, wanted in by_alert.items():
            try:
                documents = edge.alert_events(alert_id)
            except EdgeUnavailableError as error:
                db.execute(
                    "UPDATE missing_events SET attempts = attempts + 1, last_error = %s"
                    " WHERE event_id = ANY(%s)",
                    (str(error)[:500], list(wanted)),
                )
                db.commit()
                raise
            for document in documents:
                event_id = str(document.get("event_id"))
                if event_id not in wanted:
                    continue
                text = canonical_text(document)
                judged = judge_event(site, self._sites, text.encode())
                if isinstance(judged, Event) and judged.sha256 != wanted[event_id]:
                    judged = Rejected(
                        Rejection.HASH_MISMATCH,
                        f"event {event_id} from the edge's API differs from its audit trail",
                        site,
                    )
                if isinstance(judged, Rejected):
                    self._metrics.add(
                        "sitewatch_hub_rejected_total", label=("reason", judged.reason.value)
                    )
                    log.warning("sync %s: %s", site, judged.detail)
                    record_rejection(
                        db, f"api/{site}", judged, hashlib.sha256(text.encode()).hexdigest()
                    )
                    continue
                outcome = store_event(db, judged, "edge_api")
                if outcome is Outcome.STORED:
                    queue_evidence(db, judged)
                    if self._on_event is not None:
                        self._on_event(db, judged)
                if isinstance(outcome, Rejected):
                    self._metrics.add(
                        "sitewatch_hub_rejected_total", label=("reason", outcome.reason.value)
                    )
                    record_rejection(db, f"api/{site}", outcome, judged.sha256)
                    continue
                db.execute(
                    "UPDATE missing_events SET filled_at = %s WHERE event_id = %s", (now, event_id)
                )
                filled[event_id] = judged.sha256
                if outcome is Outcome.STORED:
                    self._metrics.add("sitewatch_hub_gap_events_filled_total")
            db.commit()
        if filled:
            log.info("sync %s: filled %d missed event(s) from the edge's API", site, len(filled))
        return filled


class SyncLoop(DbLoop):
    """Runs SiteSync over every site every ``sync.check_s`` until ``stop``."""

    what = "sync"

    def __init__(
        self,
        config: HubConfig,
        connect: Callable[[], Db],
        metrics: HubMetrics,
        stop: threading.Event,
        on_event: Callable[[Db, Event], None] | None = None,
    ) -> None:
        super().__init__("hub-sync", connect, metrics, stop)
        self._config = config
        self._edges = {s.id: EdgeClient(s, config.sync.timeout_s) for s in config.sites}
        self.sync = SiteSync(config, metrics, self._edges, on_event=on_event)

    def step(self, db: Db) -> float:
        for site in self._config.sites:
            if self._stop_event.is_set():
                break
            self.sync.run(db, site.id)
        return self._config.sync.check_s

    def closing(self) -> None:
        for edge in self._edges.values():
            edge.close()
