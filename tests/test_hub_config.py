"""hub.yaml validation: every mistake named by its YAML path (table of cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config_files import ConfigError
from hub.config_loader import load_hub_config

TOKEN = "x" * 16


def base() -> dict[str, Any]:
    return {
        "street_office": {"name": "Xinhua street office"},
        "database": {"dsn": "host=127.0.0.1 dbname=hub"},
        "sites": [
            {"id": "plant-a", "name": "A", "api_url": "http://10.0.0.1:8080", "token": "a" * 16},
            {"id": "plant-b", "name": "B", "api_url": "http://10.0.0.2:8080", "token": "b" * 16},
        ],
        "grids": [
            {"id": "north", "name": "North", "supervisor": "Li", "sites": ["plant-a", "plant-b"]}
        ],
        "people": [
            {"name": "Li", "role": "supervisor", "grid": "north", "token": "l" * 16},
            {"name": "Zhao", "role": "officer", "site": "plant-a", "token": "z" * 16},
            {"name": "Chen", "role": "street_office", "token": "c" * 16},
        ],
    }


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "config" / "hub.yaml"
    env = {
        "HUB_DB_PASSWORD": "pw",
        **{f"{n}_TOKEN": "t" * 20 for n in ("PLANT_A", "PLANT_B", "DEPOT_C")},
        **{
            f"{n}_TOKEN": f"{n.lower()}-token-0123456789"
            for n in ("CHEN", "LI", "WANG", "ZHAO", "SUN")
        },
    }
    config = load_hub_config(example, env)
    assert {s.id for s in config.sites} == {"plant-a", "plant-b", "depot-c"}


def test_a_valid_config_loads(tmp_path: Path) -> None:
    config = load_hub_config(write(tmp_path, base()))
    assert config.grid_of("plant-b") == "north"
    assert config.mqtt.share_group == "sitewatch-hub"


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = document
    for part in path[:-1]:
        target = target[part]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


DELETE = object()

CASES: list[tuple[str, tuple[Any, ...], Any, str, str]] = [
    # (case, where to change, new value, expected error path, words in the message)
    ("typo", ("mqtt",), {"hots": "x"}, "mqtt.hots", "unknown key"),
    ("site in no grid", ("grids", 0, "sites"), ["plant-a"], "sites[1].id", "in no grid"),
    (
        "unknown site in grid",
        ("grids", 0, "sites", 1),
        "plant-z",
        "grids[0].sites[1]",
        "unknown site",
    ),
    ("short edge token", ("sites", 0, "token"), "short", "sites[0].token", "at least 16"),
    ("bad site id", ("sites", 0, "id"), "Plant A", "sites[0].id", "pattern"),
    ("duplicate site", ("sites", 1, "id"), "plant-a", "sites[1].id", "duplicate id"),
    ("edge url", ("sites", 0, "api_url"), "ftp://x", "sites[0].api_url", "pattern"),
    (
        "site time zone",
        ("sites", 0, "timezone"),
        "asia/shanghai",
        "sites[0].timezone",
        "did you mean 'Asia/Shanghai'",
    ),
    (
        "supervisor not a supervisor",
        ("grids", 0, "supervisor"),
        "Zhao",
        "grids[0].supervisor",
        "role supervisor",
    ),
    ("officer without site", ("people", 1, "site"), DELETE, "people[1].site", "needs their site"),
    ("supervisor without grid", ("people", 0, "grid"), DELETE, "people[0].grid", "needs the grid"),
    ("officer of unknown site", ("people", 1, "site"), "plant-q", "people[1].site", "unknown site"),
    ("shared token", ("people", 2, "token"), "l" * 16, "people[2].token", "share this token"),
    ("missing database", ("database",), DELETE, "database", "required"),
    ("share group", ("mqtt",), {"share_group": "a/b"}, "mqtt.share_group", "pattern"),
    (
        "retries",
        ("evidence",),
        {"retry_min_s": 10, "retry_max_s": 1},
        "evidence.retry_max_s",
        "retry_min_s",
    ),
]


@pytest.mark.parametrize(
    ("case", "where", "value", "path", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_each_mistake_is_named_by_its_path(
    tmp_path: Path, case: str, where: tuple[Any, ...], value: Any, path: str, words: str
) -> None:
    document = base()
    _set(document, where, value)
    with pytest.raises(ConfigError) as caught:
        load_hub_config(write(tmp_path, document))
    problems = {p.path: p.message for p in caught.value.problems}
    assert path in problems, f"{case}: {problems}"
    assert words in problems[path], f"{case}: {problems[path]}"
    assert all(p.line is not None for p in caught.value.problems if p.path)


def test_unset_environment_variable_is_named(tmp_path: Path) -> None:
    document = base()
    document["sites"][0]["token"] = "${PLANT_A_TOKEN}"
    with pytest.raises(ConfigError) as caught:
        load_hub_config(write(tmp_path, document), env={})
    assert [str(p.path) for p in caught.value.problems] == ["sites[0].token"]
    assert "PLANT_A_TOKEN is not set" in caught.value.problems[0].message
