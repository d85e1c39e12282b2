"""``sitewatch hub``: registered on the main command line by ``register(app)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``hub`` command to the ``sitewatch`` CLI."""
    app.command("hub")(hub)


def hub(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Hub configuration (hub.yaml).")
    ] = Path("hub.yaml"),
    client_id: Annotated[
        str | None,
        typer.Option(help="This process's MQTT client id (overrides mqtt.client_id)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="API port (overrides api.port).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate hub.yaml and exit.")] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR.")] = "INFO",
) -> None:
    """The fleet hub: every site's events into PostgreSQL (MQTT 5 shared subscription), gaps
    filled from the edges, evidence fetched and checked, cases worked from the centre."""
    import logging

    from core.config_files import ConfigError
    from hub.config_loader import load_hub_config

    try:
        loaded = load_hub_config(config)
    except ConfigError as error:
        err.print(f"[bold red]{config}: {len(error.problems)} problem(s)[/]")
        for problem in error.problems:
            err.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    if client_id is not None or port is not None:
        mqtt = loaded.mqtt.model_copy(update={"client_id": client_id or loaded.mqtt.client_id})
        api = loaded.api.model_copy(update={"port": loaded.api.port if port is None else port})
        loaded = loaded.model_copy(update={"mqtt": mqtt, "api": api})
    if check:
        out.print(
            f"[green]✓[/] {config} is valid — {loaded.street_office.name}: {len(loaded.grids)}"
            f" grid(s), {len(loaded.sites)} site(s), {len(loaded.people)} people"
        )
        return
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import psycopg

    from hub.service import run

    try:
        code = run(loaded)
    except (psycopg.Error, OSError) as error:
        err.print(f"sitewatch hub: cannot start: {error}", markup=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
