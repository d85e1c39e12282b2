"""Zones saved in the console reach the rules without a restart: the analysis loop's refresh
rebuilds a camera's rules when its zone version moves, keeps its schedule and last detections,
and the next exit check runs on the new zone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alerts.ledger import Ledger
from detect.exit_compare import Gray, to_gray
from sitewatch.config.camera import Camera
from sitewatch.config.site import SiteConfig
from sitewatch.pipeline import CameraWork, Tick, analyse
from sitewatch.rule_setup import camera_work
from sitewatch.zone_editor import ZoneEditor, ZoneRefresh

EXIT_1 = {"name": "exit-1", "kind": "exit", "points": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.9]]}
EXIT_2 = {"name": "exit-2", "kind": "exit", "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.9]]}
IMAGE = np.full((90, 160, 3), 100, np.uint8)


def setup(tmp: Path) -> tuple[SiteConfig, ZoneEditor, ZoneRefresh]:
    config = SiteConfig.model_validate(
        {
            "site": {"id": "plant-a"},
            "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:9/d", "zones": [EXIT_1]}],
            "storage": {"data_dir": str(tmp)},
        }
    )
    editor = ZoneEditor(config, Ledger(tmp / "ledger.sqlite3"))

    def build(camera: Camera, old: CameraWork) -> CameraWork:
        return camera_work(config, camera, False, old.reader)

    return config, editor, ZoneRefresh(editor, build, lambda _camera: {"exit-1"})


def reference(_work: CameraWork, image: np.ndarray, _time: float) -> Gray:
    return to_gray(image)


def test_the_next_exit_check_runs_on_a_zone_saved_meanwhile(tmp_path: Path) -> None:
    config, editor, refresh = setup(tmp_path)
    work = camera_work(config, config.camera("dock"), False)
    analyse(work, IMAGE, 0.0, 1.0, Tick.NOT_DUE, None, reference)
    assert refresh(work) is work  # nothing saved: the same work, its states untouched
    work.last_index, work.next_exit_due = 41, 5.0
    editor.save("dock", 0, [EXIT_1, EXIT_2], "admin")
    fresh = refresh(work)
    assert fresh is not work and fresh.zones_version == 1
    assert [w.zone.name for w in fresh.rules.exit_watches] == ["exit-1", "exit-2"]
    assert (fresh.last_index, fresh.next_exit_due) == (41, 5.0)  # the schedule goes on
    assert fresh.rules.exit_watches[0].state.phase.value == "blocked"  # its alert is open
    assert refresh(fresh) is fresh
    analyse(fresh, IMAGE, 6.0, 7.0, Tick.NOT_DUE, None, reference)
    assert fresh.rules.exit_watches[1].last_reason == "compared"  # the new zone was checked
