"""``python -m sitewatch``."""

from sitewatch.cli import app

app()
