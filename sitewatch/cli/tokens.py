"""``sitewatch token create|list|revoke``: API tokens stored hashed in the ledger."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from sitewatch.cli.common import ConfigOption, cli_actor, err, load_site, open_ledger, out
from sitewatch.config.api import Role

tokens_app = typer.Typer(help="API tokens (stored hashed; the secret is shown once).")


@tokens_app.command("create")
def create(
    config: ConfigOption,
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    name: Annotated[str, typer.Option(help="Who holds it (shown in the audit trail).")],
) -> None:
    """Create a token and print it once (only its salted hash is stored)."""
    from sitewatch.api.tokens import TokenError, TokenStore

    site = load_site(config)
    if name.strip() in {t.name for t in site.api.tokens}:
        err.print(f"a token named '{name}' is in the config already")
        raise typer.Exit(2)
    ledger = open_ledger(site)
    try:
        secret, token = TokenStore(ledger).create(name, role, cli_actor(), time.time())
    except TokenError as error:
        err.print(f"sitewatch token create: {error}", markup=False)
        raise typer.Exit(2) from None
    finally:
        ledger.close()
    err.print(f"token {token.token_id} for {token.name} ({token.role.value}); shown only once:")
    out.print(secret, markup=False, highlight=False)


@tokens_app.command("list")
def list_tokens(config: ConfigOption) -> None:
    """Tokens in the ledger (never their secrets) and those of the config."""
    from sitewatch.api.tokens import TokenStore

    site = load_site(config)
    ledger = open_ledger(site)
    try:
        stored = TokenStore(ledger).tokens()
    finally:
        ledger.close()
    table = Table("id", "name", "role", "created", "by", "revoked", box=None, pad_edge=False)
    for token in stored:
        revoked = "" if token.revoked_at is None else _when(token.revoked_at)
        table.add_row(
            token.token_id,
            token.name,
            token.role.value,
            _when(token.created_at),
            token.created_by,
            revoked,
        )
    for configured in site.api.tokens:
        table.add_row("(config)", configured.name, configured.role.value, "", "", "")
    out.print(table)


@tokens_app.command("revoke")
def revoke(
    config: ConfigOption,
    token: Annotated[str, typer.Argument(help="Token id or name.")],
) -> None:
    """Revoke a stored token (takes effect on the next request)."""
    from sitewatch.api.tokens import TokenError, TokenStore

    site = load_site(config)
    ledger = open_ledger(site)
    try:
        revoked = TokenStore(ledger).revoke(token, cli_actor(), time.time())
    except TokenError as error:
        err.print(f"sitewatch token revoke: {error}", markup=False)
        raise typer.Exit(2) from None
    finally:
        ledger.close()
    out.print(f"revoked token {revoked.token_id} of {revoked.name}")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")


def register(app: typer.Typer) -> None:
    """Add the commands to the CLI."""
    app.add_typer(tokens_app, name="token")
