"""What every command shares: the consoles, the ``--config`` option, loading the site
configuration and opening its ledger (each exits with the reason when it cannot)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alerts.ledger import Ledger, LedgerError
from core.config_files import ConfigError
from detect.model_probe import describe_model
from sitewatch.config.loader import load_config
from sitewatch.config.site import SiteConfig

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Site configuration (YAML).", show_default=False)
]


def load_site(path: Path) -> SiteConfig:
    """The site configuration, or print every problem and exit 2."""
    try:
        return load_config(path, read_model=describe_model)
    except ConfigError as error:
        err.print(f"[bold red]{path}: {len(error.problems)} problem(s)[/]")
        for problem in error.problems:
            err.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None


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
