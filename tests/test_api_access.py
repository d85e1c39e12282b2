"""Access control: every route by every role (401/403/200), rate-limited failures, hashed
tokens made with ``sitewatch token``, open access only without any token, CORS closed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import yaml
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from alerts.cases import CaseRequest
from alerts.workflow import Action
from detect.references import ReferenceStore
from sitewatch.api.auth import FailureLimiter
from sitewatch.api.routes import ROUTERS
from sitewatch.cli.app import app as cli
from sitewatch.config.loader import load_config
from tests.api_site import ROLES, T0, Clock, Site, bearer, make_site, serve

EVERYONE = frozenset(ROLES)
OPERATORS = frozenset({"operator", "admin"})
AUDITORS = frozenset({"auditor", "admin"})
ADMINS = frozenset({"admin"})
JPEG = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
FUTURE = "2031-01-01T00:00:00Z"


def assigned(site: Site) -> None:
    request = CaseRequest(Action.ASSIGN, "lead", "operator", owner="J. Ruiz", deadline=T0 + 999)
    site.cases.apply(site.ended_id, request)


def rectified(site: Site) -> None:
    assigned(site)
    site.cases.apply(site.ended_id, CaseRequest(Action.RECTIFY, "lead", "operator", note="done"))


def closed(site: Site) -> None:
    rectified(site)
    site.cases.apply(site.ended_id, CaseRequest(Action.CLOSE, "lead", "operator"))


def nothing(_site: Site) -> None:
    return


@dataclass(frozen=True)
class Row:
    method: str
    template: str  # as declared in the app
    roles: frozenset[str] | None  # None: public
    ok: int = 200
    json_body: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[Site], None] = nothing

    def url(self, site: Site) -> str:
        return (
            self.template.replace("{alert_id}", site.ended_id)
            .replace("{name}", "dock")
            .replace("{asset}", "app.js")
            .replace("/evidence/dock", "/evidence/snapshot.jpg")
            .replace("/console/i18n/dock", "/console/i18n/zh-CN.json")
        )


ROUTES = [
    Row("GET", "/healthz", None),
    Row("GET", "/", None),  # redirects to the console (followed)
    Row("GET", "/console/", None),  # the console's static files hold no data
    Row("GET", "/console/rules.json", None),
    Row("GET", "/console/{asset}", None),
    Row("GET", "/console/i18n/{name}", None),
    Row("GET", "/api/me", EVERYONE),
    Row("GET", "/api/health", EVERYONE),
    Row("GET", "/metrics", EVERYONE),
    Row("GET", "/api/openapi.json", EVERYONE),
    Row("GET", "/api/alerts", EVERYONE),
    Row("GET", "/api/alerts/{alert_id}", EVERYONE),
    Row("GET", "/api/alerts/{alert_id}/snapshot", EVERYONE),
    Row("GET", "/api/alerts/{alert_id}/clip", EVERYONE),
    Row("GET", "/api/alerts/{alert_id}/evidence/{name}", EVERYONE),
    Row("GET", "/api/alerts/{alert_id}/case", EVERYONE),
    Row("POST", "/api/alerts/{alert_id}/case/acknowledge", OPERATORS, json_body={}),
    Row(
        "POST",
        "/api/alerts/{alert_id}/case/assign",
        OPERATORS,
        json_body={"owner": "J. Ruiz", "deadline": FUTURE},
    ),
    Row("POST", "/api/alerts/{alert_id}/case/comment", OPERATORS, json_body={"text": "seen"}),
    Row(
        "POST",
        "/api/alerts/{alert_id}/case/photos",
        OPERATORS,
        ok=201,
        content=JPEG,
        headers={"Content-Type": "image/jpeg"},
    ),
    Row(
        "POST",
        "/api/alerts/{alert_id}/case/rectify",
        OPERATORS,
        json_body={"note": "pallet moved"},
        before=assigned,
    ),
    Row("POST", "/api/alerts/{alert_id}/case/close", OPERATORS, json_body={}, before=rectified),
    Row(
        "POST",
        "/api/alerts/{alert_id}/case/reopen",
        OPERATORS,
        json_body={"reason": "blocked again"},
        before=closed,
    ),
    Row(
        "POST",
        "/api/alerts/{alert_id}/case/false-positive",
        OPERATORS,
        json_body={"reason": "a poster"},
    ),
    Row("GET", "/api/cameras", EVERYONE),
    Row("GET", "/api/cameras/{name}/frame", EVERYONE),
    Row("GET", "/api/cameras/{name}/reference", EVERYONE),
    Row("GET", "/api/cameras/{name}/zones", EVERYONE),
    Row("PUT", "/api/cameras/{name}/zones", ADMINS, json_body={"version": 0, "zones": []}),
    Row("POST", "/api/cameras/{name}/reference", ADMINS),
    Row("GET", "/api/live", EVERYONE),  # checked over HTTP (an endless stream)
    Row("GET", "/api/handover", EVERYONE),
    Row("GET", "/api/audit", AUDITORS),
    Row("GET", "/api/audit/verify", AUDITORS),
    Row("GET", "/api/alerts/{alert_id}/dossier", AUDITORS),
    Row("GET", "/api/stats/daily", EVERYONE),
    Row("GET", "/api/events", EVERYONE),  # checked over HTTP (an endless stream)
]
CALLERS = [None, "wrong", *ROLES]
STREAMS = ("/api/events", "/api/live")


def test_the_matrix_covers_every_route(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    documented = {
        (method.upper(), path)
        for path, operations in site.app.openapi()["paths"].items()
        for method in operations
    }
    served = {  # documented or not (the OpenAPI document itself, the console's files)
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert documented <= served
    assert served == {(row.method, row.template) for row in ROUTES}


def call(site: Site, row: Row, caller: str | None) -> httpx.Response:
    headers = dict(row.headers)
    if caller == "wrong":
        headers["Authorization"] = "Bearer sw_0123456789ab_" + "x" * 43
    elif caller is not None:
        headers.update(bearer(caller))
    response: httpx.Response = site.client.request(
        row.method, row.url(site), json=row.json_body, content=row.content, headers=headers
    )
    return response


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("row", [r for r in ROUTES if r.template not in STREAMS], ids=str)
def test_route_role_matrix(tmp_path: Path, row: Row, caller: str | None) -> None:
    site = make_site(tmp_path)
    ReferenceStore(tmp_path / "references").save("dock", np.zeros((9, 16, 3), np.uint8), T0)
    row.before(site)
    response = call(site, row, caller)
    if row.roles is None:
        expected = row.ok
    elif caller in (None, "wrong"):
        expected = 401
    else:
        expected = row.ok if caller in row.roles else 403
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if expected == 403:
        assert f"role {caller} may not do this" in response.json()["detail"]


def test_event_stream_roles_over_http(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    with serve(site.app) as base, httpx.Client(base_url=base, timeout=5) as client:
        assert client.get("/api/events").status_code == 401
        for role in ROLES:
            with client.stream("GET", "/api/events", headers=bearer(role)) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")


def test_failed_attempts_are_limited_per_client_but_never_lock_out_a_valid_token(
    tmp_path: Path,
) -> None:
    clock = Clock(0.0)
    site = make_site(tmp_path, limiter=FailureLimiter(limit=3, window_s=60, clock=clock))
    bad = {"Authorization": "Bearer not-a-token-at-all"}
    with serve(site.app) as base, httpx.Client(base_url=base) as client:
        assert [client.get("/api/alerts", headers=bad).status_code for _ in range(3)] == [401] * 3
        refused = client.get("/api/alerts", headers=bad)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        assert "too many failed attempts" in refused.json()["detail"]
        # the address is locked for unknown tokens only: a good one from it still works
        assert client.get("/api/alerts", headers=bearer("viewer")).status_code == 200
        assert client.get("/api/alerts").status_code == 401  # no token: not a guess
        clock.now = 45.0
        assert client.get("/api/alerts", headers=bad).headers["retry-after"] == "15"
        clock.now = 61.0
        assert client.get("/api/alerts", headers=bad).status_code == 401
        assert client.get("/healthz").status_code == 200  # never limited


def failures(client: httpx.Client, forwarded_for: str, count: int) -> list[int]:
    headers = {"Authorization": "Bearer not-a-token-at-all", "X-Forwarded-For": forwarded_for}
    return [client.get("/api/alerts", headers=headers).status_code for _ in range(count)]


def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    limiter = FailureLimiter(limit=3, window_s=60)
    site = make_site(tmp_path / "direct", limiter=limiter)
    with serve(site.app) as base, httpx.Client(base_url=base) as client:
        # from loopback, a header that changes with every guess does not make a new client
        rotating = [failures(client, f"203.0.113.{i}", 1)[0] for i in range(5)]
        assert rotating == [401, 401, 401, 429, 429]

    limiter = FailureLimiter(limit=3, window_s=60)
    site = make_site(tmp_path / "proxied", limiter=limiter, trusted_proxies=("127.0.0.0/8",))
    with serve(site.app) as base, httpx.Client(base_url=base) as client:
        # the proxy appends the address it saw; what the client wrote before it is not believed
        assert failures(client, "198.51.100.9, 203.0.113.7", 4) == [401, 401, 401, 429]
        assert failures(client, "198.51.100.9", 1) == [401]  # the named address is not locked
        locked = {**bearer("viewer"), "X-Forwarded-For": "203.0.113.7"}
        assert client.get("/api/alerts", headers=locked).status_code == 200


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "site.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "plant-a", "name": "Plant A"},
                "storage": {"data_dir": str(tmp_path)},
                "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:1/x"}],
            }
        )
    )
    return config


@pytest.mark.parametrize(
    ("proxies", "problem"),
    [
        (["10.0.0.5", "10.1.0.0/16", "::1"], None),
        (["10.0.0.5/8"], "api.trusted_proxies[0]: value is not a valid IPv4 or IPv6 network"),
        (["proxy.example"], "api.trusted_proxies[0]: value is not a valid IPv4 or IPv6 network"),
        (["127.0.0.1", "0.0.0.0/0"], "api.trusted_proxies[1]: 0.0.0.0/0 trusts every address"),
    ],
)
def test_trusted_proxies_are_checked_in_the_config(
    tmp_path: Path, proxies: list[str], problem: str | None
) -> None:
    config = write_config(tmp_path)
    document = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**document, "api": {"trusted_proxies": proxies}}))
    checked = CliRunner().invoke(cli, ["check-config", str(config)])
    if problem is None:
        assert checked.exit_code == 0, checked.output
        loaded = load_config(config)
        assert [str(n) for n in loaded.api.trusted_proxies] == [
            "10.0.0.5/32",
            "10.1.0.0/16",
            "::1/128",
        ]
    else:
        assert checked.exit_code == 2 and problem in checked.output, checked.output


def test_cli_tokens_are_hashed_shown_once_and_revocable(tmp_path: Path) -> None:
    site = make_site(tmp_path, tokens={})
    assert site.client.get("/api/alerts").status_code == 200  # no token anywhere: open
    config = write_config(tmp_path)
    runner = CliRunner()
    created = runner.invoke(
        cli, ["token", "create", "--config", str(config), "--role", "operator", "--name", "Ana"]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)
    assert secret.encode() not in (tmp_path / "ledger.sqlite3").read_bytes()
    assert secret.split("_")[-1].encode() not in (tmp_path / "ledger.sqlite3").read_bytes()

    assert site.client.get("/api/alerts").status_code == 401  # a token exists: closed
    me = {"Authorization": f"Bearer {secret}"}
    assert site.client.get("/api/alerts", headers=me).status_code == 200
    acted = site.client.post(f"/api/alerts/{site.ended_id}/case/acknowledge", json={}, headers=me)
    assert acted.status_code == 200
    trail = site.client.get("/api/audit", headers=me)
    assert trail.status_code == 403  # an operator is not an auditor

    listed = runner.invoke(cli, ["token", "list", "--config", str(config)])
    assert "Ana" in listed.output and "operator" in listed.output and secret not in listed.output
    duplicate = runner.invoke(
        cli, ["token", "create", "--config", str(config), "--role", "viewer", "--name", "Ana"]
    )
    assert duplicate.exit_code == 2 and "revoke it first" in duplicate.output
    revoked = runner.invoke(cli, ["token", "revoke", "--config", str(config), "Ana"])
    assert revoked.exit_code == 0, revoked.output
    assert site.client.get("/api/alerts", headers=me).status_code == 401
    with site.ledger.reading() as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit WHERE action LIKE 'token.%'")]
        holder = db.execute("SELECT actor FROM audit WHERE action = 'case.acknowledge'").fetchone()
    assert actions == ["token.created", "token.revoked"] and holder[0] == "Ana"


def test_open_access_needs_the_loopback_promise(tmp_path: Path) -> None:
    from alerts.contract import Topics
    from sitewatch.api import create_app
    from sitewatch.api.context import ApiDependencies

    site = make_site(tmp_path, tokens={})
    closed_app = create_app(
        ApiDependencies.of_ledger(
            site.ledger, tmp_path, Topics("sw", "a"), "http://t", open_when_no_tokens=False
        )
    )
    from fastapi.testclient import TestClient

    assert TestClient(closed_app).get("/api/alerts").status_code == 401


def test_cors_is_closed_by_default_and_opens_per_origin(tmp_path: Path) -> None:
    origin = {"Origin": "https://console.example", **bearer("viewer")}
    closed_site = make_site(tmp_path / "a")
    response = closed_site.client.get("/api/alerts", headers=origin)
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = closed_site.client.options(
        "/api/alerts",
        headers={"Origin": "https://console.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    open_site = make_site(tmp_path / "b", cors_origins=("https://console.example",))
    allowed = open_site.client.get("/api/alerts", headers=origin)
    assert allowed.headers["access-control-allow-origin"] == "https://console.example"
    other = open_site.client.get(
        "/api/alerts", headers={**origin, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_openapi_document_lists_the_versioned_api(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    spec = site.client.get("/api/openapi.json", headers=bearer("viewer")).json()
    assert spec["info"]["version"] == "1.0.0"
    outside = {"/healthz", "/metrics"}  # conventional paths for probes and scrapers
    assert all(path.startswith("/api/") for path in set(spec["paths"]) - outside)
    assert json.dumps(spec).count("/case/") >= 8
