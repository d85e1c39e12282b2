"""The OpenAPI document: FastAPI's, with the error answers each operation can give.

The bearer scheme comes from the ``HTTPBearer`` dependency with each route's roles as its
scopes (OpenAPI 3.1 lets a non-OAuth scheme list role names). From it and from the parameters
and body of each operation follow its answers: 401 and 429 where a token is needed, 403 where
not every role may call it, 404 with a path parameter, 413 with a body, 422 with any input; routes
declare the others they give (400, 409, 410, 415, 416). Every 4xx has the Error schema.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sitewatch.api.schemas import ErrorOut

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
REASONS = {
    "400": "Malformed request (the reason says which part)",
    "401": "No token, or an unknown one",
    "403": "The token's role may not do this (the reason names the roles that may)",
    "404": "No such alert, camera or file",
    "409": "The case's state does not allow this action (the reason says why)",
    "413": "The body is larger than the route's limit",
    "415": "Unsupported Content-Type",
    "422": "Missing or invalid input (the reason names the field)",
    "429": "Too many failed attempts from this client address",
}
HEADERS = {
    "401": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}
UNUSED_SCHEMAS = ("HTTPValidationError", "ValidationError")  # FastAPI's 422, replaced


def answers_of(operation: dict[str, Any], roles: Collection[str]) -> set[str]:
    """The error statuses an operation can give, from its security, parameters and body."""
    statuses: set[str] = set()
    for requirement in operation.get("security", []):
        for scopes in requirement.values():
            statuses |= {"401", "429"}
            if set(scopes) != set(roles):
                statuses.add("403")
    places = {parameter["in"] for parameter in operation.get("parameters", [])}
    if "path" in places:
        statuses.add("404")
    if "requestBody" in operation:
        statuses |= {"413", "422"}
    if places:
        statuses.add("422")
    return statuses


def document_errors(spec: dict[str, Any], roles: Collection[str]) -> dict[str, Any]:
    """``spec`` with every operation's error answers declared in the Error schema."""
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for status in answers_of(operation, roles):
                responses.setdefault(status, {})
            operation["responses"] = responses = dict(sorted(responses.items()))
            for status, response in responses.items():
                if not status.startswith("4"):
                    continue
                if status == "422" or "description" not in response:  # FastAPI's 422 replaced
                    response["description"] = REASONS.get(status, "Refused")
                response["content"] = {"application/json": {"schema": ERROR_REF}}
                if status in HEADERS:
                    response.setdefault("headers", HEADERS[status])
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for name in UNUSED_SCHEMAS:
        schemas.pop(name, None)
    return spec


def openapi_document(app: FastAPI, roles: Collection[str]) -> dict[str, Any]:
    """The document of ``app`` (built once)."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        app.openapi_schema = document_errors(spec, roles)
    return app.openapi_schema
