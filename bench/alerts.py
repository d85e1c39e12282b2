"""Alert path cost: ledger + outbox + mosquitto throughput, publish latency, clip CPU, recovery.

Every phase runs the real pieces: ``AlertService.handle`` stores each change with its event and
outbox row in one SQLite transaction (WAL, synchronous=FULL), the ``MqttPublisher`` thread drains
the outbox at QoS 1 to a real mosquitto, and a subscriber in a separate process (so it does not
compete for this process's GIL) records when each event arrives. Phases:

- throughput: N events (START/UPDATE/END over many zones, no images) as fast as handle() takes
  them; events/s stored, PUBACKed and received end to end, and the CPU of each process.
- latency: a steady 10 events/s; subscriber receipt minus the instant before handle().
- clips: CPU ms (all threads) to write one clip from a packet ring filled from a local file:
  H.264 remuxed, and H.265 decoded and re-encoded with libx264 (the synthetic test pattern
  compresses far better than a camera scene, so decoding a real H.265 camera costs more).
- recovery: the broker goes away, N events queue in the outbox, the broker comes back; time to
  reconnect, to empty the outbox and until the subscriber has every event.
- ledger: handle() alone with no broker, as shipped (synchronous=FULL) and, as a what-if only,
  with synchronous=NORMAL on the bench's own ledger connection.

Run: .venv/bin/python -m bench.alerts [--events 10000] [--phases ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.clip_writer import ClipWriter
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.mqtt_publisher import BrokerSettings, MqttPublisher
from alerts.service import AlertService
from bench.proc import percentile, pid_cpu_s, process_cpu_s
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from ingest.camera_reader import CameraReader, DecodePolicy, Pacing, ReaderSettings
from ingest.packet_ring import RingSnapshot
from sitewatch.demo.rtsp import free_port, stop_process, wait_for_port
from tests.media import h264_clip, h265_clip
from tests.servers import mosquitto_binary

HOST = "127.0.0.1"
BENCH_DIR = Path("data/bench/alerts")
TOPICS = Topics("sitewatch", "bench")
PHASES = ("throughput", "latency", "clips", "recovery", "ledger")
ZONES_PER_CAMERA = 4
UPDATES_PER_INCIDENT = 3  # START, 3 x UPDATE, END: 5 events per incident
THROUGHPUT_GOAL = 2000.0  # events/s
LATENCY_GOAL_MS = 50.0  # p95 at LATENCY_RATE
CLIP_FPS = 25
CLIP_GOP = 50  # a keyframe every 2 s, as many cameras send
START_TIMEOUT_S = 20.0
SETTLE_S = 3.0  # after the last latency event, for stragglers


# --------------------------------------------------------------------------- process figures


class CpuMeter:
    """CPU of this process and of some others, from a start instant."""

    def __init__(self, others: dict[str, int]) -> None:
        self._others = others
        self._at = time.monotonic()
        self._self = process_cpu_s()
        self._start = {name: pid_cpu_s(pid) for name, pid in others.items()}

    def percent(self) -> dict[str, float]:
        """% of one core per process since the start."""
        elapsed = max(time.monotonic() - self._at, 1e-9)
        shares = {"sitewatch": (process_cpu_s() - self._self) / elapsed * 100}
        for name, pid in self._others.items():
            shares[name] = (pid_cpu_s(pid) - self._start[name]) / elapsed * 100
        return shares


def fsync_ms(directory: Path, count: int = 100) -> list[float]:
    """Milliseconds of each fsync after a 4 KiB append: what one ledger commit waits for."""
    path = directory / ".fsync-probe"
    times: list[float] = []
    try:
        with path.open("wb") as handle:
            for _ in range(count):
                handle.write(b"\0" * 4096)
                handle.flush()
                started = time.perf_counter()
                os.fsync(handle.fileno())
                times.append((time.perf_counter() - started) * 1000)
    finally:
        path.unlink(missing_ok=True)
    return times


def mark_commits(ledger_path: Path) -> int:
    """Transactions that marked PUBACKs (each stamps its rows with one ``delivered_at``)."""
    with closing(sqlite3.connect(ledger_path)) as db:
        return int(db.execute("SELECT count(DISTINCT delivered_at) FROM outbox").fetchone()[0])


# --------------------------------------------------------------------------- mosquitto


class Broker:
    """A mosquitto on 127.0.0.1 that can be stopped and started again (same port, same data)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port(HOST)
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            "persistence true",  # the subscriber's session survives the outage
            f"persistence_location {self.data_dir}/",
            "max_queued_messages 1000000",  # default 1000 per client would drop a backlog
            "max_inflight_messages 1000",  # default 20 towards each subscriber
            f"log_dest file {self.data_dir / 'mosquitto.log'}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to "mosquitto" and cannot write data_dir
        return "\n".join(lines) + "\n"

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "mosquitto.conf"
        config.write_text(self.config())
        with (self.data_dir / "stderr.log").open("ab") as err:
            argv = [str(mosquitto_binary()), "-c", str(config)]
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        wait_for_port(HOST, self.port, START_TIMEOUT_S, self._proc)

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, 10.0)
            self._proc = None

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- subscriber


@dataclass
class Receipts:
    """What the subscriber got: first arrival (monotonic) per event seq, and duplicates."""

    at: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0


def subscriber_main(port: int, topic: str, conn: Connection, ready: ProcessEvent) -> None:
    """Child process: subscribe at QoS 1 with a persistent session; answer ``count``/``stop``."""
    receipts = Receipts()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-subscriber-{os.getpid()}",
        protocol=mqtt.MQTTv311,
        clean_session=False,
    )

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.subscribe(topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: Any, _m: Any, _r: Any, _p: Any) -> None:
        ready.set()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        seq = int(json.loads(message.payload)["after"]["details"]["seq"])
        if seq in receipts.at:
            receipts.duplicates += 1
        else:
            receipts.at[seq] = now

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.reconnect_delay_set(1, 1)
    client.connect_async(HOST, port)
    client.loop_start()
    while conn.recv() == "count":
        conn.send(len(receipts.at))
    client.disconnect()
    client.loop_stop()
    conn.send(receipts)


class Subscriber:
    """The subscriber process, seen from here."""

    def __init__(self, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._ready = context.Event()
        self._proc = context.Process(
            target=subscriber_main,
            args=(port, TOPICS.alerts, child, self._ready),
            name="bench-subscriber",
            daemon=True,
        )
        self._result: Receipts | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid or 0

    def __enter__(self) -> Subscriber:
        self._proc.start()
        if not self._ready.wait(START_TIMEOUT_S):
            self._proc.terminate()
            raise RuntimeError("the subscriber did not subscribe in time")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._result is None and self._proc.is_alive():
            self.finish()
        self._proc.join(5.0)
        if self._proc.is_alive():
            self._proc.terminate()

    def count(self) -> int:
        """Distinct events received so far."""
        self._conn.send("count")
        return int(self._conn.recv())

    def finish(self) -> Receipts:
        """Disconnect and return every receipt."""
        if self._result is None:
            self._conn.send("stop")
            self._result = self._conn.recv()
        assert self._result is not None
        return self._result


# --------------------------------------------------------------------------- the alert path


def make_service(
    ledger: Ledger, work_dir: Path, wake: threading.Event | None = None
) -> AlertService:
    """No cooldown, and no rate limit on updates: every observation becomes a stored event
    (sitewatch's default holds score-only UPDATEs of an alert for 5 s in memory)."""
    return AlertService(
        ledger,
        TOPICS,
        work_dir,
        "http://127.0.0.1:8080",
        {},
        recorded=wake,
        min_update_interval_s=0.0,
    )


class Pipeline:
    """Ledger, AlertService and MqttPublisher wired as sitewatch's runner wires them."""

    def __init__(self, work_dir: Path, port: int) -> None:
        self.ledger = Ledger(work_dir / "ledger.sqlite3")
        self.stop = threading.Event()
        wake = threading.Event()
        self.service = make_service(self.ledger, work_dir, wake)
        settings = BrokerSettings(HOST, port, f"bench-node-{os.getpid()}")
        self.publisher = MqttPublisher(settings, self.ledger, TOPICS, self.stop, wake)

    def __enter__(self) -> Pipeline:
        self.publisher.start()
        wait_for(lambda: self.publisher.connected, START_TIMEOUT_S, "publisher connected")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.publisher.join(10.0)
        self.ledger.close()


def observations(count: int, keys: int) -> Iterator[Observation]:
    """Incidents START, UPDATE x3, END, interleaved over ``keys`` camera/zone/hazard triples.

    Each observation carries ``details.seq``, which the subscriber reads back.
    """
    hazards = list(Hazard)
    cycle = UPDATES_PER_INCIDENT + 2
    for i in range(count):
        key, step = i % keys, (i // keys) % cycle
        phase = Phase.START if step == 0 else Phase.END if step == cycle - 1 else Phase.UPDATE
        yield Observation(
            camera=f"cam{key // ZONES_PER_CAMERA:03d}",
            zone=f"zone{key % ZONES_PER_CAMERA}",
            hazard=hazards[key % len(hazards)],
            phase=phase,
            time=time.time(),
            score=0.5 + 0.4 * ((i * 7919) % 100) / 100,
            details={"seq": i},
        )


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    progress: Callable[[], str] | None = None,
    poll_s: float = 0.005,
) -> float | None:
    """Monotonic time ``condition`` first held; None after ``timeout`` (progress once a second)."""
    started = time.monotonic()
    next_note = started + 1.0
    while True:
        now = time.monotonic()
        if condition():
            return now
        if now - started > timeout:
            print(f"    gave up waiting for {what} after {timeout:.0f} s", flush=True)
            return None
        if progress is not None and now >= next_note:
            print(f"    {progress()}", flush=True)
            next_note += 1.0
        time.sleep(poll_s)


def counts_line(pipe: Pipeline, subscriber: Subscriber, total: int, stored: int) -> str:
    return (
        f"stored {stored:,}/{total:,}, PUBACKed {pipe.publisher.delivered:,},"
        f" received {subscriber.count():,}, outbox {pipe.ledger.pending_count():,}"
    )


def store(
    service: AlertService, events: Iterator[Observation], progress: Callable[[int], None]
) -> list[float]:
    """handle() every observation as fast as it goes; the monotonic instant before each."""
    sent: list[float] = []
    next_note = time.monotonic() + 1.0
    for obs in events:
        sent.append(time.monotonic())
        service.handle(obs, None)
        if len(sent) % 128 == 0 and time.monotonic() >= next_note:
            progress(len(sent))
            next_note += 1.0
    return sent


# --------------------------------------------------------------------------- throughput


@dataclass
class Throughput:
    events: int
    stored_s: float  # from the first handle() to the last one returning
    delivered_s: float  # ... to the last PUBACK recorded in the ledger
    received_s: float  # ... to the subscriber's last receipt
    missing: int
    duplicates: int
    latency_ms: list[float]  # per event under full load
    cpu: dict[str, float]  # % of one core
    mark_commits: int  # ledger transactions that recorded PUBACKs


def run_throughput(options: Options, work: Path) -> Throughput:
    n = options.events
    print(f"  {n:,} events over {options.keys} camera zones, as fast as handle() goes")
    with ExitStack() as stack:
        broker = stack.enter_context(Broker(work / "broker"))
        subscriber = stack.enter_context(Subscriber(broker.port))
        pipe = stack.enter_context(Pipeline(work, broker.port))
        meter = CpuMeter({"mosquitto": broker.pid, "subscriber": subscriber.pid})
        started = time.monotonic()
        sent = store(
            pipe.service,
            observations(n, options.keys),
            lambda done: print(f"    {counts_line(pipe, subscriber, n, done)}", flush=True),
        )
        stored_at = time.monotonic()
        print(f"    stored all in {stored_at - started:.2f} s; waiting for delivery", flush=True)
        delivered_at = wait_for(
            lambda: pipe.publisher.delivered >= n,
            options.drain_timeout_s,
            "PUBACKs",
            lambda: counts_line(pipe, subscriber, n, n),
        )
        wait_for(lambda: subscriber.count() >= n, options.drain_timeout_s, "receipts", poll_s=0.05)
        cpu = meter.percent()
        receipts = subscriber.finish()
    last = max(receipts.at.values(), default=math.nan)
    return Throughput(
        events=n,
        stored_s=stored_at - started,
        delivered_s=(delivered_at or math.nan) - started,
        received_s=last - started,
        missing=n - len(receipts.at),
        duplicates=receipts.duplicates,
        latency_ms=[(at - sent[seq]) * 1000 for seq, at in receipts.at.items()],
        cpu=cpu,
        mark_commits=mark_commits(work / "ledger.sqlite3"),
    )


def print_throughput(result: Throughput) -> None:
    n = result.events
    p50, p95 = percentile(result.latency_ms, 50), percentile(result.latency_ms, 95)
    print(
        f"    {n / result.stored_s:,.0f} stored/s, {n / result.delivered_s:,.0f} PUBACKed/s,"
        f" {n / result.received_s:,.0f} received/s; missing {result.missing},"
        f" duplicates {result.duplicates}; latency under load p50 {p50:,.0f} ms,"
        f" p95 {p95:,.0f} ms",
        flush=True,
    )
    shares = ", ".join(f"{name} {share:.0f}%" for name, share in result.cpu.items())
    print(f"    CPU (% of one core): {shares}", flush=True)
    per_mark = n / result.mark_commits if result.mark_commits else math.nan
    print(
        f"    ledger commits: {n:,} stores + {result.mark_commits:,} PUBACK marks"
        f" ({per_mark:.1f} events per mark)",
        flush=True,
    )


# --------------------------------------------------------------------------- latency


@dataclass
class Latency:
    rate: float
    sent: int
    latency_ms: list[float]
    handle_ms: list[float]
    duplicates: int


def run_latency(options: Options, work: Path) -> Latency:
    count = round(options.rate * options.latency_seconds)
    print(f"  {options.rate:g} events/s for {options.latency_seconds:g} s ({count} events)")
    with ExitStack() as stack:
        broker = stack.enter_context(Broker(work / "broker"))
        subscriber = stack.enter_context(Subscriber(broker.port))
        pipe = stack.enter_context(Pipeline(work, broker.port))
        sent, handle_ms = paced(pipe, subscriber, count, options)
        wait_for(lambda: subscriber.count() >= count, SETTLE_S, "receipts", poll_s=0.05)
        receipts = subscriber.finish()
    latency = [(at - sent[seq]) * 1000 for seq, at in receipts.at.items()]
    return Latency(options.rate, count, latency, handle_ms, receipts.duplicates)


def paced(
    pipe: Pipeline, subscriber: Subscriber, count: int, options: Options
) -> tuple[list[float], list[float]]:
    """handle() at ``options.rate``: the instant before each call and each call's ms."""
    sent: list[float] = []
    handle_ms: list[float] = []
    due = time.monotonic()
    for obs in observations(count, options.keys):
        due += 1.0 / options.rate
        sent.append(time.monotonic())
        pipe.service.handle(obs, None)
        handle_ms.append((time.monotonic() - sent[-1]) * 1000)
        if len(sent) % round(options.rate * 5) == 0:
            print(f"    {counts_line(pipe, subscriber, count, len(sent))}", flush=True)
        time.sleep(max(0.0, due - time.monotonic()))
    return sent, handle_ms


def print_latency(result: Latency) -> None:
    lat, handle = result.latency_ms, result.handle_ms
    print(
        f"    received {len(lat)}/{result.sent}; latency p50 {percentile(lat, 50):.1f} ms,"
        f" p95 {percentile(lat, 95):.1f} ms, max {max(lat, default=math.nan):.1f} ms;"
        f" handle() p50 {percentile(handle, 50):.1f} ms, p95 {percentile(handle, 95):.1f} ms",
        flush=True,
    )


# --------------------------------------------------------------------------- clips


@dataclass
class ClipCost:
    label: str
    seconds: float  # video span of the clip
    cpu_ms: list[float]
    wall_ms: list[float]
    bytes_in: int
    bytes_out: int


def source_clip(codec: str, size: tuple[int, int], seconds: float) -> Path:
    """A camera-like file (keyframe every 2 s), made once and kept under data/bench/alerts."""
    width, height = size
    media = BENCH_DIR / "media"
    path = media / f"{codec}-{width}x{height}-{seconds:g}s.mp4"
    if path.exists():
        return path
    print(f"    making {path} ...", flush=True)
    make = h264_clip if codec == "h264" else h265_clip
    partial = make(
        media,
        f".partial-{path.name}",
        width=width,
        height=height,
        fps=CLIP_FPS,
        seconds=seconds,
        gop=CLIP_GOP,
    )
    return partial.replace(path)


def fill_ring(path: Path, seconds: float) -> RingSnapshot:
    """Read ``path`` as fast as it goes (packets only) into a reader's ring; its snapshot."""
    stop = threading.Event()
    settings = ReaderSettings(
        path.stem,
        str(path),
        decode=DecodePolicy.NONE,
        buffer_seconds=seconds,
        pacing=Pacing.FAST,
        loop=False,
    )
    reader = CameraReader(settings, stop)
    reader.start()
    finished = reader.finished.wait(60.0)
    stop.set()
    reader.join(10.0)
    snapshot = reader.ring.snapshot() if reader.ring is not None else None
    if not finished or snapshot is None:
        raise RuntimeError(f"could not fill a ring from {path}")
    return snapshot


def write_clip(snapshot: RingSnapshot, path: Path) -> tuple[float, float]:
    """(CPU ms of this process, wall ms) to write one clip, SHA-256 included."""
    cpu, wall = time.process_time(), time.perf_counter()
    writer = ClipWriter(path, snapshot.template)
    for packet in snapshot.packets:
        writer.add(packet)
    writer.close()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def measure_clip(label: str, codec: str, options: Options, work: Path) -> ClipCost:
    snapshot = fill_ring(
        source_clip(codec, options.size, options.clip_seconds), options.clip_seconds
    )
    span = snapshot.seconds + 1 / CLIP_FPS
    cost = ClipCost(label, span, [], [], snapshot.size, 0)
    for i in range(options.clip_repeats):
        out = work / "clips" / f"{codec}-{i}.mp4"
        cpu_ms, wall_ms = write_clip(snapshot, out)
        cost.cpu_ms.append(cpu_ms)
        cost.wall_ms.append(wall_ms)
        cost.bytes_out = out.stat().st_size
        print(f"    {label} #{i + 1}: {cpu_ms:,.0f} ms CPU, {wall_ms:,.0f} ms wall", flush=True)
    return cost


def run_clips(options: Options, work: Path) -> list[ClipCost]:
    width, height = options.size
    print(
        f"  {options.clip_seconds:g} s at {width}x{height} {CLIP_FPS} fps,"
        f" {options.clip_repeats} of each, CPU of all threads",
        flush=True,
    )
    return [
        measure_clip("remux H.264", "h264", options, work),
        measure_clip("re-encode H.265 -> H.264", "h265", options, work),
    ]


def print_clips(costs: Sequence[ClipCost]) -> None:
    print(
        f"    {'clip':<26} {'video s':>7} {'CPU ms':>8} {'wall ms':>8} {'cores':>5}"
        f" {'CPU ms/video s':>14} {'MB in':>6} {'MB out':>6}"
    )
    for c in costs:
        cpu, wall = statistics.median(c.cpu_ms), statistics.median(c.wall_ms)
        print(
            f"    {c.label:<26} {c.seconds:7.2f} {cpu:8,.0f} {wall:8,.0f} {cpu / wall:5.2f}"
            f" {cpu / c.seconds:14.1f} {c.bytes_in / 1e6:6.2f} {c.bytes_out / 1e6:6.2f}"
        )


# --------------------------------------------------------------------------- recovery


@dataclass
class Recovery:
    events: int
    queued_s: float  # handle() for all events while the broker was down
    reconnect_s: float  # broker started -> publisher connected
    drained_s: float  # broker started -> outbox empty
    received_s: float  # broker started -> subscriber has everything
    missing: int
    duplicates: int

    @property
    def drain_rate(self) -> float:
        """Events/s from the publisher's reconnect until the outbox was empty."""
        return self.events / max(self.drained_s - self.reconnect_s, 1e-9)


def run_recovery(options: Options, work: Path) -> Recovery:
    n = options.recovery_events
    print(f"  broker down, {n:,} events queued, broker back", flush=True)
    with ExitStack() as stack:
        broker = stack.enter_context(Broker(work / "broker"))
        subscriber = stack.enter_context(Subscriber(broker.port))
        pipe = stack.enter_context(Pipeline(work, broker.port))
        broker.stop()
        wait_for(lambda: not pipe.publisher.connected, 10.0, "the publisher to notice")
        started = time.monotonic()
        store(pipe.service, observations(n, options.keys), lambda done: None)
        queued_s = time.monotonic() - started
        print(
            f"    queued {pipe.ledger.pending_count():,} in {queued_s:.2f} s"
            f" ({n / queued_s:,.0f}/s, no broker); starting the broker",
            flush=True,
        )
        broker.start()
        back = time.monotonic()
        connected = wait_for(lambda: pipe.publisher.connected, 60.0, "reconnect", poll_s=0.01)
        print(f"    publisher reconnected {(connected or math.nan) - back:.2f} s after", flush=True)
        drained = wait_for(
            lambda: pipe.ledger.pending_count() == 0,
            options.drain_timeout_s,
            "the outbox to empty",
            lambda: counts_line(pipe, subscriber, n, n),
            poll_s=0.01,
        )
        wait_for(lambda: subscriber.count() >= n, options.drain_timeout_s, "receipts", poll_s=0.05)
        receipts = subscriber.finish()
    last = max(receipts.at.values(), default=math.nan)
    return Recovery(
        events=n,
        queued_s=queued_s,
        reconnect_s=(connected or math.nan) - back,
        drained_s=(drained or math.nan) - back,
        received_s=last - back,
        missing=n - len(receipts.at),
        duplicates=receipts.duplicates,
    )


def print_recovery(result: Recovery) -> None:
    print(
        f"    reconnect {result.reconnect_s:.2f} s, outbox empty {result.drained_s:.2f} s,"
        f" all received {result.received_s:.2f} s after the broker came back;"
        f" drain {result.drain_rate:,.0f} events/s; missing {result.missing},"
        f" duplicates {result.duplicates}",
        flush=True,
    )


# --------------------------------------------------------------------------- ledger only


def store_rate(work: Path, n: int, keys: int, synchronous: str) -> float:
    """handle() events/s with no publisher, the ledger connection at ``synchronous``."""
    work.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(work / "ledger.sqlite3")
    try:
        # What-if only: the bench's own connection, never the shipped default.
        ledger._db.execute(f"PRAGMA synchronous={synchronous}")
        started = time.monotonic()
        store(
            make_service(ledger, work),
            observations(n, keys),
            lambda done: print(f"    stored {done:,}/{n:,}", flush=True),
        )
        return n / (time.monotonic() - started)
    finally:
        ledger.close()


def run_ledger(options: Options, work: Path) -> dict[str, float]:
    n = options.events
    print(f"  {n:,} events through handle(), no publisher", flush=True)
    rates: dict[str, float] = {}
    for synchronous in ("FULL", "NORMAL"):
        rates[synchronous] = store_rate(work / synchronous.lower(), n, options.keys, synchronous)
        print(f"    synchronous={synchronous}: {rates[synchronous]:,.0f} events/s", flush=True)
    return rates


# --------------------------------------------------------------------------- summary


@dataclass
class Results:
    throughput: Throughput | None = None
    latency: Latency | None = None
    clips: list[ClipCost] = field(default_factory=list)
    recovery: Recovery | None = None
    ledger: dict[str, float] = field(default_factory=dict)
    fsync_p50_ms: list[float] = field(default_factory=list)  # one probe before each phase


def verdict(met: bool) -> str:
    return "meets goal" if met else "MISSES goal"


def table_rows(results: Results) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    if results.fsync_p50_ms:
        low, high = min(results.fsync_p50_ms), max(results.fsync_p50_ms)
        rows.append(
            ("disk fsync p50, lowest-highest of phases", f"{low:.2f}-{high:.2f} ms", "-", "")
        )
    if (t := results.throughput) is not None:
        goal = f">= {THROUGHPUT_GOAL:,.0f}/s"
        for label, seconds in (
            ("events/s stored (ledger + outbox)", t.stored_s),
            ("events/s PUBACKed (outbox marked)", t.delivered_s),
            ("events/s received end to end", t.received_s),
        ):
            rate = t.events / seconds
            rows.append((label, f"{rate:,.0f}", goal, verdict(rate >= THROUGHPUT_GOAL)))
    if (lat := results.latency) is not None:
        p95 = percentile(lat.latency_ms, 95)
        measured = (
            f"{percentile(lat.latency_ms, 50):.1f} / {p95:.1f} /"
            f" {max(lat.latency_ms, default=math.nan):.1f} ms"
        )
        label = f"latency p50/p95/max at {lat.rate:g}/s"
        rows.append(
            (label, measured, f"p95 <= {LATENCY_GOAL_MS:g} ms", verdict(p95 <= LATENCY_GOAL_MS))
        )
    for clip in results.clips:
        cpu = statistics.median(clip.cpu_ms) * 10 / clip.seconds
        rows.append((f"CPU ms per 10 s clip, {clip.label}", f"{cpu:,.0f} ms", "-", ""))
    if (r := results.recovery) is not None:
        rows.append((f"recovery of {r.events:,}: reconnect/empty/all", _seconds(r), "-", ""))
        rows.append(("recovery drain rate", f"{r.drain_rate:,.0f}/s", "-", ""))
    for synchronous, rate in results.ledger.items():
        label = f"handle() alone, synchronous={synchronous}"
        note = "as shipped" if synchronous == "FULL" else "what-if"
        rows.append((label, f"{rate:,.0f}/s", "-", note))
    return rows


def _seconds(r: Recovery) -> str:
    return f"{r.reconnect_s:.1f} / {r.drained_s:.1f} / {r.received_s:.1f} s"


def print_table(results: Results) -> None:
    print("\nAlert path figures")
    print(f"{'figure':<44} {'measured':>24} {'goal':>14}  verdict")
    for label, measured, goal, note in table_rows(results):
        print(f"{label:<44} {measured:>24} {goal:>14}  {note}")


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    phases: tuple[str, ...]
    events: int
    keys: int
    rate: float
    latency_seconds: float
    clip_seconds: float
    clip_repeats: int
    size: tuple[int, int]
    recovery_events: int
    drain_timeout_s: float
    work_dir: Path


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__)
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--events", type=int, default=10_000, help="throughput events")
    parser.add_argument("--keys", type=int, default=200, help="camera/zone/hazard triples")
    parser.add_argument("--rate", type=float, default=10.0, help="latency phase events/s")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--clip-repeats", type=int, default=3)
    parser.add_argument("--size", type=parse_size, default=(1280, 720), help="clip WxH")
    parser.add_argument("--recovery-events", type=int, default=10_000)
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--work-dir", type=Path, default=BENCH_DIR, help="where ledgers and brokers live (disk)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts, 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.recovery_events, args.latency_seconds = 1000, 1000, 5.0
        args.clip_seconds, args.clip_repeats, args.size = 4.0, 1, (640, 360)
    return Options(
        tuple(args.phases),
        args.events,
        args.keys,
        args.rate,
        args.latency_seconds,
        args.clip_seconds,
        args.clip_repeats,
        args.size,
        args.recovery_events,
        args.drain_timeout,
        args.work_dir,
    )


def run_phase(name: str, options: Options, work: Path, results: Results) -> None:
    """One phase in its own directory (fresh ledger, fresh broker)."""
    phase_dir = work / name
    phase_dir.mkdir(parents=True)
    probe = fsync_ms(phase_dir)
    results.fsync_p50_ms.append(percentile(probe, 50))
    print(
        f"\n[{name}] disk fsync p50 {percentile(probe, 50):.2f} ms,"
        f" p95 {percentile(probe, 95):.2f} ms (before the phase)",
        flush=True,
    )
    if name == "throughput":
        results.throughput = run_throughput(options, phase_dir)
        print_throughput(results.throughput)
    elif name == "latency":
        results.latency = run_latency(options, phase_dir)
        print_latency(results.latency)
    elif name == "clips":
        results.clips = run_clips(options, phase_dir)
        print_clips(results.clips)
    elif name == "recovery":
        results.recovery = run_recovery(options, phase_dir)
        print_recovery(results.recovery)
    else:
        results.ledger = run_ledger(options, phase_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen phases in order and print the table."""
    options = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="    log %(name)s: %(message)s", stream=sys.stdout
    )
    logging.getLogger("ingest").setLevel(logging.ERROR)  # "offline (end of file)" is expected
    options.work_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"{os.cpu_count()} cores; ledgers and broker data under {options.work_dir}"
        " (SQLite WAL, synchronous=FULL: one fsync per stored event)",
        flush=True,
    )
    results = Results()
    with tempfile.TemporaryDirectory(prefix="run-", dir=options.work_dir) as work:
        for name in (p for p in PHASES if p in options.phases):
            run_phase(name, options, Path(work), results)
    print_table(results)


if __name__ == "__main__":
    main()
