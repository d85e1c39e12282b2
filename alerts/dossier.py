"""Case dossier: one ZIP file per alert for inspectors, with everything needed to check it.

Contents: ``alert.json`` (alert and case), ``events.jsonl`` (every stored event payload, byte for
byte), ``audit.json`` (the alert's audit entries with their hashes, and the state of the whole
chain at export), ``evidence/<name>`` (every evidence file still kept), ``manifest.json`` (the
SHA-256 of each file and, for evidence, the digest recorded when it was captured) and
``SHA256SUMS`` (``sha256sum -c`` format, covering every other file). With a ``summary`` writer,
a human-readable ``summary.<lang>.txt`` (in the requesting user's language) is covered too. The
export itself is an audit entry that records the digest of ``SHA256SUMS``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from alerts import audit
from alerts.cases import read_case
from alerts.contract import alert_document, iso
from alerts.evidence_check import chain_digests, trail_digest
from alerts.ledger import Ledger, read_alerts, sha256_text
from core.errors import SitewatchError

DOSSIER_FORMAT = "sitewatch.dossier/1"
SUMS = "SHA256SUMS"
_MEDIA = (".jpg", ".png", ".mp4")  # already compressed: stored as is


class DossierError(SitewatchError, LookupError):
    """The alert does not exist."""


@dataclass(frozen=True, slots=True)
class DossierSummary:
    """What an export wrote."""

    alert_id: str
    files: int
    sums_sha256: str
    evidence_mismatches: tuple[str, ...]  # evidence whose file no longer matches its record
    chain_ok: bool


SummaryWriter = Callable[[dict[str, Any]], tuple[str, str]]
"""Given the dossier's facts (``alert``, ``case``, ``entries``, ``evidence``, ``chain_ok``,
``exported_at``, ``exported_by``, ``site``), a file name and the human-readable summary."""


def export_dossier(
    ledger: Ledger,
    data_dir: Path,
    alert_id: str,
    out: IO[bytes],
    site: str,
    evidence_base_url: str,
    exported_by: str,
    now: float,
    summary: SummaryWriter | None = None,
) -> DossierSummary:
    """Write the dossier of ``alert_id`` as a ZIP to ``out``; records the export in the trail."""
    with ledger.snapshot() as db:
        found = read_alerts(db, "WHERE alert_id = ?", (alert_id,))
        if not found:
            raise DossierError(f"no alert with id {alert_id}")
        alert = found[0]
        case = read_case(db, alert)
        payloads = [
            row[0]
            for row in db.execute(
                "SELECT payload FROM events WHERE alert_id = ? ORDER BY rowid", (alert_id,)
            )
        ]
        entries = [
            audit.entry_from_row(row)
            for row in db.execute(
                f"SELECT {audit.ENTRY_COLUMNS} FROM audit WHERE alert_id = ? ORDER BY seq",
                (alert_id,),
            )
        ]
        chain = audit.verify_chain(audit.read_entries(db))
    sealed = chain_digests(entries)  # what the trail recorded of each evidence file
    sums: list[tuple[str, str]] = []
    manifest_files: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    mismatches: list[str] = []
    with zipfile.ZipFile(out, "w") as archive:

        def add(name: str, data: bytes) -> None:
            digest = hashlib.sha256(data).hexdigest()
            compress = zipfile.ZIP_STORED if name.endswith(_MEDIA) else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=compress)
            sums.append((digest, name))
            manifest_files.append({"path": name, "sha256": digest, "bytes": len(data)})

        document = {"alert": alert_document(alert, site, evidence_base_url), "case": case.to_dict()}
        add("alert.json", _json(document))
        add("events.jsonl", "".join(f"{p}\n" for p in payloads).encode())
        trail = {
            "format": audit.AUDIT_FORMAT,
            "entries": [entry.to_dict() for entry in entries],
            "chain_at_export": chain.to_dict(),
        }
        add("audit.json", _json(trail))
        for item in alert.evidence:
            row: dict[str, Any] = {
                "name": item.name,
                "kind": item.kind.value,
                "part": item.part,
                "recorded_sha256": item.sha256,
                "removed_at": iso(item.removed_at),
                "included": False,
            }
            path = data_dir / item.path
            if item.removed_at is None and path.is_file():
                data = path.read_bytes()
                add(f"evidence/{item.name}", data)
                actual = hashlib.sha256(data).hexdigest()
                row.update(included=True, sha256=actual, matches_record=actual == item.sha256)
                if actual != item.sha256 or actual != sealed.get((alert_id, item.name)):
                    mismatches.append(item.name)
            elif item.removed_at is None:
                row["missing"] = True
                mismatches.append(item.name)
            evidence.append(row)
        if summary is not None:
            facts = {
                "site": site,
                "alert": document["alert"],
                "case": document["case"],
                "entries": trail["entries"],
                "evidence": evidence,
                "chain_ok": chain.ok,
                "exported_at": now,
                "exported_by": exported_by,
            }
            name, text = summary(facts)
            add(name, text.encode("utf-8"))
        manifest = {
            "format": DOSSIER_FORMAT,
            "site": site,
            "alert_id": alert_id,
            "exported_at": iso(now),
            "exported_by": exported_by,
            "files": manifest_files,
            "evidence": evidence,
            "audit_head": {"seq": chain.head_seq, "hash": chain.head_hash},
        }
        add("manifest.json", _json(manifest))
        sums_text = "".join(f"{digest}  {name}\n" for digest, name in sums)
        archive.writestr(SUMS, sums_text)
    sums_sha256 = sha256_text(sums_text)
    with ledger.transaction() as db:
        detail = {"sums_sha256": sums_sha256, "files": len(sums), "format": DOSSIER_FORMAT}
        audit.append(db, now, exported_by, "dossier.exported", alert_id, detail)
    return DossierSummary(alert_id, len(sums), sums_sha256, tuple(mismatches), chain.ok)


def verify_dossier(path: Path | IO[bytes]) -> list[str]:
    """Problems found in a dossier file (empty when it is intact)."""
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if SUMS not in names:
            return [f"{SUMS} is missing"]
        listed: dict[str, str] = {}
        for line in archive.read(SUMS).decode().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        for name in sorted(names - {SUMS} - set(listed)):
            problems.append(f"{name} is not listed in {SUMS}")
        for name, digest in listed.items():
            if name not in names:
                problems.append(f"{name} is listed but missing")
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(f"{name} does not match its SHA-256")
        if problems or "manifest.json" not in names:
            return problems or ["manifest.json is missing"]
        problems += _check_contents(archive.read, json.loads(archive.read("manifest.json")))
    return problems


def _check_contents(read: Callable[[str], bytes], manifest: dict[str, Any]) -> list[str]:
    """Evidence against its recorded digests; audit entries against their hashes; events
    against the digests sealed in the trail."""
    problems = []
    trail = json.loads(read("audit.json"))
    sealed_files: dict[str, str] = {}  # evidence name -> SHA-256 in the audit trail
    for raw in trail["entries"]:
        named = trail_digest(raw["action"], json.loads(raw["detail_text"]))
        if named is not None:
            sealed_files[named[0]] = named[1]
    for item in manifest.get("evidence", []):
        in_trail = sealed_files.get(item["name"])
        if not item.get("included"):
            pass
        elif item.get("sha256") != item.get("recorded_sha256"):
            problems.append(f"evidence {item['name']} differs from the digest recorded at capture")
        elif in_trail is None:
            problems.append(f"evidence {item['name']} is not recorded in the audit trail")
        elif item.get("sha256") != in_trail:
            problems.append(
                f"evidence {item['name']} differs from the SHA-256 recorded in the audit trail"
                " (its digest in the evidence table was changed)"
            )
        if item.get("missing"):
            problems.append(f"evidence {item['name']} was missing at export")
    sealed: dict[str, str] = {}
    for raw in trail["entries"]:
        recomputed = audit.entry_hash(
            raw["seq"],
            raw["at"],
            raw["actor"],
            raw["action"],
            raw["alert_id"],
            raw["detail_text"],
            raw["prev_hash"],
        )
        if recomputed != raw["hash"]:
            problems.append(f"audit entry {raw['seq']} does not match its hash")
        detail = json.loads(raw["detail_text"])
        if "event_id" in detail and "event_sha256" in detail:
            sealed[detail["event_id"]] = detail["event_sha256"]
    for line in read("events.jsonl").decode().splitlines():
        event_id = json.loads(line)["event_id"]
        if event_id in sealed and sha256_text(line) != sealed[event_id]:
            problems.append(f"event {event_id} differs from the digest sealed in the audit trail")
    if not trail["chain_at_export"]["ok"]:
        problems.append(f"the audit chain was broken at export: {trail['chain_at_export']}")
    return problems


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
