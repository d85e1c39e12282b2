"""Fault injection on the real ``sitewatch run``: kill -9 at random moments of an incident, a data
disk that fills and frees, broker outages; prints what each incident became (figures only).

    python -m bench.faults [--kills 4] [--disk-fills 2] [--outages 2] [--clean 1] [--seed 1]
                           [--json OUT] [--keep DIR]

The camera is the generated warehouse scene (``sitewatch.demo.scene``) served in a loop by the
demo RTSP server: every pass of ``LOOP_S`` seconds is one incident — the exit is clear for
``OBSTACLE_AT_S`` seconds, then a pallet blocks it until the pass ends. Each RTSP session starts
at the beginning of the file, so the passes of a session are known from the moment the camera
came online; they are the incidents *expected*. Every pass is a round with one fault, drawn in
a shuffled order:

- ``kill``: SIGKILL while the exit is blocked (6 to 14 s in, the alert is open and its clip
  recording), then start again at once;
- ``disk``: the data directory is a small tmpfs; a ballast file leaves a few KiB free from before
  the obstacle until after the clip would end, then it is deleted;
- ``outage``: mosquitto is stopped from just before the obstacle until after the pass;
- ``none``: nothing happens.

At the end it stops sitewatch (SIGTERM), waits for the outbox to drain, then reads the ledger and
the subscriber's inbox and prints per fault kind: incidents expected, alerted (a ``new`` event in
the pass), with a playable clip (decoded to its last frame), evidence missing, and the delivery
(events stored, delivered, duplicated) with ``sitewatch audit verify --evidence``. An incident
nobody alerted is explained by what the camera did meanwhile (``/api/cameras`` is polled every
second: state, frames, stale frames refused).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rich.progress import track

from alerts.ledger import Ledger
from alerts.model import EvidenceKind
from bench.alerts import Broker
from sitewatch.demo.rtsp import free_port, stop_process
from sitewatch.demo.scene import EXIT_ZONE, OBSTACLE_SLIDE_S, SceneSpec, render_scene
from tests.servers import rtsp_server

ROOT = Path(__file__).resolve().parents[1]
SITE, CAMERA, ZONE = "faults", "dock-1", "fire-exit"
LOOP_S = 24.0
OBSTACLE_AT_S = 8.0
BLOCKED_FROM_S = OBSTACLE_AT_S + OBSTACLE_SLIDE_S  # the pallet stands in the zone from here
SPEC = SceneSpec(width=640, height=360, fps=10, duration_s=LOOP_S, obstacle_at_s=OBSTACLE_AT_S)
KILL_WINDOW_S = (6.0, 14.0)  # after BLOCKED_FROM_S: the alert is open, the clip recording
TMPFS_BYTES = 96 << 20
DISK_LEFT_BYTES = 16 << 10
ONLINE_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 120.0
MATCH_SLACK_S = 2.0
FAULTS = ("kill", "disk", "outage", "none")


# --------------------------------------------------------------------------- subscriber


@dataclass
class Inbox:
    """Everything the monitoring platform's subscriber received (arrival time, topic, payload)."""

    messages: list[tuple[float, str, bytes]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, topic: str, payload: bytes) -> None:
        with self.changed:
            self.messages.append((time.time(), topic, payload))
            self.changed.notify_all()

    def events(self) -> list[dict[str, Any]]:
        """Alert events in arrival order."""
        alerts = f"sitewatch/{SITE}/alerts"
        with self.changed:
            return [json.loads(p) for _, t, p in self.messages if t.startswith(alerts)]

    def online_after(self, since: float, timeout: float) -> float | None:
        """Arrival time of the camera's first ``online`` status after ``since`` (None: timeout)."""
        topic = f"sitewatch/{SITE}/cameras/{CAMERA}/status"
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for at, t, p in self.messages:
                    if at >= since and t == topic and _state(p) == "online":
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)


def _state(payload: bytes) -> str | None:
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    return document.get("state") if isinstance(document, dict) else None


@contextlib.contextmanager
def subscriber(port: int) -> Iterator[Inbox]:
    """A persistent-session MQTT 5 subscriber: it gets what was published while it reconnected."""
    inbox = Inbox()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="faults-platform", protocol=mqtt.MQTTv5
    )
    client.on_message = lambda _c, _u, m: inbox.add(m.topic, bytes(m.payload))
    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(f"sitewatch/{SITE}/#", qos=1)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    client.reconnect_delay_set(1, 2)
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        yield inbox
    finally:
        client.loop_stop()
        client.disconnect()


# --------------------------------------------------------------------------- the site


@dataclass
class Site:
    """The data directory, the config and the sitewatch process (started again after a kill)."""

    work: Path
    data_dir: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sitewatch", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        return stop_process(self.proc, 30.0)


def write_config(work: Path, data_dir: Path, rtsp_url: str, broker_port: int) -> Path:
    config = {
        "site": {"id": SITE, "name": "Fault injection site"},
        "cameras": [
            {
                "name": CAMERA,
                "url": rtsp_url,
                "detect_fps": 2,
                "zones": [{"name": ZONE, "kind": "exit", "points": list(EXIT_ZONE)}],
            }
        ],
        "models": [{"name": "hazards", "path": str(ROOT / "models" / "hazards.onnx")}],
        "rules": {
            "blocked_exit": {"check_interval_s": 0.5, "dwell_s": 3, "clear_s": 3, "cooldown_s": 0}
        },
        "clips": {"pre_roll_s": 4, "post_roll_s": 4, "max_clip_s": 20},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "topic_prefix": "sitewatch"},
        "storage": {"data_dir": str(data_dir)},
        "api": {"host": "127.0.0.1", "port": free_port()},
    }
    path = work / "site.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[bool]:
    """``path`` as a tmpfs of TMPFS_BYTES (True), or a plain directory when mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        argv = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(path)]
        mounted = subprocess.run(argv, capture_output=True, check=False).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(directory: Path, leave: int) -> Path:
    """A ballast file that leaves about ``leave`` bytes free on ``directory``'s filesystem."""
    ballast = directory / ".ballast"
    free = shutil.disk_usage(directory).free
    with ballast.open("ab") as handle:
        block = b"\0" * (1 << 20)
        size = max(free - leave, 0)
        while size > 0:
            chunk = block[: min(size, len(block))]
            try:
                handle.write(chunk)
                handle.flush()
            except OSError:
                break
            size -= len(chunk)
    return ballast


class CameraWatch(threading.Thread):
    """Polls ``/api/cameras`` once a second: the camera's state and stale frames over time, so
    that an incident nobody alerted can be explained by what the camera did meanwhile."""

    def __init__(self, api_port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{api_port}/api/cameras"
        self.samples: list[tuple[float, str, int, int]] = []  # time, state, frames, stale
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    (camera,) = json.loads(response.read())
            except (OSError, ValueError):
                continue  # sitewatch is restarting
            sample = (time.time(), camera["state"], camera["frames"], camera["stale_frames"])
            self.samples.append(sample)

    def explain(self, start: float, end: float) -> str:
        """What the camera did between ``start`` and ``end`` (wall clock)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:
            return "sitewatch did not answer (down)"
        states = sorted({s[1] for s in inside})
        stale = inside[-1][3] - inside[0][3]
        frames = inside[-1][2] - inside[0][2]
        return f"camera {'/'.join(states)}, {frames} frames, {stale} stale frames refused"


# --------------------------------------------------------------------------- rounds


@dataclass
class Round:
    """One pass of the scene (one incident expected) and the fault injected into it."""

    fault: str
    blocked_from: float  # wall clock: the pallet stands in the zone
    ends: float  # wall clock: the pass ends, the exit is clear again
    note: str = ""


def sleep_until(at: float) -> None:
    while (left := at - time.time()) > 0:
        time.sleep(min(left, 0.5))


def run_rounds(
    faults: Sequence[str], site: Site, broker: Broker, inbox: Inbox, rng: random.Random
) -> list[Round]:
    """Inject the faults pass by pass; returns the passes that count as expected incidents."""
    rounds: list[Round] = []
    started = time.time()
    site.start()
    online = inbox.online_after(started, ONLINE_TIMEOUT_S)
    if online is None:
        raise SystemExit(f"the camera did not come online within {ONLINE_TIMEOUT_S:.0f} s")
    session, index = online, 0
    for fault in track(faults, description="incidents"):
        blocked = session + index * LOOP_S + BLOCKED_FROM_S
        ends = session + (index + 1) * LOOP_S
        index += 1
        this = Round(fault, blocked, ends)
        rounds.append(this)
        if fault == "kill":
            kill_at = blocked + rng.uniform(*KILL_WINDOW_S)
            sleep_until(kill_at)
            site.kill()
            pause = rng.uniform(0.5, 3.0)
            this.note = (
                f"killed {kill_at - blocked:.1f} s into the incident, restarted after {pause:.1f} s"
            )
            time.sleep(pause)
            restarted = time.time()
            site.start()
            online = inbox.online_after(restarted, ONLINE_TIMEOUT_S)
            if online is None:
                raise SystemExit("the camera did not come online after the restart")
            session, index = online, 0
        elif fault == "disk":
            sleep_until(blocked - 4.0)
            ballast = fill(site.data_dir, DISK_LEFT_BYTES)
            free = shutil.disk_usage(site.data_dir).free
            sleep_until(ends + 6.0)
            ballast.unlink()
            this.note = f"{free >> 10} KiB free for {ends - blocked + 10.0:.0f} s"
        elif fault == "outage":
            sleep_until(blocked - 2.0)
            broker.stop()
            sleep_until(ends + 4.0)
            broker.start()
            this.note = f"broker down for {ends - blocked + 6.0:.0f} s"
        else:
            sleep_until(ends)
    sleep_until(rounds[-1].ends + 9.0)  # the last incident ended and its clip is written
    return rounds


def wait_drained(inbox: Inbox, data_dir: Path, timeout: float = DRAIN_TIMEOUT_S) -> int:
    """Wait until the subscriber holds every event the ledger stored; returns how many it lacks."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(f"file:{data_dir / 'ledger.sqlite3'}?mode=ro", uri=True) as db:
            stored = {row[0] for row in db.execute("SELECT event_id FROM events")}
        missing = len(stored - {str(e["event_id"]) for e in inbox.events()})
        if missing == 0 or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


# --------------------------------------------------------------------------- results


@dataclass
class Outcome:
    """What one expected incident became."""

    fault: str
    note: str
    alerted: bool
    alert_id: str | None
    clip_playable: bool
    evidence_missing: list[str]


def epoch(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


def playable(path: Path) -> bool:
    """The clip decodes to its last frame with at least one frame."""
    try:
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
    except (av.error.FFmpegError, OSError, StopIteration):
        return False
    return frames > 0


def outcomes(
    rounds: Sequence[Round], inbox: Inbox, data_dir: Path, watch: CameraWatch
) -> list[Outcome]:
    """Match every expected incident with the alert that opened in its pass."""
    news = [e for e in inbox.events() if e["type"] == "new"]
    ledger = Ledger(data_dir / "ledger.sqlite3")
    results: list[Outcome] = []
    try:
        for this in rounds:
            found = [
                e["after"]
                for e in news
                if this.blocked_from - MATCH_SLACK_S
                <= (epoch(e["after"]["started_at"]) or 0.0)
                <= this.ends + MATCH_SLACK_S
            ]
            if not found:
                why = watch.explain(this.blocked_from, this.ends)
                results.append(Outcome(this.fault, f"{this.note}; {why}", False, None, False, []))
                continue
            alert_id = str(found[0]["alert_id"])
            alert = ledger.alert(alert_id)
            clips = (
                []
                if alert is None
                else [
                    e
                    for e in alert.evidence
                    if e.kind is EvidenceKind.CLIP and e.removed_at is None
                ]
            )
            clip_ok = bool(clips) and all(playable(data_dir / c.path) for c in clips)
            missing: list[str] = []
            if alert is None:
                missing.append("alert not in the ledger")
            else:
                if alert.snapshot is None:
                    missing.append("snapshot")
                elif not (data_dir / alert.snapshot.path).is_file():
                    missing.append("snapshot file")
                if not clips:
                    missing.append("clip")
                missing += [
                    f"{row.label}: {row.reason}" for row in ledger.expected_evidence(alert_id)
                ]
            results.append(Outcome(this.fault, this.note, True, alert_id, clip_ok, missing))
    finally:
        ledger.close()
    return results


def delivery(inbox: Inbox, data_dir: Path) -> dict[str, int]:
    """Events stored in the ledger vs delivered to the subscriber (lost, duplicated)."""
    ledger = Ledger(data_dir / "ledger.sqlite3")
    try:
        stored = {e.event_id for e in ledger.events_after(0, limit=1_000_000)}
    finally:
        ledger.close()
    received = [str(e["event_id"]) for e in inbox.events()]
    return {
        "stored": len(stored),
        "delivered": len(set(received) & stored),
        "lost": len(stored - set(received)),
        "duplicated": len(received) - len(set(received)),
    }


def audit_verify(config: Path) -> tuple[int, str]:
    argv = [sys.executable, "-m", "sitewatch", "audit", "verify", "--evidence", "--config"]
    argv.append(str(config))
    done = subprocess.run(argv, check=False, capture_output=True, text=True, cwd=ROOT)
    return done.returncode, (done.stdout + done.stderr).strip()


def print_table(results: Sequence[Outcome]) -> None:
    print(
        f"\n{'fault':8} {'expected':>9} {'alerted':>8} {'playable clip':>14}"
        f" {'evidence missing':>17}"
    )
    for fault in FAULTS:
        mine = [r for r in results if r.fault == fault]
        if not mine:
            continue
        alerted = sum(r.alerted for r in mine)
        clips = sum(r.clip_playable for r in mine)
        missing = sum(bool(r.evidence_missing) for r in mine)
        print(f"{fault:8} {len(mine):>9} {alerted:>8} {clips:>14} {missing:>17}")
    print("\nper incident:")
    for r in results:
        state = "alerted" if r.alerted else "NOT ALERTED"
        clip = "clip ok" if r.clip_playable else "no playable clip"
        extra = f" missing: {', '.join(r.evidence_missing)}" if r.evidence_missing else ""
        print(f"  {r.fault:7} {state:11} {clip:17} {r.note}{extra}")


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    kills: int
    disk_fills: int
    outages: int
    clean: int
    seed: int
    json_out: Path | None
    keep: Path | None


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--kills", type=int, default=4, help="incidents hit by kill -9")
    parser.add_argument("--disk-fills", type=int, default=2, help="incidents on a full disk")
    parser.add_argument("--outages", type=int, default=2, help="incidents during a broker outage")
    parser.add_argument("--clean", type=int, default=1, help="incidents without a fault")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, dest="json_out", help="write the figures here")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    a = parser.parse_args(argv)
    return Options(a.kills, a.disk_fills, a.outages, a.clean, a.seed, a.json_out, a.keep)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    rng = random.Random(options.seed)
    faults = (
        ["kill"] * options.kills
        + ["disk"] * options.disk_fills
        + ["outage"] * options.outages
        + ["none"] * options.clean
    )
    rng.shuffle(faults)
    with contextlib.ExitStack() as stack:
        if options.keep is not None:
            work = options.keep
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="faults-")))
        media = work / "media"
        media.mkdir(exist_ok=True)
        print(f"rendering the scene ({LOOP_S:.0f} s, obstacle from {OBSTACLE_AT_S:.0f} s) …")
        render_scene(media / "scene.mp4", SPEC)
        data_dir = work / "data"
        mounted = stack.enter_context(small_disk(data_dir))
        if not mounted and "disk" in faults:
            print("cannot mount a tmpfs here (not root?): the disk rounds run without a fault")
            faults = ["none" if f == "disk" else f for f in faults]
        broker = stack.enter_context(Broker(work / "mosquitto"))
        rtsp = stack.enter_context(rtsp_server(media))
        inbox = stack.enter_context(subscriber(broker.port))
        config = write_config(work, data_dir, rtsp.url("scene.mp4"), broker.port)
        site = Site(work, data_dir, config, work / "sitewatch.log")
        watch = CameraWatch(yaml.safe_load(config.read_text())["api"]["port"])
        watch.start()
        print(f"{len(faults)} incidents: {' '.join(faults)} (log: {site.log})")
        try:
            rounds = run_rounds(faults, site, broker, inbox, rng)
            undelivered = wait_drained(inbox, data_dir)
            watch.stop.set()
            if undelivered:
                print(f"{undelivered} events still undelivered after {DRAIN_TIMEOUT_S:.0f} s")
        finally:
            if site.proc is not None and site.proc.poll() is None:
                code = site.stop()
                print(f"sitewatch stopped with exit code {code}")
        results = outcomes(rounds, inbox, data_dir, watch)
        sent = delivery(inbox, data_dir)
        verify_code, verify_text = audit_verify(config)
        print_table(results)
        print(
            f"\nevents: {sent['stored']} stored, {sent['delivered']} delivered, "
            f"{sent['lost']} lost, {sent['duplicated']} duplicated;"
            f" sitewatch started {site.starts} times"
        )
        last_line = verify_text.splitlines()[-1] if verify_text else ""
        print(f"audit verify --evidence: exit {verify_code}: {last_line}")
        if options.json_out is not None:
            figures = {
                "outcomes": [asdict(r) for r in results],
                "delivery": sent,
                "audit_verify_exit": verify_code,
                "starts": site.starts,
            }
            options.json_out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
