"""FastAPI dependencies: the shared context and the caller, with role checks as aliases.

(No ``from __future__ import annotations`` here: the role check's annotation names the roles
of each ``allow`` call, so it must be evaluated where it is written.)"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.ledger import Ledger
from sitewatch.api.auth import AuthError, Principal
from sitewatch.api.context import ApiContext
from sitewatch.api.errors import ApiError
from sitewatch.config.api import Role


def get_context(request: Request) -> ApiContext:
    """The context ``create_app`` stored on the application."""
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


def get_ledger(context: Context) -> Ledger:
    """The ledger."""
    return context.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


BEARER = HTTPBearer(
    scheme_name="bearer",
    description="A token from api.tokens or `sitewatch token create`; the scopes of each "
    "operation are the roles that may call it.",
    auto_error=False,
)


def current_principal(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Principal:
    """The caller (401 without a valid token, 429 for unknown tokens after too many failed
    attempts from the client's address)."""
    client = request.client.host if request.client else "unknown"
    token = None if credentials is None else credentials.credentials.strip()
    try:
        return context.auth.authenticate(token, client)
    except AuthError as error:
        headers = {"WWW-Authenticate": "Bearer"}
        params: dict[str, int] = {}
        if error.retry_after_s is not None:
            headers["Retry-After"] = str(error.retry_after_s)
            params["retry_after_s"] = error.retry_after_s
        raise ApiError(error.status, error.code, error.reason, headers, **params) from None


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets ``roles`` (and admins) through and answers 403 to the others
    (the roles are the scopes of the bearer scheme in the OpenAPI document)."""
    allowed = sorted({role.value for role in roles} | {Role.ADMIN.value})
    names = ", ".join(allowed)

    def check(
        principal: Annotated[Principal, Security(current_principal, scopes=allowed)],
    ) -> Principal:
        if not principal.may(*roles):
            raise ApiError(
                403,
                "forbidden",
                f"role {principal.role.value} may not do this (needs one of: {names})",
                role=principal.role.value,
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(allow(Role.VIEWER, Role.OPERATOR, Role.AUDITOR))]
Operator = Annotated[Principal, Depends(allow(Role.OPERATOR))]
Auditor = Annotated[Principal, Depends(allow(Role.AUDITOR))]
Admin = Annotated[Principal, Depends(allow())]
