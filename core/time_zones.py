"""IANA time zone names as configuration values (a site's zone: every time the consoles show
is in it)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def known_time_zone(zone: str) -> str:
    """``zone`` if the system knows it, else ValueError naming it (and the spelling meant)."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        near = sorted(z for z in available_timezones() if z.lower() == zone.lower())
        hint = f" (did you mean '{near[0]}'?)" if near else " (e.g. Asia/Shanghai, UTC)"
        raise ValueError(f"unknown time zone '{zone}'{hint}") from None
    return zone
