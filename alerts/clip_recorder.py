"""Evidence clips: pre-roll from the camera's packet ring, the incident, then post-roll.

A clip starts at the keyframe at or before ``pre_roll_s`` ahead of the alert and ends
``post_roll_s`` after the incident ended. Long incidents are cut into parts of at most
``max_seconds`` (each part starts at a keyframe). Packets arrive from the camera reader through
a non-blocking queue; one thread writes every clip.

On a full disk (``alerts.disk_space``) a part that cannot start or cannot go on is reported
missing (``on_missing``) with the reason; what its recording already holds stays on disk and is
finished once space returns. While the disk stays full, the packets of the part that could not
start are held in memory (up to ``ClipSettings.hold_bytes`` per clip; beyond it the oldest group
of pictures goes, and the clip says how much it lost) and written as soon as space returns, so an
incident that happened entirely on a full disk still gets its clip; only a stop while the disk is
still full loses them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import av

from alerts.clip_writer import ClipWriter
from alerts.disk_space import DiskGuard, is_disk_full
from alerts.model import Evidence
from ingest.packet_ring import PacketRing, StoredPacket, StreamTemplate

log = logging.getLogger(__name__)
FINISH_GRACE_S = 3.0  # end a clip even if the camera went quiet during post-roll


@dataclass(frozen=True)
class ClipSettings:
    """Clip lengths."""

    pre_roll_s: float = 5.0
    post_roll_s: float = 10.0
    max_seconds: float = 120.0
    hold_bytes: int = 64 << 20  # packets held in memory per clip while the disk is full


@dataclass(frozen=True)
class ClipReady:
    """A finished, hashed clip file."""

    alert_id: str
    part: int
    evidence: Evidence
    started_at: float
    ended_at: float
    transcoded: bool


Item = tuple[StoredPacket, StreamTemplate]
MissingSink = Callable[[str, int, str], None]  # (alert_id, part, reason)


class _Job:
    """One alert's clip in progress."""

    def __init__(self, alert_id: str, camera: str, start: float) -> None:
        self.alert_id = alert_id
        self.camera = camera
        self.start = start
        self.end: float | None = None
        self.part = 1
        self.writer: ClipWriter | None = None
        self.waiting_for_space = False  # this part is reported missing until space returns
        self.held: deque[Item] = deque()  # packets kept in memory while the disk is full
        self.held_bytes = 0
        self.dropped_s = 0.0  # video the hold limit made us drop (oldest first)
        self.backlog: list[Item] = []  # pre-roll from the ring, written first
        self.inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()  # live packets after it
        self.unsubscribe: Callable[[], None] = lambda: None

    def next_item(self) -> Item | None:
        """The next packet to write, pre-roll first."""
        if self.backlog:
            return self.backlog.pop(0)
        try:
            return self.inbox.get_nowait()
        except queue.Empty:
            return None


class ClipRecorder(threading.Thread):
    """Writes the clips of every alert; ``on_ready`` is called (in this thread) per part."""

    def __init__(
        self,
        data_dir: Path,
        rings: Mapping[str, PacketRing],
        settings: ClipSettings,
        on_ready: Callable[[ClipReady], None],
        stop: threading.Event,
        disk: DiskGuard | None = None,
        on_missing: MissingSink | None = None,
    ) -> None:
        super().__init__(name="clip-recorder", daemon=True)
        self._disk = disk
        self._on_missing = on_missing
        self._data_dir = data_dir
        self._rings = dict(rings)
        self._settings = settings
        self._on_ready = on_ready
        self._stop_event = stop
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._stranded: list[Path] = []
        self.failed = 0

    def begin(
        self, alert_id: str, camera: str, started_at: float, first_part: int = 1
    ) -> int | None:
        """Start the clip of a new (or reopened) alert; pre-roll comes from the ring. A clip
        still in its post-roll simply goes on. Returns the part being recorded (None: the
        camera keeps no packets)."""
        ring = self._rings.get(camera)
        if ring is None:
            log.warning("camera %s keeps no packets (buffer_seconds: 0): no clip", camera)
            return None
        with self._lock:
            running = self._jobs.get(alert_id)
            if running is not None:
                running.end = None
                return running.part
        job = _Job(alert_id, camera, started_at)
        job.part = first_part
        snapshot, job.unsubscribe = ring.subscribe(lambda p, t: job.inbox.put((p, t)))
        if snapshot is not None:
            since = started_at - self._settings.pre_roll_s
            job.backlog = [(p, snapshot.template) for p in _pre_roll(snapshot.packets, since)]
        with self._lock:
            self._jobs[alert_id] = job
        return job.part

    def end(self, alert_id: str, ended_at: float) -> None:
        """The incident ended: finish the clip after the post-roll."""
        with self._lock:
            job = self._jobs.get(alert_id)
            if job is not None:
                job.end = ended_at

    @property
    def active(self) -> int:
        """Clips being written."""
        with self._lock:
            return len(self._jobs)

    def stranded(self) -> list[Path]:
        """Recordings a full disk cut short, still on disk (finished once space returns)."""
        with self._lock:
            self._stranded = [path for path in self._stranded if path.exists()]
            return list(self._stranded)

    def _strand(self, writer: ClipWriter) -> None:
        writer.abort(keep_partial=True)
        with self._lock:
            self._stranded.append(writer.partial)

    def run(self) -> None:
        """Write until stop, then finish every open clip with what it has."""
        while not self._stop_event.wait(0.25):
            self._cycle(time.time(), final=False)
        self._cycle(time.time(), final=True)

    def _cycle(self, now: float, final: bool) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            try:
                done = self._advance(job, now, final)
            except (av.error.FFmpegError, OSError, ValueError) as error:
                if is_disk_full(error) and not final:
                    self._out_of_space(job, error)
                    with self._lock:
                        retired = self._jobs.get(job.alert_id) is not job
                    if retired:  # it failed while finishing its last part
                        job.unsubscribe()
                    continue
                self.failed += 1
                log.error("clip of alert %s failed: %s", job.alert_id, error)
                if job.writer is not None:
                    job.writer.abort()
                    job.writer = None
                done = True
            if done:
                job.unsubscribe()
                self._forget(job)

    def _advance(self, job: _Job, now: float, final: bool) -> bool:
        """Write what arrived; True when the job is finished."""
        post_roll_end = None if job.end is None else job.end + self._settings.post_roll_s
        complete = False  # a packet after the post-roll came: nothing more belongs to the clip
        while (item := job.next_item()) is not None:
            packet, template = item
            if post_roll_end is not None and packet.wall_time > post_roll_end:
                complete = True
                continue
            self._write(job, packet, template)
        if job.held:
            if final:
                log.error(
                    "clip part %d of alert %s lost at stop: the disk stayed full (%.1f s of "
                    "video held in memory)",
                    job.part,
                    job.alert_id,
                    _span(job.held),
                )
            elif not self._flush_held(job):
                return False  # the disk is still full: keep holding
        ended = post_roll_end is not None and now >= post_roll_end + FINISH_GRACE_S
        if final or complete or ended:
            self._retire(job)
            return True
        return False

    def _out_of_space(self, job: _Job, error: BaseException) -> None:
        """The disk filled mid-clip: keep what the recording holds (finished when space
        returns), report the part missing, go on in a new part once space is back."""
        self.failed += 1
        if self._disk is not None:
            self._disk.release_reserve()
        reason = self._disk.describe() if self._disk is not None else str(error)
        reason += f" while recording clip part {job.part}"
        log.error("clip of alert %s: %s (%s)", job.alert_id, reason, error)
        if job.writer is not None:
            self._strand(job.writer)
            job.writer = None
        self._report_missing(job, reason)
        job.part += 1

    def _report_missing(self, job: _Job, reason: str) -> None:
        if self._on_missing is not None:
            self._on_missing(job.alert_id, job.part, reason)

    def _forget(self, job: _Job) -> None:
        """Drop ``job`` from the running ones (not a newer job of the same alert)."""
        with self._lock:
            if self._jobs.get(job.alert_id) is job:
                del self._jobs[job.alert_id]

    def _retire(self, job: _Job) -> None:
        """Finish the job's last part. It leaves the running jobs first, so an alert reopened
        as soon as its clip is announced starts a new part instead of reviving this one."""
        self._forget(job)
        self._finish(job)

    def _write(self, job: _Job, packet: StoredPacket, template: StreamTemplate) -> None:
        writer = job.writer
        if writer is not None and packet.keyframe:
            new_stream = writer.template is not template or not writer.in_order(packet)
            too_long = writer.seconds >= self._settings.max_seconds
            if new_stream or too_long:  # continue in a new part from this keyframe
                self._finish(job)
                job.part += 1
                writer = None
        if writer is None:
            if job.held or not self._room_for(job, packet.keyframe):
                self._hold(job, (packet, template))
                return
            if not packet.keyframe:
                return
            writer = self._open_part(job, template, packet.wall_time)
        writer.add(packet)

    def _open_part(self, job: _Job, template: StreamTemplate, first_wall: float) -> ClipWriter:
        name = "clip.mp4" if job.part == 1 else f"clip-{job.part}.mp4"
        path = self._data_dir / "evidence" / job.alert_id / name
        job.writer = ClipWriter(path, template, first_wall)
        return job.writer

    def _hold(self, job: _Job, item: Item) -> None:
        """Keep a packet in memory while the disk is full (from a keyframe on; beyond the
        limit the oldest group of pictures goes)."""
        packet = item[0]
        if not job.held and not packet.keyframe:
            return
        job.held.append(item)
        job.held_bytes += len(packet.data)
        while job.held_bytes > self._settings.hold_bytes and len(job.held) > 1:
            first = job.held.popleft()
            job.held_bytes -= len(first[0].data)
            while job.held and not job.held[0][0].keyframe:
                gone = job.held.popleft()
                job.held_bytes -= len(gone[0].data)
            job.dropped_s += (job.held[0][0].wall_time if job.held else packet.wall_time) - (
                first[0].wall_time
            )

    def _flush_held(self, job: _Job) -> bool:
        """Write the held packets once the disk has room again; False while it has none."""
        if not self._room_for(job, True):
            return False
        held, job.held, job.held_bytes = job.held, deque(), 0
        if job.dropped_s:
            log.warning(
                "clip part %d of alert %s starts %.1f s late: the disk stayed full longer than "
                "%d MB of video could be held",
                job.part,
                job.alert_id,
                job.dropped_s,
                self._settings.hold_bytes >> 20,
            )
        log.info(
            "clip part %d of alert %s: disk space is back, writing the %.1f s held in memory",
            job.part,
            job.alert_id,
            _span(held),
        )
        for packet, template in held:
            writer = job.writer or self._open_part(job, template, packet.wall_time)
            writer.add(packet)
        return True

    def _room_for(self, job: _Job, keyframe: bool) -> bool:
        """False (the part reported missing once) while the disk is too full for evidence;
        checked at keyframes only (a part starts at one)."""
        if self._disk is None:
            return True
        if not keyframe:
            return not job.waiting_for_space
        try:
            self._disk.check()
        except OSError as error:
            if not job.waiting_for_space:
                job.waiting_for_space = True
                self._report_missing(job, f"{error}; clip part {job.part} waits for space")
            return False
        job.waiting_for_space = False
        return True

    def _finish(self, job: _Job) -> None:
        writer, job.writer = job.writer, None
        if writer is None or writer.packets == 0:
            if writer is not None:
                writer.abort()
            return
        try:
            sha256 = writer.close()
        except OSError as error:
            if is_disk_full(error):
                self._strand(writer)  # finished once space returns
            raise
        relative = writer.path.relative_to(self._data_dir).as_posix()
        ready = ClipReady(
            job.alert_id,
            job.part,
            Evidence(relative, sha256),
            writer.first_wall or job.start,
            writer.last_wall or job.start,
            writer.transcoding,
        )
        log.info(
            "clip %s of alert %s ready (%.1f s%s%s)",
            relative,
            job.alert_id,
            ready.ended_at - ready.started_at,
            ", re-encoded to H.264" if writer.transcoding else "",
            f", {writer.skipped} repeated or out-of-order packet(s) left out"
            if writer.skipped
            else "",
        )
        self._on_ready(ready)
        writer.discard_partial()


def _pre_roll(packets: tuple[StoredPacket, ...], since: float) -> list[StoredPacket]:
    """Packets from the last keyframe at or before ``since`` (or the first keyframe)."""
    start = 0
    for index, packet in enumerate(packets):
        if packet.keyframe and packet.wall_time <= since:
            start = index
    return list(packets[start:])


def _span(items: deque[Item]) -> float:
    """Seconds of video from the first to the last held packet."""
    return items[-1][0].wall_time - items[0][0].wall_time if items else 0.0
