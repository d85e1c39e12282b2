"""Stream URLs without their secrets."""

from __future__ import annotations

import re

CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")


def redact_url(text: str) -> str:
    """Replace ``user:password@`` in every URL inside ``text`` with ``***:***@``."""
    return CREDENTIALS.sub(lambda match: f"{match['scheme']}***:***@", text)
