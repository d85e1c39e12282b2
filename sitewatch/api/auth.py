"""Who is calling: bearer tokens (from the config or the hashed store), roles, and a limit on
failed attempts per client address (the TCP peer, or the address a trusted proxy forwarded)."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.errors import SitewatchError
from sitewatch.api.tokens import TokenStore
from sitewatch.config.api import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token (the name goes into the audit trail)."""

    name: str
    role: Role

    def may(self, *roles: Role) -> bool:
        """True when the role is one of ``roles`` (admins may do everything)."""
        return self.role is Role.ADMIN or self.role in roles


ANONYMOUS = Principal("anonymous", Role.ADMIN)


class AuthError(SitewatchError):
    """Why a request is refused: 401 (no or bad token) or 429 (too many failures), with the
    stable ``code`` of the answer (token_missing, token_unknown, too_many_attempts)."""

    def __init__(
        self, status: int, reason: str, code: str, retry_after_s: int | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.code = code
        self.retry_after_s = retry_after_s


class FailureLimiter:
    """At most ``limit`` failed attempts per client within ``window_s``; then refuse that
    client until its oldest failure leaves the window."""

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def retry_after(self, client: str) -> int | None:
        """Seconds the client must wait, None when it may try."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return None
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[client]
                return None
            if len(times) < self.limit:
                return None
            self.refused += 1
            return max(1, math.ceil(times[0] + self.window_s - now))

    def failed(self, client: str) -> None:
        """Count one failed attempt."""
        now = self._clock()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self._max_clients:
                self._forget_oldest(now)
            self._failures.setdefault(client, deque()).append(now)

    def _forget_oldest(self, now: float) -> None:
        for client in [c for c, t in self._failures.items() if t[-1] <= now - self.window_s]:
            del self._failures[client]
        if len(self._failures) >= self._max_clients:  # still full: drop the stalest client
            stalest = min(self._failures, key=lambda c: self._failures[c][-1])
            del self._failures[stalest]


class Authenticator:
    """Checks bearer tokens; open access (as admin) only when allowed and no token exists."""

    def __init__(
        self,
        config_tokens: Mapping[str, tuple[str, str]],  # secret -> (holder name, role)
        store: TokenStore,
        limiter: FailureLimiter,
        open_when_no_tokens: bool,
    ) -> None:
        self._config = [
            (hashlib.sha256(secret.encode()).digest(), Principal(name, Role(role)))
            for secret, (name, role) in config_tokens.items()
        ]
        self._store = store
        self.limiter = limiter
        self._open_when_no_tokens = open_when_no_tokens
        self.failures = 0

    def open_access(self) -> bool:
        """True when nobody needs a token (loopback bind, no token configured or created)."""
        return self._open_when_no_tokens and not self._config and not self._store.any_created()

    def authenticate(self, token: str | None, client: str) -> Principal:
        """The principal of a bearer token presented from ``client``, or AuthError.

        A valid token is always accepted: failed attempts from an address (a proxy that many
        people share, say) never lock out the holders of good tokens. Unknown tokens from an
        address with too many recent failures answer 429 instead of 401.
        """
        if self.open_access():
            return ANONYMOUS
        if not token:  # not a guess: not counted
            raise AuthError(
                401, "missing bearer token (Authorization: Bearer <token>)", "token_missing"
            )
        principal = self._match(token)
        if principal is not None:
            return principal
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise AuthError(
                429, f"too many failed attempts: retry in {wait} s", "too_many_attempts", wait
            )
        self._fail(client)
        raise AuthError(401, "unknown token", "token_unknown")

    def _fail(self, client: str) -> None:
        self.failures += 1
        self.limiter.failed(client)

    def _match(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for stored, principal in self._config:  # every entry compared: no early exit
            if hmac.compare_digest(stored, digest):
                found = principal
        if found is not None:
            return found
        token = self._store.check(presented)
        return None if token is None else Principal(token.name, token.role)
