"""HTTP API (FastAPI): one router per resource under ``sitewatch/api/routes``."""

from sitewatch.api.app import api_server, create_app

__all__ = ["api_server", "create_app"]
