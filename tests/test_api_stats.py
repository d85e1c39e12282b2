"""``GET /api/stats/daily``: alerts per hazard per day, counted by the ledger in SQL, with the
day boundary at the caller's UTC offset."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from tests.api_site import Site, bearer, make_site


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def start(site: Site, camera: str, zone: str, hazard: Hazard, when: str) -> None:
    site.alerts.handle(Observation(camera, zone, hazard, Phase.START, at(when), 0.8), None)
    site.alerts.handle(Observation(camera, zone, hazard, Phase.END, at(when) + 5, 0.8), None)


def daily(site: Site, **params: Any) -> dict[str, Any]:
    response = site.client.get("/api/stats/daily", params=params, headers=bearer("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """make_site's two alerts (2027-01-15 08:00 UTC) and four more."""
    site = make_site(tmp_path)
    start(site, "yard", "bay", Hazard.FLAME, "2026-12-01T13:00:00")  # outside 14 days
    start(site, "yard", "gate", Hazard.MISSING_HARDHAT, "2027-01-10T12:00:00")
    start(site, "yard", "bay", Hazard.FLAME, "2027-01-10T13:00:00")
    start(site, "yard", "gate", Hazard.MISSING_HARDHAT, "2027-01-14T23:30:00")
    return site


def test_counts_per_hazard_per_day(site: Site) -> None:
    stats = daily(site, days=14, until="2027-01-15")
    assert stats["days"][0] == "2027-01-02" and stats["days"][-1] == "2027-01-15"
    assert len(stats["days"]) == 14
    assert stats["hazards"] == ["blocked_exit", "flame", "missing_hardhat"]
    nonzero = {
        (stats["days"][i], hazard, n)
        for hazard, series in stats["counts"].items()
        for i, n in enumerate(series)
        if n
    }
    assert nonzero == {
        ("2027-01-15", "blocked_exit", 1),
        ("2027-01-15", "flame", 1),
        ("2027-01-14", "missing_hardhat", 1),
        ("2027-01-10", "missing_hardhat", 1),
        ("2027-01-10", "flame", 1),
    }
    assert stats["total"] == 5


@pytest.mark.parametrize(
    ("offset_min", "day_of_late_alert"),
    [(0, "2027-01-14"), (60, "2027-01-15"), (-60, "2027-01-14")],
)
def test_days_begin_at_the_callers_offset(
    site: Site, offset_min: int, day_of_late_alert: str
) -> None:
    stats = daily(site, days=3, until="2027-01-15", utc_offset_min=offset_min)
    series = stats["counts"]["missing_hardhat"]
    assert series[stats["days"].index(day_of_late_alert)] == 1 and sum(series) == 1


def test_a_window_without_alerts_is_all_zeros(site: Site) -> None:
    stats = daily(site, days=2, until="2020-05-02")
    assert stats["days"] == ["2020-05-01", "2020-05-02"] and stats["total"] == 0
    assert all(series == [0, 0] for series in stats["counts"].values())


def test_the_default_window_ends_today(site: Site) -> None:
    stats = daily(site)
    assert len(stats["days"]) == 14
    assert stats["days"][-1] == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"days": 0}, "greater than or equal to 1"),
        ({"days": 367}, "less than or equal to 366"),
        ({"utc_offset_min": 841}, "less than or equal to 840"),
        ({"until": "yesterday"}, "valid date"),
        ({"until": "0001-01-02", "days": 14}, "cannot count 14 days up to 0001-01-02"),
        ({"until": "9999-12-31"}, "cannot count 14 days up to 9999-12-31"),
    ],
)
def test_bad_windows_are_refused(site: Site, params: dict[str, Any], reason: str) -> None:
    response = site.client.get("/api/stats/daily", params=params, headers=bearer("viewer"))
    assert response.status_code == 422
    assert reason in response.text
