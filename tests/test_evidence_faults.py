"""Evidence through faults, on the real thing: ``sitewatch run`` killed with SIGKILL while a clip
records (the clip is recovered, announced and continued), a full data directory (a small tmpfs:
the alert is stored and published first, the evidence follows when space returns), and a swapped
evidence file caught against the digest the audit trail holds."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import pytest
import yaml

from alerts.clip_recorder import ClipRecorder, ClipSettings
from alerts.contract import Topics
from alerts.disk_space import DiskGuard
from alerts.evidence_retry import EvidenceRetry
from alerts.integrity import verify_ledger
from alerts.ledger import Ledger
from alerts.model import EvidenceKind
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from ingest.camera_reader import CameraReader, ReaderSettings
from sitewatch.demo.scene import EXIT_ZONE, SceneSpec, render_scene
from tests.api_site import T0, make_site, serve, token_of
from tests.media import h264_clip
from tests.servers import BrokerInfo, free_port, mosquitto, rtsp_server
from tests.test_end_to_end import Inbox, subscribe

pytestmark = pytest.mark.integration
SPEC = SceneSpec(width=640, height=360, fps=10, duration_s=30.0, obstacle_at_s=2.0, seed=3)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fault-media")
    render_scene(directory / "scene.mp4", SPEC)
    return directory


def write_config(
    tmp_path: Path, url: str, broker: BrokerInfo, api_port: int, **storage: float
) -> Path:
    config = {
        "site": {"id": "faults", "name": "Fault injection"},
        "cameras": [
            {
                "name": "aisle",
                "url": url,
                "detect_fps": 2,
                "zones": [{"name": "fire-exit", "kind": "exit", "points": list(EXIT_ZONE)}],
            }
        ],
        "rules": {"blocked_exit": {"check_interval_s": 0.5, "dwell_s": 2, "clear_s": 4}},
        "clips": {"pre_roll_s": 2, "post_roll_s": 2, "max_clip_s": 10},
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "sitewatch"},
        "storage": {"data_dir": str(tmp_path / "data"), **storage},
        "api": {"host": "127.0.0.1", "port": api_port},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sitewatch", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def events_of(inbox: Inbox, kind: str, alert_id: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = inbox.of_type(kind)
    return [e for e in found if alert_id is None or e["after"]["alert_id"] == alert_id]


def partials(folder: Path, pattern: str = ".clip*.partial") -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def decoded_frames(path: Path) -> tuple[int, int]:
    """(frames decoded to the end, video packets in the file)."""
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    return frames, packets


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def missing_count(base: str) -> int:
    """``evidence_missing`` of /api/health."""
    return int(get_json(f"{base}/api/health")["evidence_missing"])


def expected_rows(ledger: Path) -> list[tuple[str, str, int, str, str, float | None]]:
    with sqlite3.connect(f"{ledger.as_uri()}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT alert_id, kind, part, status, reason, resolved_at FROM evidence_expected"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_kill_9_while_recording_recovers_the_clip_and_the_incident_goes_on(
    tmp_path: Path, media: Path
) -> None:
    log = tmp_path / "sitewatch.log"
    data = tmp_path / "data"
    with mosquitto(tmp_path / "mq") as broker, rtsp_server(media) as rtsp:
        client, inbox = subscribe(broker, "sitewatch/faults/#")
        config = write_config(tmp_path, rtsp.url("scene.mp4"), broker, free_port())
        first = start(config, log)
        try:
            assert inbox.wait_for(lambda: events_of(inbox, "new"), 60), log.read_text()
            alert_id = events_of(inbox, "new")[0]["after"]["alert_id"]
            folder = data / "evidence" / alert_id
            assert wait_until(lambda: partials(folder), 20), log.read_text()
            time.sleep(3.0)  # a few fragments recorded
        finally:
            first.kill()  # SIGKILL mid-clip
            first.wait()
        (left,) = partials(folder)
        assert left.stat().st_size > 10_000
        assert not events_of(inbox, "clip_ready")
        orphan = data / "evidence" / "01JORPHAN00000000000000000"
        orphan.mkdir()
        (orphan / "snapshot.jpg").write_bytes(b"no row refers to this")
        (folder / ".snapshot.jpg.tmp").write_bytes(b"half written")

        second = start(config, log)
        try:
            recovered = inbox.wait_for(lambda: events_of(inbox, "clip_ready", alert_id), 30)
            assert recovered, log.read_text()
            # The incident is still open: the new run records its next part.
            assert wait_until(lambda: partials(folder, ".clip-2.mp4.*.partial"), 30), (
                log.read_text()
            )
        finally:
            stop(second)
        client.loop_stop()

    (event,) = events_of(inbox, "clip_ready", alert_id)[:1]
    clip = event["after"]["clip"]
    assert clip["part"] == 1 and event["after"]["active"]
    path = folder / "clip.mp4"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == clip["sha256"]
    frames, packets = decoded_frames(path)
    assert frames == packets >= 20  # 2 s and more at 10 fps, decoded to the last frame
    assert not orphan.exists() and not (folder / ".snapshot.jpg.tmp").exists()
    assert not partials(folder, ".clip.mp4.*.partial")
    rows = expected_rows(data / "ledger.sqlite3")
    parts = {part: resolved for a, kind, part, _, _, resolved in rows if kind == "clip"}
    assert parts.get(1) is not None, rows  # the recovered part met its expectation
    assert 2 in parts, rows  # and the open incident records a new part
    assert "recovered clip" in log.read_text()


@contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave_bytes: int) -> Path:
    """A file that leaves ``leave_bytes`` free on ``path``'s filesystem."""
    filler = path / "filler.bin"
    size = shutil.disk_usage(path).free - leave_bytes
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    return filler


def test_full_disk_stores_and_publishes_the_alert_and_writes_evidence_when_space_returns(
    tmp_path: Path, media: Path
) -> None:
    log = tmp_path / "sitewatch.log"
    api_port = free_port()
    with small_tmpfs(tmp_path / "data", "40m") as data:
        fill(data, 3_000_000)  # 3 MB free, under the 8 MB evidence floor
        with mosquitto(tmp_path / "mq") as broker, rtsp_server(media) as rtsp:
            client, inbox = subscribe(broker, "sitewatch/faults/#")
            url = rtsp.url("scene.mp4")
            config = write_config(tmp_path, url, broker, api_port, min_free_mb=8, reserve_mb=2)
            process = start(config, log)
            base = f"http://127.0.0.1:{api_port}"
            try:
                assert inbox.wait_for(lambda: events_of(inbox, "new"), 60), log.read_text()
                new = events_of(inbox, "new")[0]
                alert_id = new["after"]["alert_id"]
                assert new["after"]["snapshot"] is None  # stored and published without it
                # both snapshots at once, the clip at the camera's next keyframe
                assert wait_until(lambda: missing_count(base) >= 3, 15), log.read_text()
                health = get_json(f"{base}/api/health")
                metrics = get_text(f"{base}/metrics")
                rows = expected_rows(data / "ledger.sqlite3")

                (data / "filler.bin").unlink()  # space returns
                written = inbox.wait_for(
                    lambda: [
                        e for e in events_of(inbox, "update", alert_id) if e["after"]["snapshot"]
                    ],
                    20,
                )
                assert written, log.read_text()
                clip = inbox.wait_for(lambda: events_of(inbox, "clip_ready", alert_id), 40)
                assert clip, log.read_text()
                assert wait_until(
                    lambda: get_json(f"{base}/api/health")["evidence_missing"] == 0, 10
                ), get_json(f"{base}/api/health")
                after = get_json(f"{base}/api/health")
            finally:
                stop(process)
                client.loop_stop()
        late = next(e for e in events_of(inbox, "update", alert_id) if e["after"]["snapshot"])
        snapshot_path = data / "evidence" / alert_id / "snapshot.jpg"
        assert (
            hashlib.sha256(snapshot_path.read_bytes()).hexdigest()
            == (late["after"]["snapshot"]["sha256"])
        )
        clip_path = data / "evidence" / alert_id / "clip.mp4"
        assert decoded_frames(clip_path)[0] > 10
        final_rows = expected_rows(data / "ledger.sqlite3")

    assert health["disk_full"] is True and health["evidence_missing"] == 3, health
    assert health["data_dir_free_bytes"] < 8_000_000
    missing = {
        (kind, part): reason for a, kind, part, status, reason, _ in rows if status == "missing"
    }
    assert ("snapshot", 1) in missing and ("clip", 1) in missing, rows
    assert (
        missing[("snapshot", 1)].startswith("disk full: ")
        and f"MB free in {data}" in (missing[("snapshot", 1)])
    )
    assert "sitewatch_evidence_missing 3" in metrics.splitlines()
    assert "sitewatch_data_dir_free_bytes" in metrics
    assert "disk full: " in log.read_text() and f"MB free in {data}" in log.read_text()
    assert after["disk_full"] is False and after["evidence_reserve_bytes"] == 2_000_000
    assert all(resolved is not None for *_, resolved in final_rows), final_rows


def test_a_swapped_snapshot_with_its_table_digest_edited_fails_every_check(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path)
    swapped = b"\xff\xd8 not the picture that was taken"
    target = tmp_path / "evidence" / site.ended_id / "snapshot.jpg"
    target.write_bytes(swapped)
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:  # the forger edits the table too
        db.execute(
            "UPDATE evidence SET sha256 = ? WHERE alert_id = ? AND kind = 'snapshot'",
            (hashlib.sha256(swapped).hexdigest(), site.ended_id),
        )
    named = f"{site.ended_id}/snapshot.jpg"
    with serve(site.app) as base:
        request = urllib.request.Request(
            f"{base}/api/audit/verify?evidence=true",
            headers={"Authorization": f"Bearer {token_of('auditor')}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            report = json.loads(response.read())
        dossier_request = urllib.request.Request(
            f"{base}/api/alerts/{site.ended_id}/dossier",
            headers={"Authorization": f"Bearer {token_of('auditor')}"},
        )
        with urllib.request.urlopen(dossier_request, timeout=5) as response:
            (tmp_path / "case.zip").write_bytes(response.read())
    assert not report["ok"]
    assert any(p.startswith(named) and "audit trail" in p for p in report["evidence_problems"])

    config = tmp_path / "site.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "plant-a", "name": "Plant A"},
                "storage": {"data_dir": str(tmp_path)},
                "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:1/x"}],
            }
        )
    )
    cli = [sys.executable, "-m", "sitewatch", "audit"]
    verify = subprocess.run(
        [*cli, "verify", "--config", str(config), "--evidence"], capture_output=True, check=False
    )
    assert verify.returncode == 1
    assert named in verify.stderr.decode() and "audit trail" in verify.stderr.decode()
    checked = subprocess.run(
        [*cli, "check-dossier", str(tmp_path / "case.zip")], capture_output=True, check=False
    )
    assert checked.returncode == 1
    assert "evidence snapshot.jpg differs from the SHA-256 recorded in the audit trail" in (
        checked.stderr.decode()
    )


class OneClip:
    """A clip sink that starts part 1 and never finishes it (the process died)."""

    def begin(self, alert_id: str, camera: str, started_at: float, first_part: int = 1) -> int:
        return first_part

    def end(self, alert_id: str, ended_at: float) -> None:
        return None


def test_verify_flags_an_alert_whose_clip_never_came(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    assert verify_ledger(site.ledger, tmp_path, evidence=True).ok
    site.alerts.clips = OneClip()
    change = site.alerts.handle(
        Observation("dock", "bay-9", Hazard.FLAME, Phase.START, T0 + 50, 0.9), None
    )
    assert change is not None
    report = verify_ledger(site.ledger, tmp_path, evidence=True)
    assert not report.ok
    assert report.evidence_problems == (
        f"{change.after.alert_id}/clip part 1: clip is missing: its recording started but "
        "never finished",
    )
    assert site.ledger.alert(change.after.alert_id) is not None
    assert EvidenceKind.CLIP not in {e.kind for e in change.after.evidence}


def recording(
    ledger: Ledger, data: Path, disk: DiskGuard, source: Path
) -> tuple[AlertService, CameraReader, ClipRecorder, threading.Event]:
    """An alert service whose clips a real recorder writes into ``data`` from a file camera
    (``cam``, 3 s of packets kept); start the reader and the recorder yourself."""
    service = AlertService(ledger, Topics("sw", "t"), data, "http://h", {}, disk=disk)
    stop = threading.Event()
    reader = CameraReader(ReaderSettings("cam", str(source), buffer_seconds=3.0), stop)
    assert reader.ring is not None
    recorder = ClipRecorder(
        data, {"cam": reader.ring}, ClipSettings(1.0, 1.0), service.clip_ready, stop, disk,
        service.clip_missing,
    )  # fmt: skip
    service.clips = recorder
    return service, reader, recorder, stop


def test_a_clip_cut_short_by_a_full_disk_is_finished_when_space_returns(tmp_path: Path) -> None:
    """ENOSPC in the middle of a recording: the part is recorded missing with the reason, the
    recording kept; once space returns the retry finishes and records it."""
    source = h264_clip(tmp_path, seconds=6.0)
    with small_tmpfs(tmp_path / "data", "2m") as data:
        ledger = Ledger(tmp_path / "ledger.sqlite3")  # the ledger lives elsewhere here
        disk = DiskGuard(data, floor_bytes=0, reserve_bytes=0)
        service, reader, recorder, stop = recording(ledger, data, disk, source)
        retry = EvidenceRetry(
            disk, ledger, service.retry_missing, service.clip_ready, service.clip_missing,
            recorder.stranded, stop,
        )  # fmt: skip
        reader.start()
        recorder.start()
        try:
            assert wait_until(lambda: reader.ring is not None and reader.ring.snapshot(), 20)
            fill(data, 60_000)  # room for about two seconds of this video
            change = service.handle(
                Observation("cam", "z", Hazard.FLAME, Phase.START, time.time(), 0.9), None
            )
            assert change is not None
            alert_id = change.after.alert_id
            assert wait_until(recorder.stranded, 20)
            rows = ledger.expected_evidence(alert_id)
            (data / "filler.bin").unlink()
            retry.retry_once()
            alert = ledger.alert(alert_id)
        finally:
            stop.set()
            recorder.join(10)
            reader.join(10)
            ledger.close()
        assert alert is not None
        clips = [e for e in alert.evidence if e.kind is EvidenceKind.CLIP]
        first = next(e for e in clips if e.part == 1)
        frames, packets = decoded_frames(data / first.path)
        assert frames == packets > 10
        assert not partials(data / "evidence" / alert_id, ".clip.mp4.*.partial")
    (missing,) = [r for r in rows if r.part == 1]
    assert missing.status.value == "missing" and missing.reason.startswith("disk full: ")
    assert "while recording clip part 1" in missing.reason


def has_clip(ledger: Ledger, alert_id: str) -> bool:
    alert = ledger.alert(alert_id)
    return alert is not None and any(e.kind is EvidenceKind.CLIP for e in alert.evidence)


def test_an_incident_wholly_on_a_full_disk_gets_its_clip_when_space_returns(
    tmp_path: Path,
) -> None:
    """The disk is full from before the incident until after its post-roll: the clip's packets
    are held in memory and written once space returns (before, they were dropped: no clip)."""
    source = h264_clip(tmp_path, seconds=6.0)
    with small_tmpfs(tmp_path / "data", "4m") as data:
        ledger = Ledger(tmp_path / "ledger.sqlite3")
        disk = DiskGuard(data, floor_bytes=1 << 20, reserve_bytes=0)
        service, reader, recorder, stop = recording(ledger, data, disk, source)
        reader.start()
        recorder.start()
        try:
            assert wait_until(lambda: reader.ring is not None and reader.ring.snapshot(), 20)
            filler = fill(data, 64_000)  # under the 1 MB floor: no evidence may be written
            started = time.time()
            change = service.handle(
                Observation("cam", "z", Hazard.FLAME, Phase.START, started, 0.9), None
            )
            assert change is not None
            alert_id = change.after.alert_id
            time.sleep(2.0)
            service.handle(Observation("cam", "z", Hazard.FLAME, Phase.END, time.time(), 0.0), None)
            time.sleep(1.0 + 3.5)  # past the post-roll and the finishing grace
            during = ledger.alert(alert_id)
            rows = ledger.expected_evidence(alert_id)
            filler.unlink()
            assert wait_until(lambda: has_clip(ledger, alert_id), 20)
            alert = ledger.alert(alert_id)
        finally:
            stop.set()
            recorder.join(10)
            reader.join(10)
            ledger.close()
    assert during is not None
    assert not [e for e in during.evidence if e.kind is EvidenceKind.CLIP]
    (waiting,) = [r for r in rows if r.kind is EvidenceKind.CLIP and r.part == 1]
    assert "waits for space" in waiting.reason
    assert alert is not None
    (clip,) = [e for e in alert.evidence if e.kind is EvidenceKind.CLIP]
    assert clip.covers is not None
    assert clip.covers[0] <= started and clip.covers[1] >= started + 2.0  # the whole incident
