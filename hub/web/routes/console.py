"""The central console at ``/console/`` (static pages, no data, so no token: the page calls
the API with the person's bearer token) and its message catalogues."""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse, RedirectResponse

from alerts.workflow import RULES, Action
from core.vocabulary import CaseState, Hazard, Severity
from hub.commands import ACTIONS
from hub.config import HubRole
from hub.web.console_files import ConsoleFileError, asset_path, catalogue

router = APIRouter(include_in_schema=False)
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}
# As the edge console: only its own scripts and styles, evidence as blob: URLs, never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}


def _file(name: str) -> Response:
    try:
        path = asset_path(name)
    except ConsoleFileError as error:
        raise HTTPException(404, str(error)) from None
    return Response(path.read_bytes(), media_type=MEDIA_TYPES[path.suffix[1:]], headers=HEADERS)


@router.get("/")
def root() -> RedirectResponse:
    """The console is the home page."""
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/")
def index() -> Response:
    """The console's page."""
    return _file("index.html")


@router.get("/console/vocabulary.json")
def vocabulary() -> JSONResponse:
    """The domain words the filters offer, from the definitions the API checks against, and
    the case actions the centre may send with the states each is allowed from (the edge's
    workflow, which applies them)."""
    return JSONResponse(
        {
            "hazards": [h.value for h in Hazard],
            "severities": [s.value for s in Severity],
            "states": [s.value for s in CaseState],
            "roles": [r.value for r in HubRole],
            "actions": {
                action: sorted(state.value for state in RULES[Action(action)].allowed_from)
                for action in ACTIONS
            },
        },
        headers=HEADERS,
    )


@router.get("/console/i18n/{name}")
def messages(name: str) -> Response:
    """The catalogue of one language (``zh-CN.json``, ``en.json``)."""
    language = name.removesuffix(".json")
    try:
        document = catalogue(language) if name.endswith(".json") else None
    except ConsoleFileError as error:
        raise HTTPException(404, str(error)) from None
    if document is None:
        raise HTTPException(404, f"no catalogue {name[:40]!r}")
    body = json.dumps(document, ensure_ascii=False).encode()
    return Response(body, media_type="application/json", headers=HEADERS)


@router.get("/console/{asset}")
def console_file(asset: str) -> Response:
    """A page, script, style sheet or image of the console."""
    return _file(asset)
