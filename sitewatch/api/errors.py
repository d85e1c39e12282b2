"""Error answers: ``{"detail": "<reason>", "code": "<stable code>", "params"?: {...}}``, never
echoing input.

``detail`` is English, for people reading logs; ``code`` is stable and machine-readable (the web
console shows its own text for it, in the user's language), and ``params`` holds the values that
text needs (a camera name, the edges of a polygon that cross...). A route raises ``ApiError`` to
choose the code; any other refusal gets the code of its status (``STATUS_CODES``). Invalid input
answers 422 with the fields and reasons in English (the values sent are never repeated: they may
be megabytes, or text that cannot be encoded) and the field names in ``params.fields``; a body
over its route's limit answers 413.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from core.errors import SitewatchError

INVALID_INPUT = "invalid_input"
BODY_TOO_LARGE = "body_too_large"
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: BODY_TOO_LARGE,
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: INVALID_INPUT,
    429: "too_many_attempts",
}
MAX_LISTED = 5  # problems named in one 422 answer
MAX_NAME_CHARS = 60  # of a field name quoted in an answer
WHERE = {"query": "query parameter ", "path": "path parameter ", "header": "header "}


def status_code_name(status: int) -> str:
    """The code of a refusal that names none: by its status (``http_<status>`` if unlisted)."""
    return STATUS_CODES.get(status, f"http_{status}")


def error_response(
    status: int,
    detail: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """An error answer in the API's shape (``code`` defaults to the status's)."""
    body: dict[str, Any] = {"detail": detail, "code": code or status_code_name(status)}
    if params:
        body["params"] = dict(params)
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(SitewatchError, HTTPException):
    """A refusal with its stable ``code`` and the ``params`` of its localised text, e.g.
    ``ApiError(404, "camera_not_found", f"no camera named {name!r}", camera=name)``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(status, detail, dict(headers) if headers else None)
        self.code = code
        self.params = params


class BodyTooLargeError(SitewatchError, HTTPException):
    """A request body over its route's limit (raised while it is read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_reason(limit))
        self.limit = limit


def too_large_reason(limit: int) -> str:
    """The reason of a 413."""
    return f"the request body is larger than {limit} bytes, the limit of this route"


def too_large(limit: int) -> JSONResponse:
    """The 413 answer; the connection closes, as the rest of the body is not read."""
    return error_response(413, too_large_reason(limit), BODY_TOO_LARGE, {"Connection": "close"})


def _escaped(char: str) -> str:
    if char.isprintable():
        return char
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def printable(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` safe to quote: non-printable characters (and lone surrogates) escaped as
    ``\\uXXXX``, long text shortened."""
    escaped = "".join(_escaped(char) for char in text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def field_name(loc: Sequence[int | str]) -> str:
    """('body', 'photos', 0) -> 'photos[0]'; ('query', 'limit') -> 'query parameter limit'."""
    source, *parts = loc or ("body",)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    prefix = WHERE.get(str(source), "")
    return printable(prefix + name) if name else "the body"


def describe(problem: Mapping[str, Any]) -> str:
    """One validation problem in words, without the value that was sent."""
    loc = tuple(problem.get("loc", ()))
    kind = problem.get("type", "")
    if kind == "json_invalid":
        cause = (problem.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON ({printable(str(cause))} at byte {loc[-1]})"
    message = printable(str(problem.get("msg", "invalid")), 300).removeprefix("Value error, ")
    if kind == "missing" and len(loc) == 1:
        return "the body is missing (a JSON object is expected)"
    if kind == "string_unicode":  # a lone surrogate (\ud800) in a JSON string
        message = "not valid Unicode text (a lone surrogate escape such as \\ud800)"
    return f"{field_name(loc)}: {message}"


def invalid_input(problems: Sequence[Mapping[str, Any]]) -> str:
    """The reason of a 422: each problem (the first few) in words."""
    listed = "; ".join(describe(p) for p in problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return listed + (f"; and {more} more" if more > 0 else "")


def problem_fields(problems: Sequence[Mapping[str, Any]]) -> list[str]:
    """The top-level names of the fields with problems (``owner``, ``photos`` for
    ``photos[0]``, ``limit`` for the query parameter), each once, in order; ``body`` for the
    body as a whole."""
    names: list[str] = []
    for problem in problems[:MAX_LISTED]:
        loc = tuple(problem.get("loc", ()))
        name = printable(str(loc[1])) if len(loc) > 1 and isinstance(loc[1], str) else "body"
        if name not in names:
            names.append(name)
    return names


async def _validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    return error_response(
        422, invalid_input(problems), INVALID_INPUT, params={"fields": problem_fields(problems)}
    )


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = error.code if isinstance(error, ApiError) else None
    params = error.params if isinstance(error, ApiError) else None
    return error_response(error.status_code, str(error.detail), code, error.headers, params)


async def _body_too_large(_request: Request, error: Exception) -> Response:
    assert isinstance(error, BodyTooLargeError)
    return too_large(error.limit)


def map_request_errors(app: FastAPI) -> None:
    """Answer invalid input, oversized bodies and every other refusal (``HTTPException``,
    ``ApiError``) in the API's error shape, each with its code."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BodyTooLargeError, _body_too_large)
    app.add_exception_handler(HTTPException, _http_error)
