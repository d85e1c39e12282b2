"""The operator API over HTTP: workflow with 409 reasons, photo uploads (type, size), evidence
files (traversal, malformed ids, ranges, ETags), filtered and paginated alert lists, frames."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from alerts.photos import MAX_PHOTO_BYTES
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from tests.api_site import FRAME, T0, Site, make_site

JPEG = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
FUTURE = "2031-01-01T00:00:00Z"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def act(site: Site, alert_id: str, action: str, body: dict[str, object] | None = None) -> int:
    response = site.client.post(
        f"/api/alerts/{alert_id}/case/{action}", json=body or {}, headers=site.headers("operator")
    )
    status: int = response.status_code
    return status


@pytest.mark.parametrize(
    ("steps", "action", "body", "status", "reason"),
    [
        ([], "rectify", {"note": "x"}, 409, "cannot mark rectified a case that is open"),
        ([], "close", {}, 409, "it must be marked rectified first"),
        ([], "reopen", {"reason": "x"}, 409, "it is not closed"),
        (["acknowledge"], "acknowledge", {}, 409, "a case that is acknowledged"),
        (["assign", "rectify"], "assign", {"owner": "x", "deadline": FUTURE}, 409,
         "must be reopened first"),
        (["false-positive"], "rectify", {"note": "x"}, 409, "is false positive"),
        ([], "assign", {"owner": "x", "deadline": "2001-01-01T00:00:00Z"}, 422,
         "deadline in the future"),
        ([], "assign", {"owner": "x", "deadline": "2031-01-01T00:00:00"}, 422,
         "timezone"),
        ([], "assign", {"owner": "", "deadline": FUTURE}, 422, "at least 1 character"),
        ([], "comment", {"text": "x", "extra": 1}, 422, "Extra inputs are not permitted"),
        (["assign"], "rectify", {"note": "x", "photos": ["../../ledger.sqlite3"]}, 422,
         "no attached photo named"),
    ],
)  # fmt: skip
def test_invalid_actions_answer_with_the_reason(
    site: Site,
    steps: list[str],
    action: str,
    body: dict[str, object],
    status: int,
    reason: str,
) -> None:
    bodies: dict[str, dict[str, object]] = {
        "assign": {"owner": "J. Ruiz", "deadline": FUTURE},
        "rectify": {"note": "done"},
        "false-positive": {"reason": "a poster"},
    }
    for step in steps:
        assert act(site, site.ended_id, step, bodies.get(step)) == 200, step
    before = site.ledger.pending_count()
    response = site.client.post(
        f"/api/alerts/{site.ended_id}/case/{action}", json=body, headers=site.headers("operator")
    )
    assert response.status_code == status
    assert reason in str(response.json()["detail"])
    assert site.ledger.pending_count() == before  # nothing stored, nothing published


def test_close_waits_for_the_incident_to_end(site: Site) -> None:
    alert_id = site.active_id
    assert act(site, alert_id, "assign", {"owner": "K. Obi", "deadline": FUTURE}) == 200
    assert act(site, alert_id, "rectify", {"note": "extinguished"}) == 200
    refused = site.client.post(
        f"/api/alerts/{alert_id}/case/close", json={}, headers=site.headers("operator")
    )
    assert refused.status_code == 409 and "still detected" in refused.json()["detail"]
    site.alerts.handle(Observation("dock", "bay-2", Hazard.FLAME, Phase.END, T0 + 90, 0.9), None)
    assert act(site, alert_id, "close", {"note": "verified on camera"}) == 200


def test_photo_then_rectify_then_close_over_http(site: Site) -> None:
    operator = site.headers("operator")
    assert act(site, site.ended_id, "assign", {"owner": "J. Ruiz", "deadline": FUTURE}) == 200
    upload = site.client.post(
        f"/api/alerts/{site.ended_id}/case/photos",
        content=JPEG,
        headers={**operator, "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 201
    photo = upload.json()
    assert photo["name"] == "rectification-1.jpg"
    assert photo["upload_sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert (photo["width"], photo["height"]) == (8, 8)
    assert act(site, site.ended_id, "rectify", {"note": "moved", "photos": [photo["name"]]}) == 200
    assert act(site, site.ended_id, "close", {}) == 200
    served = site.client.get(
        f"/api/alerts/{site.ended_id}/evidence/rectification-1.jpg", headers=operator
    )
    assert served.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(served.content).hexdigest() == photo["sha256"]
    assert len(served.content) == photo["bytes"]
    detail = site.client.get(f"/api/alerts/{site.ended_id}", headers=operator).json()
    assert detail["workflow_state"] == "closed" and detail["case"]["owner"] == "J. Ruiz"
    assert [e["case"]["action"] for e in detail["events"] if e["type"] == "state"] == [
        "assign",
        "attach_photo",
        "rectify",
        "close",
    ]


def chunks(total: int) -> Iterator[bytes]:
    yield b"\xff\xd8\xff"
    sent = 3
    while sent < total:
        piece = min(65536, total - sent)
        yield b"\0" * piece
        sent += piece


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_oversized_upload_is_413_and_stores_nothing(site: Site, declared: bool) -> None:
    headers = {**site.headers("operator"), "Content-Type": "image/jpeg"}
    url = f"/api/alerts/{site.ended_id}/case/photos"
    size = MAX_PHOTO_BYTES + 1
    if declared:
        response = site.client.post(
            url, content=b"\xff\xd8\xff" + b"\0" * (size - 3), headers=headers
        )
    else:
        response = site.client.post(url, content=chunks(size), headers=headers)
    assert response.status_code == 413
    assert f"larger than {MAX_PHOTO_BYTES} bytes" in response.json()["detail"]
    assert not list((site.tmp / "evidence" / site.ended_id).glob("rectification*"))
    assert [e["type"] for e in site.ledger.events(site.ended_id)][-1] != "state"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        ("image/gif", b"GIF89a", 415, "image/jpeg or image/png"),
        ("", JPEG, 415, "image/jpeg or image/png"),
        ("image/png", JPEG, 422, "not a PNG image"),
        ("image/jpeg", b"<svg onload=alert(1)>", 422, "not a JPEG image"),
    ],
)
def test_upload_types_are_checked(
    site: Site, content_type: str, body: bytes, status: int, reason: str
) -> None:
    headers = {**site.headers("operator"), "Content-Type": content_type}
    response = site.client.post(
        f"/api/alerts/{site.ended_id}/case/photos", content=body, headers=headers
    )
    assert response.status_code == status and reason in response.json()["detail"]


def test_upload_to_an_unknown_alert_is_404(site: Site) -> None:
    headers = {**site.headers("operator"), "Content-Type": "image/jpeg"}
    response = site.client.post(
        "/api/alerts/01J0000000000000000000000X/case/photos", content=JPEG, headers=headers
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/alerts/{id}/evidence/..%2F..%2Fledger.sqlite3",
        "/api/alerts/{id}/evidence/%2E%2E%2F%2E%2E%2Fledger.sqlite3",
        "/api/alerts/{id}/evidence/ledger.sqlite3",
        "/api/alerts/..%2F..%2Fetc%2Fpasswd/snapshot",
        "/api/alerts/..%2Fledger.sqlite3/clip",
        "/api/alerts/%00/snapshot",
        "/api/alerts/not-an-id!/clip",
        "/api/alerts/" + "A" * 200 + "/snapshot",
        "/api/alerts/01J0000000000000000000000X/snapshot",
        "/api/alerts/01J0000000000000000000000X/clip",
    ],
)
def test_traversal_and_malformed_ids_are_404(site: Site, path: str) -> None:
    response = site.client.get(path.replace("{id}", site.ended_id), headers=site.headers("viewer"))
    assert response.status_code == 404
    assert b"SQLite" not in response.content


def test_a_ledger_row_pointing_outside_the_evidence_folder_is_not_read(site: Site) -> None:
    secret = site.tmp / "secret.txt"
    secret.write_text("not evidence")
    with site.ledger.transaction() as db:
        db.execute(
            "UPDATE evidence SET path = '../secret.txt' WHERE alert_id = ? AND kind = 'snapshot'",
            (site.ended_id,),
        )
    response = site.client.get(
        f"/api/alerts/{site.ended_id}/snapshot", headers=site.headers("viewer")
    )
    assert response.status_code == 404 and b"not evidence" not in response.content


def test_clip_ranges_etag_and_types(site: Site) -> None:
    viewer = site.headers("viewer")
    url = f"/api/alerts/{site.ended_id}/clip"
    full = site.client.get(url, headers=viewer)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    etag = full.headers["etag"]
    assert etag == f'"{hashlib.sha256(full.content).hexdigest()}"'
    part = site.client.get(url, headers={**viewer, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    assert site.client.get(url, headers={**viewer, "If-None-Match": etag}).status_code == 304
    stale = site.client.get(url, headers={**viewer, "Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and len(stale.content) == len(full.content)
    beyond = site.client.get(url, headers={**viewer, "Range": "bytes=999999-"})
    assert beyond.status_code == 416
    snapshot = site.client.get(f"/api/alerts/{site.ended_id}/snapshot", headers=viewer)
    assert snapshot.headers["content-type"] == "image/jpeg"
    assert snapshot.headers["x-content-type-options"] == "nosniff"


def test_list_filters(site: Site) -> None:
    viewer = site.headers("viewer")

    def ids(query: str) -> list[str]:
        response = site.client.get(f"/api/alerts?{query}", headers=viewer)
        assert response.status_code == 200, response.text
        return [a["alert_id"] for a in response.json()]

    assert ids("") == [site.active_id, site.ended_id]
    assert ids("hazard=flame") == [site.active_id]
    assert ids("camera=dock&hazard=blocked_exit") == [site.ended_id]
    assert ids("camera=yard") == []
    assert ids("state=open") == [site.active_id, site.ended_id]
    act(site, site.ended_id, "acknowledge")
    assert ids("state=acknowledged") == [site.ended_id]
    assert ids("since=2027-01-15T08:00:30Z") == [site.active_id]  # T0 + 30 s
    assert ids("until=2027-01-15T08:00:30Z") == [site.ended_id]
    for bad in ("hazard=smoke", "state=done", "since=yesterday", "limit=0", "limit=1001"):
        assert site.client.get(f"/api/alerts?{bad}", headers=viewer).status_code == 422, bad
    garbled = site.client.get("/api/alerts?cursor=!!!", headers=viewer)
    assert garbled.status_code == 400 and "invalid cursor" in garbled.json()["detail"]


def test_cursor_pagination_walks_every_alert_once(site: Site) -> None:
    for index in range(7):
        site.alerts.handle(
            Observation("yard", f"z{index}", Hazard.FLAME, Phase.START, T0 + 100 + index, 0.7),
            None,
        )
    viewer = site.headers("viewer")
    seen: list[str] = []
    url: str | None = "/api/alerts?limit=3&camera=yard"
    pages = 0
    while url is not None:
        response = site.client.get(url, headers=viewer)
        seen += [a["alert_id"] for a in response.json()]
        link = response.headers.get("link")
        url = None if link is None else link.split(";")[0].strip("<>")
        pages += 1
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    starts = [site.ledger.alert(a).started_at for a in seen]  # type: ignore[union-attr]
    assert starts == sorted(starts, reverse=True)


def test_latest_frame_and_cameras(site: Site) -> None:
    viewer = site.headers("viewer")
    frame = site.client.get("/api/cameras/dock/frame", headers=viewer)
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert frame.headers["cache-control"] == "no-store"
    image = cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == FRAME.shape
    nothing_yet = site.client.get("/api/cameras/yard/frame", headers=viewer)
    assert nothing_yet.status_code == 404 and "no frame yet" in nothing_yet.json()["detail"]
    assert site.client.get("/api/cameras/gate/frame", headers=viewer).status_code == 404
    cameras = site.client.get("/api/cameras", headers=viewer).json()
    assert [(c["camera"], c["state"]) for c in cameras] == [("dock", "online"), ("yard", "offline")]
