"""A TCP relay that can be cut: an uplink between an edge broker's bridge and the central
broker that goes down (every connection dropped, new ones refused) and comes back, while both
brokers keep running."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sitewatch.demo.rtsp import free_port

HOST = "127.0.0.1"


class TcpRelay:
    """Relays ``HOST:port`` to ``HOST:target_port`` until :meth:`cut`, again after :meth:`mend`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener = socket.create_server((HOST, self.port))
        self._listener.settimeout(0.2)
        self._open = threading.Event()
        self._open.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-relay", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones."""
        self._open.clear()
        self._drop_all()

    def mend(self) -> None:
        """Relay new connections again."""
        self._open.set()

    def close(self) -> None:
        """Stop relaying for good."""
        self._closed.set()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                inbound, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._open.is_set():
                inbound.close()  # the uplink is down: the bridge retries later
                continue
            try:
                outbound = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                inbound.close()
                continue
            outbound.settimeout(None)
            with self._lock:
                self._sockets.update((inbound, outbound))
            for source, sink in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                self._drop(end)

    def _drop_all(self) -> None:
        with self._lock:
            ends = list(self._sockets)
        for end in ends:
            self._drop(end)

    def _drop(self, end: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(end)
        with suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()


@contextmanager
def tcp_relay(target_port: int) -> Iterator[TcpRelay]:
    """A :class:`TcpRelay` to ``target_port``, closed on exit."""
    relay = TcpRelay(target_port)
    try:
        yield relay
    finally:
        relay.close()
