"""Stream errors in words an operator understands."""

from __future__ import annotations

import av

from ingest.url import redact_url


def describe_error(error: BaseException) -> str:
    """A short reason such as '401 Unauthorized' or 'connection refused' (no credentials)."""
    known: list[tuple[type[BaseException], str]] = [
        (av.error.HTTPUnauthorizedError, "401 Unauthorized (check the camera credentials)"),
        (av.error.HTTPForbiddenError, "403 Forbidden"),
        (av.error.HTTPNotFoundError, "404 stream not found (check the URL path)"),
        (ConnectionRefusedError, "connection refused (camera or port down)"),
        (TimeoutError, "timed out"),
        (av.error.ExitError, "timed out (the stream stopped answering)"),  # PyAV's read timeout
        (av.error.InvalidDataError, "invalid data from the stream"),
        (av.error.EOFError, "end of stream"),
        (FileNotFoundError, "file not found"),
    ]
    for kind, words in known:
        if isinstance(error, kind):
            return words
    return redact_url(f"{type(error).__name__}: {error}")
