"""HTTP API (FastAPI): one router per resource under ``sitewatch/api/routes``."""

from sitewatch.api.app import create_app

__all__ = ["create_app"]
