"""``python -m sitewatch``."""

from sitewatch.cli.app import app

app()
