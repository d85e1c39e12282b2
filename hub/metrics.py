"""The hub's counters (per process) in the Prometheus text format, beside gauges read from
PostgreSQL (shared by every hub process)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

COUNTERS: dict[str, str] = {
    "sitewatch_hub_events_received_total": "Messages taken from the broker.",
    "sitewatch_hub_events_stored_total": "Events stored (first copy of an event_id).",
    "sitewatch_hub_events_duplicate_total": "Events already stored (at-least-once delivery).",
    "sitewatch_hub_rejected_total": "Inputs refused and not stored as truth, by reason.",
    "sitewatch_hub_gap_events_filled_total": "Missed events fetched from the edges' APIs.",
    "sitewatch_hub_gap_fill_failures_total": "Edge API calls for gaps that failed (retried).",
    "sitewatch_hub_evidence_fetched_total": "Evidence files fetched and verified.",
    "sitewatch_hub_evidence_fetch_failures_total": "Evidence fetches that failed (retried).",
    "sitewatch_hub_commands_sent_total": "Commands published to edges (with resends).",
    "sitewatch_hub_commands_settled_total": "Commands the edges confirmed, by outcome.",
    "sitewatch_hub_database_errors_total": "PostgreSQL operations that failed (retried).",
}


class HubMetrics:
    """Thread-safe counters, some with one label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def add(self, name: str, amount: int = 1, label: tuple[str, str] | None = None) -> None:
        """Count ``amount`` under ``name`` (one of COUNTERS), optionally with a label."""
        if name not in COUNTERS:
            raise KeyError(name)
        key, value = label or ("", "")
        with self._lock:
            self._counts[(name, key, value)] += amount

    def value(self, name: str, label: tuple[str, str] | None = None) -> int:
        """The current count (all labels summed when ``label`` is None)."""
        with self._lock:
            if label is None:
                return sum(v for (n, _k, _v), v in self._counts.items() if n == name)
            return self._counts[(name, *label)]

    def exposition(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """Prometheus text: every counter (0 when nothing happened yet), then ``gauges``
        (name -> (help, value))."""
        lines: list[str] = []
        with self._lock:
            counts = dict(self._counts)
        for name, help_text in COUNTERS.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            mine = {(k, v): n for (metric, k, v), n in counts.items() if metric == name}
            if not mine:
                lines.append(f"{name} 0")
            for (key, value), amount in sorted(mine.items()):
                labels = f'{{{key}="{value}"}}' if key else ""
                lines.append(f"{name}{labels} {amount}")
        for name, (help_text, gauge) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {gauge:g}"]
        return "\n".join(lines) + "\n"
