"""``sitewatch token create|list|revoke``: API tokens stored hashed in the ledger."""

from __future__ import annotations

import getpass
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alerts.ledger import Ledger, LedgerError
from sitewatch.config.api import Role
from sitewatch.config.site import SiteConfig

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
tokens_app = typer.Typer(help="API tokens (stored hashed; the secret is shown once).")
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Site configuration (YAML).", show_default=False)
]


def open_ledger(config: SiteConfig) -> Ledger:
    """The site's ledger, or exit 1 with the reason."""
    try:
        return Ledger(config.storage.data_dir / "ledger.sqlite3")
    except (LedgerError, OSError) as error:
        err.print(f"sitewatch: cannot open the ledger: {error}", markup=False)
        raise typer.Exit(1) from None


def cli_actor() -> str:
    """Who runs the command (for the audit trail)."""
    return f"{getpass.getuser()} (cli)"


def load_site(path: Path) -> SiteConfig:
    """The site configuration, or exit 2 with every problem."""
    from sitewatch.cli import load_or_exit

    return load_or_exit(path)


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
