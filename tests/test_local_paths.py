"""Local paths wherever the command is started: a camera ``url`` that is a file path (resolved
against the config file, as the README says), and `sitewatch detect` finding its default model
from the installed package rather than from the working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from core.config_files import ConfigError
from sitewatch.cli import models as model_commands
from sitewatch.cli.app import app
from sitewatch.config.loader import load_config
from tests.yolo_files import MODEL, write_image

SITEWATCH = [sys.executable, "-m", "sitewatch"]


def write_site(folder: Path, cameras: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "site.yaml"
    site = {"site": {"id": "plant-a", "name": "Plant A"}, "cameras": cameras}
    config.write_text(yaml.safe_dump({**site, "storage": {"data_dir": "data"}}))
    return config


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SITEWATCH, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_camera_url_may_be_a_path_relative_to_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "sites" / "plant-a"
    clip = folder / "clips" / "dock.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"\0" * 64)  # the loader checks that it exists; the reader opens it
    (folder / "main.mp4").write_bytes(b"\0" * 64)
    config = write_site(
        folder,
        [
            {"name": "dock", "url": "clips/dock.mp4", "record_url": "file://main.mp4"},
            {"name": "yard", "url": str(clip)},
        ],
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    checked = run_cli("check-config", str(config), cwd=elsewhere)

    assert checked.returncode == 0, checked.stderr
    assert "is valid" in checked.stdout
    loaded = load_config(config)
    assert loaded.cameras[0].url == str(clip)
    assert loaded.cameras[0].record_url == f"file://{folder / 'main.mp4'}"
    assert loaded.cameras[1].url == str(clip)


def test_a_missing_camera_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    config = write_site(
        folder,
        [
            {"name": "dock", "url": "clips/absent.mp4"},
            {"name": "spare", "url": "clips/gone.mp4", "enabled": False},  # not checked
        ],
    )

    checked = run_cli("check-config", str(config), cwd=tmp_path)

    assert checked.returncode == 2
    assert f"cameras[0].url: file not found: {folder / 'clips' / 'absent.mp4'}" in checked.stderr
    assert "cameras[1]" not in checked.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtsp:/10.0.0.5/stream", "or be a file path"),
        ("ftp://10.0.0.5/x.mp4", "or be a file path"),
        ("", "at least 1 character"),
    ],
)
def test_a_url_with_an_unknown_scheme_is_refused(tmp_path: Path, url: str, message: str) -> None:
    config = write_site(tmp_path, [{"name": "dock", "url": url}])
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    [problem] = caught.value.problems
    assert problem.path == "cameras[0].url" and message in problem.message


@pytest.mark.skipif(not MODEL.is_file(), reason=f"no model at {MODEL}")
def test_detect_finds_its_default_model_from_any_folder(tmp_path: Path) -> None:
    picture = write_image(tmp_path / "in" / "yard.png", 160, 120)
    out = tmp_path / "out"

    detected = run_cli("detect", str(picture), "--out", str(out), "--threads", "1", cwd=tmp_path)

    assert detected.returncode == 0, detected.stderr
    assert [r["annotated"] for r in json.loads((out / "detections.json").read_text())] == [
        "yard.png"
    ]


def test_detect_without_a_default_model_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "models" / "hazards.onnx"
    monkeypatch.setattr(model_commands, "DEFAULT_MODEL", missing)
    picture = write_image(tmp_path / "yard.png")

    result = CliRunner().invoke(app, ["detect", str(picture), "--out", str(tmp_path / "out")])

    assert result.exit_code == 2
    assert f"no default model at {missing}" in result.stderr
    assert "pass --model PATH" in result.stderr
