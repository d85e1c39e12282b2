"""API tokens kept in the ledger: only a salted SHA-256 of each secret is stored.

A token reads ``sw_<id>_<secret>``: the id (12 hex digits) finds the row, the secret (256 random
bits, URL-safe base64) is compared by its hash in constant time. Creation and revocation are
audit entries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass

from alerts import audit
from alerts.ledger import Ledger
from core.errors import SitewatchError
from sitewatch.config.api import Role

TOKEN_PATTERN = re.compile(r"^sw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class TokenError(SitewatchError, ValueError):
    """A token cannot be created or revoked (duplicate name, unknown token)."""


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token's public record (never its secret)."""

    token_id: str
    name: str
    role: Role
    created_at: float
    created_by: str
    revoked_at: float | None = None


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _row(row: sqlite3.Row | tuple[object, ...]) -> StoredToken:
    token_id, name, role, created_at, created_by, revoked_at = tuple(row)
    return StoredToken(
        str(token_id),
        str(name),
        Role(str(role)),
        float(str(created_at)),
        str(created_by),
        None if revoked_at is None else float(str(revoked_at)),
    )


_COLUMNS = "token_id, name, role, created_at, created_by, revoked_at"


class TokenStore:
    """Create, list, revoke and check hashed tokens."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def create(self, name: str, role: Role, created_by: str, now: float) -> tuple[str, StoredToken]:
        """A new token: returns the secret text (shown once) and its record."""
        name = name.strip()
        if not name:
            raise TokenError("a token needs a name (who holds it)")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        with self._ledger.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if taken is not None:
                raise TokenError(f"an active token named '{name}' exists: revoke it first")
            db.execute(
                "INSERT INTO api_tokens (token_id, name, role, salt, hash, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, name, role.value, salt, _digest(salt, secret), now, created_by),
            )
            detail = {"token_id": token_id, "name": name, "role": role.value}
            audit.append(db, now, created_by, "token.created", None, detail)
        return f"sw_{token_id}_{secret}", StoredToken(token_id, name, role, now, created_by)

    def tokens(self) -> list[StoredToken]:
        """Every token, revoked ones too, oldest first."""
        with self._ledger.reading() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at").fetchall()
        return [_row(row) for row in rows]

    def revoke(self, id_or_name: str, revoked_by: str, now: float) -> StoredToken:
        """Revoke the active token with this id or name."""
        with self._ledger.transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM api_tokens WHERE revoked_at IS NULL"
                " AND (token_id = ? OR name = ?)",
                (id_or_name, id_or_name),
            ).fetchone()
            if row is None:
                raise TokenError(f"no active token with id or name '{id_or_name}'")
            token = _row(row)
            db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ?", (now, token.token_id)
            )
            detail = {"token_id": token.token_id, "name": token.name, "role": token.role.value}
            audit.append(db, now, revoked_by, "token.revoked", None, detail)
        return StoredToken(
            token.token_id, token.name, token.role, token.created_at, token.created_by, now
        )

    def any_created(self) -> bool:
        """True once a token was created (revoking the last one never reopens the API)."""
        with self._ledger.reading() as db:
            return db.execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone() is not None

    def check(self, presented: str) -> StoredToken | None:
        """The active token matching ``presented`` (hash compared in constant time)."""
        match = TOKEN_PATTERN.match(presented)
        if match is None:
            return None
        token_id, secret = match.groups()
        with self._ledger.reading() as db:
            row = db.execute(
                f"SELECT {_COLUMNS}, salt, hash FROM api_tokens"
                " WHERE token_id = ? AND revoked_at IS NULL",
                (token_id,),
            ).fetchone()
        if row is None:
            return None
        *record, salt, stored = tuple(row)
        if not hmac.compare_digest(_digest(str(salt), secret), str(stored)):
            return None
        return _row(tuple(record))
