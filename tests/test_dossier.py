"""Case dossiers: one ZIP per alert with a manifest of SHA-256s that verifies, and that fails
when anything in it was changed."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.cases import CaseRequest
from alerts.dossier import DossierError, export_dossier, verify_dossier
from alerts.workflow import Action
from sitewatch.cli.app import app
from tests.api_site import BASE_URL, T0, TOPICS, Site, make_site


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = make_site(tmp_path)
    site.cases.apply(site.ended_id, CaseRequest(Action.ACKNOWLEDGE, "ops", "operator"))
    site.cases.apply(
        site.ended_id, CaseRequest(Action.COMMENT, "ops", "operator", note="pallet at exit 1")
    )
    return site


def download(site: Site) -> bytes:
    response = site.client.get(
        f"/api/alerts/{site.ended_id}/dossier", headers=site.headers("auditor")
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert f"{site.ended_id}.zip" in response.headers["content-disposition"]
    content: bytes = response.content
    return content


def rewrite(data: bytes, name: str, new: bytes) -> bytes:
    """The same ZIP with one member replaced (what a forger would do)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, new if item.filename == name else source.read(item))
    return out.getvalue()


def test_dossier_holds_everything_and_verifies(site: Site) -> None:
    data = download(site)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    assert {"alert.json", "events.jsonl", "audit.json", "manifest.json", "SHA256SUMS"} <= names
    assert {
        "evidence/snapshot.jpg",
        "evidence/snapshot-annotated.jpg",
        "evidence/clip.mp4",
    } <= names
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["alert_id"] == site.ended_id and manifest["exported_by"] == "auditor-holder"
    for item in manifest["files"]:  # every file's digest is right
        assert hashlib.sha256(archive.read(item["path"])).hexdigest() == item["sha256"]
    assert all(e["matches_record"] for e in manifest["evidence"] if e["included"])
    trail = json.loads(archive.read("audit.json"))
    actions = [e["action"] for e in trail["entries"]]
    assert actions[0] == "alert.created" and actions[-2:] == ["case.acknowledge", "case.comment"]
    assert trail["chain_at_export"]["ok"]
    events = archive.read("events.jsonl").decode().splitlines()
    assert [json.loads(e)["type"] for e in events] == ["new", "end", "clip_ready", "state", "state"]
    assert verify_dossier(io.BytesIO(data)) == []
    with site.ledger.reading() as db:  # the export is in the trail, sealing SHA256SUMS
        row = db.execute("SELECT actor, detail FROM audit WHERE action = 'dossier.exported'")
        actor, detail = row.fetchone()
    assert actor == "auditor-holder"
    assert (
        json.loads(detail)["sums_sha256"] == hashlib.sha256(archive.read("SHA256SUMS")).hexdigest()
    )


@pytest.mark.parametrize(
    ("member", "change", "problem"),
    [
        ("evidence/clip.mp4", b"another video", "evidence/clip.mp4 does not match its SHA-256"),
        ("alert.json", b"{}", "alert.json does not match its SHA-256"),
        ("SHA256SUMS", b"", "is not listed in SHA256SUMS"),
    ],
)
def test_a_changed_dossier_fails_verification(
    site: Site, member: str, change: bytes, problem: str
) -> None:
    forged = rewrite(download(site), member, change)
    problems = verify_dossier(io.BytesIO(forged))
    assert any(problem in p for p in problems), problems


def test_a_consistently_forged_event_is_caught_by_the_trail(site: Site) -> None:
    """Even with SHA256SUMS and the manifest recomputed, an edited event no longer matches
    the digest the audit entry sealed when it was stored."""
    data = download(site)
    archive = zipfile.ZipFile(io.BytesIO(data))
    events = archive.read("events.jsonl").decode().replace("pallet at exit 1", "all clear")
    members = {n: archive.read(n) for n in archive.namelist()}
    members["events.jsonl"] = events.encode()
    manifest = json.loads(members["manifest.json"])
    for item in manifest["files"]:
        item["sha256"] = hashlib.sha256(members[item["path"]]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    members["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(body).hexdigest()}  {name}\n"
        for name, body in members.items()
        if name != "SHA256SUMS"
    ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, body in members.items():
            target.writestr(name, body)
    problems = verify_dossier(io.BytesIO(out.getvalue()))
    assert any("differs from the digest sealed in the audit trail" in p for p in problems)


def test_evidence_changed_on_disk_is_flagged_in_the_dossier(site: Site) -> None:
    (site.tmp / "evidence" / site.ended_id / "snapshot.jpg").write_bytes(b"swapped")
    problems = verify_dossier(io.BytesIO(download(site)))
    assert problems == ["evidence snapshot.jpg differs from the digest recorded at capture"]


def test_unknown_alert(site: Site) -> None:
    with pytest.raises(DossierError):
        export_dossier(
            site.ledger,
            site.tmp,
            "01J0000000000000000000000X",
            io.BytesIO(),
            "a",
            BASE_URL,
            "x",
            T0,
        )
    response = site.client.get(
        "/api/alerts/01J0000000000000000000000X/dossier", headers=site.headers("auditor")
    )
    assert response.status_code == 404


def test_cli_export_and_check(site: Site, tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "site.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": TOPICS.site, "name": "Plant A"},
                "storage": {"data_dir": str(tmp_path)},
                "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:1/x"}],
            }
        )
    )
    target = tmp_path / "out" / "case.zip"
    target.parent.mkdir()
    runner = CliRunner()
    exported = runner.invoke(
        app, ["audit", "export", "--config", str(config), site.ended_id, "--out", str(target)]
    )
    assert exported.exit_code == 0, exported.output
    checked = runner.invoke(app, ["audit", "check-dossier", str(target)])
    assert checked.exit_code == 0 and "intact" in checked.output
    target.write_bytes(rewrite(target.read_bytes(), "audit.json", b"[]"))
    broken = runner.invoke(app, ["audit", "check-dossier", str(target)])
    assert broken.exit_code == 1 and "audit.json does not match" in broken.output


@pytest.mark.parametrize(
    ("query", "header", "name", "words"),
    [
        (
            "?lang=zh-CN",
            None,
            "summary.zh-CN.txt",
            ("隐患档案", "安全出口堵塞", "已确认", "pallet at exit 1"),
        ),
        ("", "zh-CN,zh;q=0.9,en;q=0.5", "summary.zh-CN.txt", ("隐患档案", "审计记录")),
        ("?lang=en", "zh-CN", "summary.en.txt", ("Case dossier", "Blocked exit", "acknowledged")),
        ("", None, "summary.en.txt", ("Case dossier", "sha256sum -c SHA256SUMS")),
    ],
)
def test_the_summary_is_in_the_requesting_users_language_and_sealed(
    site: Site, query: str, header: str | None, name: str, words: tuple[str, ...]
) -> None:
    headers = site.headers("auditor") | ({"Accept-Language": header} if header else {})
    response = site.client.get(f"/api/alerts/{site.ended_id}/dossier{query}", headers=headers)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert [n for n in archive.namelist() if n.startswith("summary.")] == [name]
    text = archive.read(name).decode()
    for word in words:
        assert word in text, (word, text)
    assert f"({'UTC'})" in text  # times carry the site's zone
    sums = archive.read("SHA256SUMS").decode()
    assert f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}" in sums
    assert verify_dossier(io.BytesIO(response.content)) == []
