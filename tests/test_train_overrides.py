"""``sitewatch train --set KEY=VALUE``: typed overrides, and refusals naming the bad item.

Runs without torch: the overrides are checked before ultralytics is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lab.training import TrainingError, parse_overrides
from sitewatch.cli.app import app


def test_values_are_typed() -> None:
    assert parse_overrides(
        ["warmup_epochs=0.5", "close_mosaic=3", "cos_lr=true", "optimizer=AdamW", " lr0 = 0.001"]
    ) == {
        "warmup_epochs": 0.5,
        "close_mosaic": 3,
        "cos_lr": True,
        "optimizer": "AdamW",
        "lr0": 0.001,
    }
    assert parse_overrides([]) == {}


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("warmup_epochs", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("close_mosaic=", "expected KEY=VALUE"),
        ("close-mosaic=3", "is not an argument name"),
        ("imgsz=640", "imgsz has its own option"),
        ("data=other.yaml", "data has its own option"),
        ("mosaic=[1, 2]", "must be a number, boolean or word"),
    ],
)
def test_bad_items_are_refused_by_name(item: str, reason: str) -> None:
    with pytest.raises(TrainingError, match=reason) as caught:
        parse_overrides(["cos_lr=true", item])
    assert repr(item) in str(caught.value)


def test_cli_refuses_a_bad_override_before_training(tmp_path: Path) -> None:
    data = tmp_path / "data.yaml"
    data.write_text("train: images\nval: images\nnames: {0: fire}\n")
    weights = tmp_path / "start.pt"
    weights.write_bytes(b"not read")
    result = CliRunner().invoke(
        app, ["train", "--data", str(data), "--weights", str(weights), "--set", "epochs=5"]
    )
    assert result.exit_code == 2
    assert "--set 'epochs=5': epochs has its own option" in result.output
