"""Overdue cases climb the street office's chain of responsibility: a case still not rectified
``supervisor_after_h`` after its deadline goes to the grid supervisor, and
``street_office_after_h`` after it to the street office; a supervised case past its listing
deadline goes to the street office. Each step is recorded once (``escalations``) and in the hub
audit trail. The edge's own escalation (its ``escalated`` state) is unaffected."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hub import hub_audit
from hub.config import HubConfig
from hub.db_loop import DbLoop
from hub.metrics import HubMetrics
from hub.store import Db

log = logging.getLogger(__name__)
WORKABLE = ("open", "acknowledged", "assigned", "escalated")


def escalate_overdue(db: Db, config: HubConfig, now: datetime) -> list[tuple[str, str, str]]:
    """Record every escalation now due; returns (alert_id, level, escalated to)."""
    supervisors = {g.id: g.supervisor for g in config.grids}
    office = config.street_office.name
    rules = (
        ("supervisor", timedelta(hours=config.escalation.supervisor_after_h)),
        ("street_office", timedelta(hours=config.escalation.street_office_after_h)),
    )
    done: list[tuple[str, str, str]] = []
    with db.transaction():
        for level, after in rules:
            rows = db.execute(
                "SELECT a.alert_id, s.grid_id, a.deadline, a.site_id FROM alerts a"
                " JOIN sites s USING (site_id) WHERE a.deadline IS NOT NULL AND a.deadline <= %s"
                " AND a.workflow_state = ANY(%s) AND NOT EXISTS (SELECT 1 FROM escalations e"
                " WHERE e.alert_id = a.alert_id AND e.level = %s) FOR UPDATE OF a SKIP LOCKED",
                (now - after, list(WORKABLE), level),
            ).fetchall()
            rows += db.execute(
                "SELECT a.alert_id, s.grid_id, sv.deadline, a.site_id FROM supervised sv"
                " JOIN alerts a USING (alert_id) JOIN sites s USING (site_id)"
                " WHERE %s = 'street_office' AND sv.closed_at IS NULL AND sv.deadline <= %s"
                " AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.alert_id = a.alert_id"
                " AND e.level = 'street_office')",
                (level, now),
            ).fetchall()
            for alert_id, grid, deadline, site in {r[0]: r for r in rows}.values():
                target = supervisors[grid] if level == "supervisor" else office
                db.execute(
                    "INSERT INTO escalations (alert_id, level, escalated_to, at)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (alert_id, level, target, now),
                )
                hub_audit.append(
                    db,
                    "sitewatch-hub",
                    "case.escalated",
                    alert_id,
                    {"level": level, "to": target, "site": site, "deadline": deadline.isoformat()},
                    now,
                )
                done.append((alert_id, level, target))
    for alert_id, level, target in done:
        log.warning("case %s overdue: escalated to the %s (%s)", alert_id, level, target)
    return done


class EscalationLoop(DbLoop):
    """Runs escalate_overdue every ``escalation.check_s`` until stop."""

    what = "escalation"

    def __init__(
        self,
        config: HubConfig,
        connect: Callable[[], Db],
        metrics: HubMetrics,
        stop: threading.Event,
    ) -> None:
        super().__init__("hub-escalation", connect, metrics, stop)
        self._config = config

    def step(self, db: Db) -> float:
        escalate_overdue(db, self._config, datetime.now(UTC))
        return self._config.escalation.check_s
