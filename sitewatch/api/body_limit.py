"""Request body limits: a body over its route's limit answers 413 before the application reads
it (by its Content-Length), or as soon as it streams past the limit (chunked bodies)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitewatch.api.errors import BodyTooLargeError, too_large


class BodyLimit:
    """ASGI middleware: at most ``limit`` bytes of body per request, ``larger`` ones on the
    routes it lists (path templates as the routers declare them)."""

    def __init__(self, app: ASGIApp, limit: int, larger: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self._larger = [(compile_path(template)[0], size) for template, size in larger.items()]

    def limit_of(self, path: str) -> int:
        """The body limit of a request path."""
        return next((size for regex, size in self._larger if regex.match(path)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await too_large(limit)(scope, receive, send)  # the body is never read
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLargeError:  # raised outside a route (inside one, its handler answers)
            if started:
                raise
            await too_large(limit)(scope, receive, send)
