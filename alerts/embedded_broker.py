"""A local MQTT 3.1.1 broker (amqtt) for the zero-setup demo; production uses a real broker."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from core.errors import SitewatchError

log = logging.getLogger(__name__)


class BrokerStartError(SitewatchError, RuntimeError):
    """The embedded broker could not listen (the message names the address)."""


class EmbeddedBroker:
    """Runs amqtt on its own event loop in a background thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker")
        self._broker: Any = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening; raises BrokerStartError when the port cannot be bound."""
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._thread.start()
        self._broker = Broker(config, loop=self._loop)
        future = asyncio.run_coroutine_threadsafe(self._broker.start(), self._loop)
        try:
            future.result(timeout_s)
        except Exception as error:
            self._stop_loop()
            raise BrokerStartError(
                f"embedded MQTT broker could not listen on {self.host}:{self.port}: {error}"
            ) from error
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Shut the broker down and end its thread."""
        if self._broker is not None and self._thread.is_alive():
            # amqtt waits up to 5 s for its broadcast task and logs a traceback when it gives
            # up; the process is leaving anyway, so give it a short while and stop the loop.
            logging.getLogger("amqtt").setLevel(logging.CRITICAL)
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                future.result(min(timeout_s, 1.5))
            except (TimeoutError, RuntimeError) as error:
                log.debug("embedded broker shutdown cut short: %r", error)
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
