"""``sitewatch replay`` on generated scenes: the exit rule through the live code path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sitewatch.cli.app import app
from sitewatch.demo.scene import EXIT_ZONE, OBSTACLE_SLIDE_S, SceneSpec, render_scene

ROOT = Path(__file__).resolve().parents[1]
SCENE = SceneSpec(width=640, height=360, fps=10, duration_s=24.0, obstacle_at_s=4.0)
DWELL_S = 8.0


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_scene(tmp_path_factory.mktemp("replay") / "aisle.mp4", SCENE)


def write_config(tmp_path: Path, cameras: list[str], model: bool = False) -> Path:
    config: dict[str, Any] = {
        "site": {"id": "plant"},
        "cameras": [
            {
                "name": name,
                "url": "rtsp://127.0.0.1:9/none",
                "detect_fps": 2,
                "zones": [
                    {"name": "fire-exit", "kind": "exit", "points": [list(p) for p in EXIT_ZONE]}
                ],
            }
            for name in cameras
        ],
        "rules": {"blocked_exit": {"check_interval_s": 0.5, "dwell_s": DWELL_S, "clear_s": 3}},
        "storage": {"data_dir": str(tmp_path / "data")},
    }
    if model:
        config["models"] = [{"name": "hazards", "path": str(ROOT / "models" / "hazards.onnx")}]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("with_model", [False, True], ids=["comparison only", "with detector"])
def test_replay_finds_the_blocked_exit_at_the_right_video_time(
    scene: Path, tmp_path: Path, with_model: bool
) -> None:
    config = write_config(tmp_path, ["aisle"], model=with_model)
    result = CliRunner().invoke(app, ["replay", str(scene), "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    exits = [i for i in report["incidents"] if i["hazard"] == "blocked_exit"]
    assert len(exits) == 1, report["incidents"]
    blocked_from = SCENE.obstacle_at_s + OBSTACLE_SLIDE_S
    assert blocked_from + DWELL_S - 1.5 <= exits[0]["start_s"] <= blocked_from + DWELL_S + 1.5
    assert exits[0]["zone"] == "fire-exit" and exits[0]["end_s"] is None  # still blocked at the end
    assert report["duration_s"] == pytest.approx(SCENE.duration_s, abs=0.2)
    assert report["sampled"] == pytest.approx(SCENE.duration_s * 2, abs=2)
    if with_model:
        assert report["inferred"] + report["gated"] == pytest.approx(SCENE.duration_s * 2, abs=2)
        assert report["inferred"] > 0
    else:
        assert report["inferred"] == 0


def test_replay_prints_a_table(scene: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["aisle"])
    result = CliRunner().invoke(app, ["replay", str(scene), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "blocked_exit" in result.stdout and "fire-exit" in result.stdout
    assert "24.0 s of video" in result.stdout


@pytest.mark.parametrize(
    ("cameras", "arguments", "message"),
    [
        (["a", "b"], [], "the site has 2 cameras (a, b): pick one"),
        (["a"], ["--camera", "gate"], "no camera named 'gate'"),
        (["a"], ["--reference", "/nonexistent.png"], "cannot read the reference picture"),
    ],
)
def test_replay_refuses_with_a_reason(
    scene: Path, tmp_path: Path, cameras: list[str], arguments: list[str], message: str
) -> None:
    config = write_config(tmp_path, cameras)
    result = CliRunner().invoke(app, ["replay", str(scene), "-c", str(config), *arguments])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), (b"this is not a video\n", "no frame decoded")],
)
def test_replay_names_a_bad_video(tmp_path: Path, content: bytes | None, message: str) -> None:
    config = write_config(tmp_path, ["a"])
    video = tmp_path / "clip.mp4"
    if content is not None:
        video.write_bytes(content)
    result = CliRunner().invoke(app, ["replay", str(video), "-c", str(config)])
    assert result.exit_code == 2
    assert "clip.mp4" in result.output and message in result.output
