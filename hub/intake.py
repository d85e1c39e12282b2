"""What arrives on the central broker, judged before anything is stored: the topic names a
configured site, the payload is JSON that passes the contract's JSON Schema and names the same
site (a site may publish only under its own topic). Pure functions; no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator

from alerts.contract import ALERT_EVENT_SCHEMA, AUDIT_HEAD_SCHEMA, load_schema

EVENT_VALIDATOR = Draft202012Validator(load_schema())
HEAD_VALIDATOR = Draft202012Validator(load_schema("audit-head.v1.json"))
MAX_PAYLOAD_BYTES = 1 << 20


class Rejection(StrEnum):
    """Why an input was not taken as truth (the label of ``sitewatch_hub_rejected_total``)."""

    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_SITE = "unknown_site"
    NOT_JSON = "not_json"
    TOO_LARGE = "too_large"
    SCHEMA = "schema"
    SITE_MISMATCH = "site_mismatch"
    ALERT_OF_OTHER_SITE = "alert_of_other_site"
    HASH_MISMATCH = "hash_mismatch"
    CONFLICT = "conflicting_duplicate"
    EVIDENCE_HASH_MISMATCH = "evidence_hash_mismatch"
    EVIDENCE_URL = "evidence_url"
    COMMAND_REJECTED = "command_rejected"
    CHAIN_BROKEN = "audit_chain_broken"


class TopicKind(StrEnum):
    """The topics the hub reads."""

    ALERTS = "alerts"
    AUDIT_HEAD = "audit/head"
    COMMAND_RESULT = "commands/result"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input refused, with the reason and a human sentence for the log."""

    reason: Rejection
    detail: str
    site: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A valid alert event of a known site, as received (``sha256`` of the exact bytes)."""

    site: str
    document: dict[str, Any]
    text: str
    sha256: str

    @property
    def event_id(self) -> str:
        """The contract's idempotency key."""
        return str(self.document["event_id"])

    @property
    def alert_id(self) -> str:
        """The alert the event is about."""
        return str(self.document["after"]["alert_id"])

    @property
    def audit_seq(self) -> int | None:
        """The edge trail's head seq when the event was stored (None from older edges)."""
        head = self.document.get("audit_head")
        return None if head is None else int(head["seq"])

    @property
    def created_at(self) -> datetime:
        """When the edge stored it."""
        return parse_time(str(self.document["created_at"]))


@dataclass(frozen=True, slots=True)
class Head:
    """A retained audit head of a known site."""

    site: str
    seq: int
    hash: str


def parse_time(text: str) -> datetime:
    """The contract's ISO 8601 UTC text as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def canonical_text(document: dict[str, Any]) -> str:
    """The JSON text the edge publishes and hashes (sorted keys, no spaces, ASCII escapes),
    for a document read back from the edge's API."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def split_topic(topic: str, prefix: str) -> tuple[str, TopicKind] | None:
    """``<prefix>/<site>/<kind>`` -> (site, kind), None for any other topic."""
    if not topic.startswith(prefix + "/"):
        return None
    site, _, rest = topic[len(prefix) + 1 :].partition("/")
    kind = next((k for k in TopicKind if k.value == rest), None)
    if not site or kind is None:
        return None
    return site, kind


def judge_event(site: str, sites: frozenset[str], payload: bytes) -> Event | Rejected:
    """An alert event from ``<prefix>/<site>/alerts`` (or the edge's API, for that site)."""
    if site not in sites:
        return Rejected(Rejection.UNKNOWN_SITE, f"site '{site[:64]}' is not in hub.yaml")
    document = _json(payload, site)
    if isinstance(document, Rejected):
        return document
    errors = sorted(EVENT_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<payload>"
        return Rejected(
            Rejection.SCHEMA,
            f"not a valid {ALERT_EVENT_SCHEMA} event at {where}: {first.message[:200]}",
            site,
        )
    claimed = {document["after"].get("site"), (document.get("before") or {}).get("site", site)}
    if claimed != {site}:
        names = ", ".join(sorted(str(c)[:64] for c in claimed - {site}))
        return Rejected(
            Rejection.SITE_MISMATCH,
            f"an event on site '{site}''s topic claims site {names}: refused (a site may only"
            " publish under its own topic)",
            site,
        )
    text = payload.decode("utf-8")
    return Event(site, document, text, hashlib.sha256(payload).hexdigest())


def judge_head(site: str, sites: frozenset[str], payload: bytes) -> Head | Rejected:
    """A retained ``<prefix>/<site>/audit/head`` message."""
    if site not in sites:
        return Rejected(Rejection.UNKNOWN_SITE, f"site '{site[:64]}' is not in hub.yaml")
    document = _json(payload, site)
    if isinstance(document, Rejected):
        return document
    errors = list(HEAD_VALIDATOR.iter_errors(document))
    if errors:
        return Rejected(
            Rejection.SCHEMA,
            f"not a valid {AUDIT_HEAD_SCHEMA} message: {errors[0].message[:200]}",
            site,
        )
    return Head(site, int(document["seq"]), str(document["hash"]))


def _json(payload: bytes, site: str) -> dict[str, Any] | Rejected:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(Rejection.TOO_LARGE, f"{len(payload)} bytes (limit 1 MiB)", site)
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return Rejected(Rejection.NOT_JSON, f"not UTF-8 JSON: {str(error)[:120]}", site)
    if not isinstance(document, dict):
        return Rejected(Rejection.SCHEMA, "the payload is not a JSON object", site)
    return document
