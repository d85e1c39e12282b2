"""The web console: static pages (no data, so no token) at ``/console/``; the page itself calls
the API with the operator's bearer token. ``rules.json`` gives it the case workflow and which
roles may do what, from the same code the API enforces, and the domain words it names;
``i18n/<language>.json`` are its message catalogues (zh-CN, en)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse, RedirectResponse

from alerts.workflow import RULES, Action
from core import vocabulary
from core.vocabulary import CaseState, Hazard, Severity, ZoneKind
from sitewatch.api.auth import Principal
from sitewatch.config.api import Role

router = APIRouter(include_in_schema=False)
ASSET = re.compile(r"^[a-z][a-z0-9-]*\.(html|js|css|svg)$")
CATALOGUE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?\.json$")
MEDIA_TYPES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}
# The console runs only its own scripts and styles; evidence and frames arrive as blob: URLs
# (fetched with the token), and nothing may frame it.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
CLASS_NAMES = (
    vocabulary.FIRE,
    vocabulary.SMOKE,
    vocabulary.HELMET,
    vocabulary.HEAD,
    vocabulary.PERSON,
)


def _asset(name: str) -> Response:
    match = ASSET.match(name)
    if match is None:
        raise HTTPException(404, f"no console file {name!r}")
    path = resources.files("sitewatch").joinpath("console", name)
    if not path.is_file():
        raise HTTPException(404, f"no console file {name!r}")
    return Response(path.read_bytes(), media_type=MEDIA_TYPES[match[1]], headers=HEADERS)


@router.get("/")
def root() -> RedirectResponse:
    """The console is the home page."""
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/")
def index() -> Response:
    """The console's page (it asks for a token and calls the API with it)."""
    return _asset("index.html")


@router.get("/console/rules.json")
def rules() -> JSONResponse:
    """The case workflow (from which states each action is allowed, and where it leads) and
    the roles that may work cases or read the audit trail."""
    return JSONResponse(workflow_rules(), headers=HEADERS)


@router.get("/console/i18n/{name}")
def catalogue(name: str) -> Response:
    """The message catalogue of one language (``zh-CN.json``, ``en.json``)."""
    if CATALOGUE.match(name) is None:
        raise HTTPException(404, f"no catalogue {name!r}")
    path = resources.files("sitewatch").joinpath("console", "i18n", name)
    if not path.is_file():
        raise HTTPException(404, f"no catalogue {name!r}")
    return Response(path.read_bytes(), media_type=MEDIA_TYPES["json"], headers=HEADERS)


@router.get("/console/{asset}")
def console_file(asset: str) -> Response:
    """A script, style sheet or image of the console."""
    return _asset(asset)


def workflow_rules() -> dict[str, Any]:
    """What ``rules.json`` serves."""
    actions = {
        action.value: {
            "from": sorted(state.value for state in rule.allowed_from),
            "to": None if rule.to is None else rule.to.value,
        }
        for action, rule in RULES.items()
        if action is not Action.ESCALATE  # done by sitewatch when a deadline passes
    }
    return {
        "hazards": [hazard.value for hazard in Hazard],
        "severities": [severity.value for severity in Severity],
        "zone_kinds": [kind.value for kind in ZoneKind],
        "classes": list(CLASS_NAMES),
        "whole_frame": vocabulary.WHOLE_FRAME,
        "states": [state.value for state in CaseState],
        "actions": actions,
        "case_roles": [r.value for r in Role if Principal("", r).may(Role.OPERATOR)],
        "audit_roles": [r.value for r in Role if Principal("", r).may(Role.AUDITOR)],
    }
