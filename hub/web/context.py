"""What the hub's routes reach: config, metrics, a database connection per request, the
caller (a scoped person)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.config import HubConfig, HubRole
from hub.evidence_store import EvidenceStore
from hub.metrics import HubMetrics
from hub.store import Db
from hub.web.auth import HubAuth, Person

HealthSource = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class HubContext:
    """Shared by every request."""

    config: HubConfig
    metrics: HubMetrics
    connect: Callable[[], Db]
    auth: HubAuth
    evidence: EvidenceStore
    health: HealthSource
    wake_commands: Callable[[], None] = lambda: None


def get_context(request: Request) -> HubContext:
    """The app's context."""
    context: HubContext = request.app.state.context
    return context


Context = Annotated[HubContext, Depends(get_context)]
BEARER = HTTPBearer(scheme_name="bearer", auto_error=False)


def get_db(context: Context) -> Iterator[Db]:
    """A connection for one request, closed after it. Autocommit: each ``transaction()``
    block commits on its own (reads outside one do not hold a transaction open)."""
    db = context.connect()
    db.autocommit = True
    try:
        yield db
    finally:
        db.close()


DbDep = Annotated[Db, Depends(get_db)]


def current_person(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Person:
    """The caller, or 401."""
    token = None if credentials is None else credentials.credentials.strip()
    person = context.auth.person(token)
    if person is None:
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    return person


Caller = Annotated[Person, Depends(current_person)]


def require(*roles: HubRole) -> Callable[[Person], Person]:
    """A dependency that lets ``roles`` (and the street office) through, 403 for others."""
    allowed = {*roles, HubRole.STREET_OFFICE}

    def check(person: Caller) -> Person:
        if person.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(403, f"role {person.role.value} may not do this (needs {names})")
        return person

    return check


StreetOffice = Annotated[Person, Depends(require())]
Actor = Annotated[Person, Depends(require(HubRole.SUPERVISOR, HubRole.OFFICER))]
Supervisor = Annotated[Person, Depends(require(HubRole.SUPERVISOR))]
