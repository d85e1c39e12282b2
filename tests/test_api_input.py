"""Bad input over real HTTP (uvicorn, as ``sitewatch run`` serves the API): text that cannot be
encoded, times UTC cannot hold, oversized bodies, control characters in notes, photos that are
not pictures; and the OpenAPI document declaring the answers the routes really give."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import jsonschema
import numpy as np
import pytest

from alerts import audit
from alerts.photos import MAX_PHOTO_BYTES
from sitewatch.api.app import MAX_BODY_BYTES
from tests.api_site import Site, bearer, make_site, serve

FUTURE = "2031-01-01T00:00:00Z"
RNG = np.random.default_rng(14)
PICTURE = RNG.integers(0, 255, (48, 64, 3), np.uint8)
JPEG = cv2.imencode(".jpg", PICTURE)[1].tobytes()
PNG = cv2.imencode(".png", PICTURE)[1].tobytes()
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"payload.html" + b"<script>alert(1)</script>" * 8
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Site, httpx.Client]]:
    site = make_site(tmp_path)
    with serve(site.app) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield site, client


def post(
    client: httpx.Client,
    site: Site,
    action: str,
    body: bytes,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = {**bearer("operator"), "Content-Type": content_type}
    return client.post(f"/api/alerts/{site.ended_id}/case/{action}", content=body, headers=headers)


def stored_nothing(site: Site, outbox_before: int) -> bool:
    with site.ledger.reading() as db:
        actions = [entry.action for entry in audit.read_entries(db)]
    files = list((site.tmp / "evidence" / site.ended_id).glob("rectification*"))
    return (
        site.ledger.pending_count() == outbox_before
        and not any(a.startswith("case.") for a in actions)
        and not files
    )


# --- 8: text that cannot be encoded, times that UTC cannot hold ---------------------------


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("comment", rb'{"text": "\ud800"}', "text"),
        ("comment", rb'{"text": "ok \udfff ok"}', "text"),
        ("comment", rb'{"\ud800": 1, "text": "x"}', "body"),
        ("assign", rb'{"owner": "\udbff", "deadline": "2031-01-01T00:00:00Z"}', "owner"),
        ("rectify", rb'{"note": "x", "photos": ["\ud834"]}', "photos"),
    ],
)
def test_a_lone_surrogate_is_422_with_the_field(
    served: tuple[Site, httpx.Client], action: str, body: bytes, field: str
) -> None:
    site, client = served
    before = site.ledger.pending_count()
    response = post(client, site, action, body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["code"] == "invalid_input"
    assert field in answer["detail"] and "surrogate" in answer["detail"]
    assert stored_nothing(site, before)


def test_a_time_past_year_9999_in_utc_is_422(served: tuple[Site, httpx.Client]) -> None:
    site, client = served
    before = site.ledger.pending_count()
    body = {"owner": "J. Ruiz", "deadline": "9999-12-31T23:59:59-05:00"}  # 10000-01-01 in UTC
    response = post(client, site, "assign", json.dumps(body).encode())
    assert response.status_code == 422, response.text
    assert "deadline: the time lies outside years 1 to 9999 in UTC" in response.json()["detail"]
    assert stored_nothing(site, before)
    listed = client.get(
        "/api/alerts", params={"since": "9999-12-31T23:00:00-12:00"}, headers=bearer("viewer")
    )
    assert listed.status_code == 422 and "query parameter since" in listed.json()["detail"]
    latest = {"owner": "J. Ruiz", "deadline": "9999-12-31T23:59:59+00:00"}  # still fits
    assert post(client, site, "assign", json.dumps(latest).encode()).status_code == 200


# --- 9: body limits, no echo -------------------------------------------------------------


def test_a_50_mb_note_is_413_and_nothing_is_echoed(served: tuple[Site, httpx.Client]) -> None:
    site, client = served
    before = site.ledger.pending_count()
    note = b'{"text": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    response = post(client, site, "comment", note)
    assert response.status_code == 413
    reason = f"the request body is larger than {MAX_BODY_BYTES} bytes, the limit of this route"
    assert response.json() == {"detail": reason, "code": "body_too_large"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"text": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    streamed = client.post(
        f"/api/alerts/{site.ended_id}/case/comment",
        content=chunks(),
        headers={**bearer("operator"), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
    assert stored_nothing(site, before)


def test_a_long_note_is_422_without_the_note(served: tuple[Site, httpx.Client]) -> None:
    site, client = served
    response = post(client, site, "comment", json.dumps({"text": "a" * 9000}).encode())
    assert response.status_code == 422
    assert response.json()["detail"] == "text: String should have at most 4000 characters"
    assert len(response.content) < 200


def test_photos_have_their_own_larger_limit(served: tuple[Site, httpx.Client]) -> None:
    site, client = served
    post(client, site, "assign", json.dumps({"owner": "J. Ruiz", "deadline": FUTURE}).encode())
    noise = RNG.integers(0, 255, (1400, 1400, 3), np.uint8)
    big = cv2.imencode(".png", noise)[1].tobytes()
    assert MAX_BODY_BYTES < len(big) < MAX_PHOTO_BYTES
    assert post(client, site, "photos", big, "image/png").status_code == 201
    too_big = big + b"\0" * (MAX_PHOTO_BYTES - len(big) + 1)
    refused = post(client, site, "photos", too_big, "image/png")
    assert refused.status_code == 413 and str(MAX_PHOTO_BYTES) in refused.json()["detail"]


# --- 10: control characters in notes ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("valve\u0000closed", "U+0000 (NUL) at character 6"),
        ("fixed \u001b[2J\u001b[31mOK", "U+001B (ESC) at character 7"),
        ("\u009b31m red", "U+009B (a control character) at character 1"),
        ("done \u202eevil\u202c", "U+202E (right-to-left override, a bidirectional control)"),
        ("done \u2067isolated\u2069", "U+2067 (right-to-left isolate, a bidirectional control)"),
        ("bell\u0007", "U+0007 (BEL)"),
        ("rub\u007fout", "U+007F (DEL)"),
    ],
)
def test_control_characters_in_a_note_are_422_naming_the_field(
    served: tuple[Site, httpx.Client], text: str, refused: str
) -> None:
    site, client = served
    before = site.ledger.pending_count()
    response = post(client, site, "comment", json.dumps({"text": text}).encode())
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"text: contains {refused}")
    assert stored_nothing(site, before)


def test_line_breaks_in_a_note_are_kept_as_newlines_everywhere(
    served: tuple[Site, httpx.Client],
) -> None:
    site, client = served
    text = "pallet moved\r\nexit clear\rchecked\u2028by\tJ."
    response = post(client, site, "comment", json.dumps({"text": text}).encode())
    assert response.status_code == 200, response.text
    wanted = "pallet moved\nexit clear\nchecked\nby\tJ."
    event = json.loads(site.ledger.pending(1000)[-1].payload)  # the MQTT payload
    assert event["case"]["note"] == wanted
    with site.ledger.reading() as db:
        entry = [e for e in audit.read_entries(db) if e.action == "case.comment"][-1]
    assert entry.details["note"] == wanted
    one_line = {"owner": "J. Ruiz\r\nmallory", "deadline": FUTURE}
    refused = post(client, site, "assign", json.dumps(one_line).encode())
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("owner: contains a line break")


# --- 11: photos are decoded and stored re-encoded ---------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds a few bytes of data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\0" * 4096)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>", "JPEG"),
        ("image/jpeg", b"\xff\xd8\xff" + ZIP, "JPEG"),
        ("image/jpeg", b"\xff\xd8\xff" + ELF, "JPEG"),
        ("image/jpeg", JPEG[: len(JPEG) // 2], "does not decode"),
        ("image/png", b"\x89PNG\r\n\x1a\n" + ELF, "PNG"),
        ("image/png", PNG[: len(PNG) // 2], "does not decode"),
        ("image/png", png_header_only(60_000, 60_000), "60000x60000 pixels"),
    ],
    ids=["jpeg+html", "jpeg+zip", "jpeg+elf", "truncated-jpeg", "png+elf", "truncated-png", "bomb"],
)
def test_a_photo_that_is_not_a_whole_picture_is_422(
    served: tuple[Site, httpx.Client], content_type: str, body: bytes, reason: str
) -> None:
    site, client = served
    post(client, site, "assign", json.dumps({"owner": "J. Ruiz", "deadline": FUTURE}).encode())
    before = site.ledger.pending_count()
    response = post(client, site, "photos", body, content_type)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert site.ledger.pending_count() == before
    assert not list((site.tmp / "evidence" / site.ended_id).glob("rectification*"))


@pytest.mark.parametrize(("content_type", "picture"), [("image/jpeg", JPEG), ("image/png", PNG)])
def test_a_photo_is_stored_re_encoded_without_what_rides_along(
    served: tuple[Site, httpx.Client], content_type: str, picture: bytes
) -> None:
    site, client = served
    post(client, site, "assign", json.dumps({"owner": "J. Ruiz", "deadline": FUTURE}).encode())
    polyglot = picture + ZIP + ELF  # decoders stop at the end of the image data
    response = post(client, site, "photos", polyglot, content_type)
    assert response.status_code == 201, response.text
    photo = response.json()
    assert photo["upload_sha256"] == hashlib.sha256(polyglot).hexdigest()
    served_file = client.get(
        f"/api/alerts/{site.ended_id}/evidence/{photo['name']}", headers=bearer("viewer")
    ).content
    assert hashlib.sha256(served_file).hexdigest() == photo["sha256"]
    assert b"PK\x03\x04" not in served_file and b"\x7fELF" not in served_file
    decoded = cv2.imdecode(np.frombuffer(served_file, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == PICTURE.shape == (photo["height"], photo["width"], 3)
    if content_type == "image/png":
        assert np.array_equal(decoded, PICTURE)  # lossless


# --- 13: the OpenAPI document declares the answers ---------------------------------------


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_openapi_declares_the_bearer_scheme_and_every_error_answer(
    served: tuple[Site, httpx.Client],
) -> None:
    _, client = served
    spec = client.get("/api/openapi.json", headers=bearer("viewer")).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        if path == "/healthz":
            assert "security" not in operation
            continue
        [requirement] = operation["security"]
        roles = set(requirement["bearer"])
        answers = operation["responses"]
        assert {"401", "429"} <= set(answers), where
        assert ("403" in answers) == (roles != {"viewer", "operator", "auditor", "admin"}), where
        if "{" in path:
            assert "404" in answers, where
        if "requestBody" in operation:
            assert {"413", "422"} <= set(answers), where
        for status, answer in answers.items():
            if status.startswith("4"):
                assert answer["content"] == {"application/json": {"schema": error}}, where
    cases = {path: item["post"] for path, item in spec["paths"].items() if "/case/" in path}
    for path, operation in cases.items():
        assert operation["security"] == [{"bearer": ["admin", "operator"]}], path
        assert {"401", "403", "404", "409", "413", "422", "429"} <= set(operation["responses"])
    assert "415" in cases["/api/alerts/{alert_id}/case/photos"]["responses"]
    audit_route = spec["paths"]["/api/audit"]["get"]
    assert audit_route["security"] == [{"bearer": ["admin", "auditor"]}]


def test_error_answers_match_the_declared_schema(served: tuple[Site, httpx.Client]) -> None:
    site, client = served
    spec = client.get("/api/openapi.json", headers=bearer("admin")).json()
    schema = spec["components"]["schemas"]["ErrorOut"]
    case = f"/api/alerts/{site.ended_id}/case"
    answers = {
        401: client.get("/api/alerts"),
        403: client.get("/api/audit", headers=bearer("viewer")),
        404: client.get("/api/alerts/01J0000000000000000000000X", headers=bearer("viewer")),
        409: client.post(f"{case}/close", json={}, headers=bearer("operator")),
        413: post(client, site, "comment", b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}"),
        415: post(client, site, "photos", b"GIF89a", "image/gif"),
        422: post(client, site, "comment", b'{"text": ""}'),
    }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        jsonschema.validate(response.json(), schema)
