"""Server-Sent Events: one poller reads new events from the ledger and fans them out.

Each client has a bounded queue; a client too slow to keep up is disconnected and resumes
with ``Last-Event-ID`` (events are read back from the ledger, so none is lost). The event id is
the event's position in the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread

from alerts.ledger import Ledger, StoredEvent

BATCH = 500
log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[list[StoredEvent]] = field(default_factory=lambda: asyncio.Queue(200))
    overflowed: bool = False


def sse_message(event: StoredEvent) -> bytes:
    """One event on the wire (payloads are single-line JSON)."""
    return f"id: {event.position}\nevent: alert\ndata: {event.payload}\n\n".encode()


class EventHub:
    """Fans new ledger events out to the connected clients."""

    def __init__(self, ledger: Ledger, poll_s: float = 0.1, heartbeat_s: float = 15.0) -> None:
        self._ledger = ledger
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self._clients: set[_Client] = set()
        self._poller: asyncio.Task[None] | None = None
        self._position = ledger.last_event_position()  # the poller goes on from here
        self.closed = False
        self.disconnected_slow = 0

    @property
    def clients(self) -> int:
        """Connected clients."""
        return len(self._clients)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self.closed = True

    async def stream(self, after: int | None) -> AsyncIterator[bytes]:
        """The SSE byte stream of one client: events after ``after`` (None: only new ones)."""
        client = _Client()
        self._clients.add(client)
        self._ensure_poller()
        try:
            position = after
            if position is None:
                position = await anyio.to_thread.run_sync(self._ledger.last_event_position)
            yield b"retry: 3000\n\n"  # from here on, nothing stored is missed
            while True:  # backlog straight from the ledger
                backlog = await anyio.to_thread.run_sync(self._ledger.events_after, position, BATCH)
                for event in backlog:
                    yield sse_message(event)
                    position = event.position
                if len(backlog) < BATCH:
                    break
            while not self.closed and not client.overflowed:
                try:
                    batch = await asyncio.wait_for(client.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                for event in batch:
                    if event.position > position:
                        yield sse_message(event)
                        position = event.position
        finally:
            self._clients.discard(client)

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while self._clients and not self.closed:
            try:
                batch = await anyio.to_thread.run_sync(
                    self._ledger.events_after, self._position, BATCH
                )
            except sqlite3.Error as error:
                log.error("event stream: cannot read the ledger (retrying): %s", error)
                batch = []
            if batch:
                self._position = batch[-1].position
                for client in list(self._clients):
                    try:
                        client.queue.put_nowait(batch)
                    except asyncio.QueueFull:
                        client.overflowed = True
                        self.disconnected_slow += 1
            if len(batch) < BATCH:
                await asyncio.sleep(self.poll_s)
