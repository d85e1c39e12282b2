"""FastAPI dependencies: the shared context and the caller, with role checks as aliases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from alerts.ledger import Ledger
from sitewatch.api.auth import AuthError, Principal
from sitewatch.api.context import ApiContext
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


def current_principal(request: Request, context: Context) -> Principal:
    """The caller (401 without a valid token, 429 after too many failed attempts)."""
    client = request.client.host if request.client else "unknown"
    try:
        return context.auth.authenticate(request.headers.get("authorization"), client)
    except AuthError as error:
        headers = {"WWW-Authenticate": "Bearer"}
        if error.retry_after_s is not None:
            headers["Retry-After"] = str(error.retry_after_s)
        raise HTTPException(error.status, error.reason, headers=headers) from None


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets ``roles`` (and admins) through and answers 403 to the others."""
    names = ", ".join(sorted({role.value for role in roles} | {Role.ADMIN.value}))

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.may(*roles):
            raise HTTPException(
                403, f"role {principal.role.value} may not do this (needs one of: {names})"
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(allow(Role.VIEWER, Role.OPERATOR, Role.AUDITOR))]
Operator = Annotated[Principal, Depends(allow(Role.OPERATOR))]
Auditor = Annotated[Principal, Depends(allow(Role.AUDITOR))]
