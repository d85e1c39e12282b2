"""Camera readers against real RTSP servers: outages, hangs, faults, the ring buffer."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import av
import pytest

from ingest.camera_reader import CameraReader, DecodePolicy, ReaderSettings, Watchdog
from ingest.status import CameraState, CameraStatus
from tests.media import garbage_server, h264_clip, write_clip
from tests.servers import free_port, rtsp_server

pytestmark = pytest.mark.integration


class Recorder:
    """Status changes with their times, as a listener sees them."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, CameraStatus]] = []
        self._cond = threading.Condition()

    def __call__(self, status: CameraStatus) -> None:
        with self._cond:
            self.changes.append((time.monotonic(), status))
            self._cond.notify_all()

    def wait_for(self, state: CameraState, after: float, timeout: float) -> float | None:
        """Seconds from ``after`` until ``state`` was reported (None on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, status in self.changes:
                    if at >= after and status.state is state:
                        return at - after
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


@contextmanager
def reading(settings: ReaderSettings) -> Iterator[tuple[CameraReader, Recorder]]:
    stop = threading.Event()
    recorder = Recorder()
    reader = CameraReader(settings, stop, on_status=recorder)
    reader.start()
    Watchdog([reader], stop).start()
    try:
        yield reader, recorder
    finally:
        stop.set()
        reader.join(15)
        assert not reader.is_alive()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("rtsp-media")
    h264_clip(directory, "cam.mp4", width=640, height=360, fps=25, seconds=10.0, gop=25)
    return directory


def frame_rate(reader: CameraReader, seconds: float) -> float:
    """Frames per second decoded over ``seconds``, after a second to settle the start burst."""
    time.sleep(1.0)
    before = reader.status.frames
    time.sleep(seconds)
    return (reader.status.frames - before) / seconds


def open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def native_threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


def test_reads_and_counts(media: Path) -> None:
    with (
        rtsp_server(media) as server,
        reading(ReaderSettings("cam", server.url("cam.mp4"))) as (
            reader,
            recorder,
        ),
    ):
        assert recorder.wait_for(CameraState.ONLINE, 0.0, 10) is not None
        fps = frame_rate(reader, 3.0)
        status = reader.status
    assert 20 <= fps <= 30
    assert status.codec == "h264" and (status.width, status.height) == (640, 360)
    assert status.bitrate_kbps > 0 and status.decode_ms > 0


def test_kill_and_restart_twenty_times(media: Path) -> None:
    port = free_port()
    worst_offline = worst_back = 0.0
    baseline: tuple[int, int, int] | None = None
    with reading(ReaderSettings("cam", f"rtsp://127.0.0.1:{port}/cam.mp4?play_count=0")) as (
        reader,
        recorder,
    ):
        for cycle in range(21):
            with rtsp_server(media, port=port) as server:
                returned = time.monotonic()
                back = recorder.wait_for(CameraState.ONLINE, returned, 15)
                assert back is not None, f"cycle {cycle}: not back online"
                worst_back = max(worst_back, back)
                if cycle == 0:  # after the first connection: threads and fds in steady use
                    baseline = (open_fds(), threading.active_count(), native_threads())
                killed = time.monotonic()
                os.kill(server.pid, signal.SIGKILL)
                offline = recorder.wait_for(CameraState.OFFLINE, killed, 10)
                assert offline is not None, f"cycle {cycle}: never offline"
                worst_offline = max(worst_offline, offline)
        after = (open_fds(), threading.active_count(), native_threads())
        reconnects = reader.status.reconnects
    assert baseline is not None
    assert worst_offline <= 3.0, worst_offline
    assert worst_back <= 5.0, worst_back
    assert after[0] <= baseline[0] + 2, (baseline, after)  # file descriptors
    assert after[1] == baseline[1], (baseline, after)  # Python threads
    assert after[2] <= baseline[2] + 2, (baseline, after)  # native (decoder) threads
    assert reconnects >= 20


def test_hung_server_is_stalled_then_recovers(media: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), stall_timeout_s=5.0)
        with reading(settings) as (_reader, recorder):
            assert recorder.wait_for(CameraState.ONLINE, 0.0, 10) is not None
            hung = time.monotonic()
            os.kill(server.pid, signal.SIGSTOP)
            try:
                stalled = recorder.wait_for(CameraState.STALLED, hung, 12)
            finally:
                resumed = time.monotonic()
                os.kill(server.pid, signal.SIGCONT)
            back = recorder.wait_for(CameraState.ONLINE, resumed, 30)
            states = [s.state for _, s in recorder.changes if _ >= hung]
    assert stalled is not None and stalled <= 10.0, states
    assert back is not None, states


@pytest.mark.parametrize(
    ("url_of", "words"),
    [
        (lambda server, _g: server.url("missing.mp4"), "404"),
        (lambda _s, _g: f"rtsp://127.0.0.1:{free_port()}/cam.mp4", "connection refused"),
        (lambda _s, garbage: f"rtsp://127.0.0.1:{garbage}/cam.mp4", "invalid data"),
    ],
    ids=["wrong path", "port closed", "garbage bytes"],
)
def test_faults_get_a_clear_status_while_others_keep_their_rate(
    media: Path, url_of: object, words: str
) -> None:
    with rtsp_server(media) as server, garbage_server() as garbage:
        healthy = ReaderSettings("healthy", server.url("cam.mp4"))
        faulty = ReaderSettings("faulty", url_of(server, garbage), backoff_initial_s=0.2)  # type: ignore[operator]
        with reading(healthy) as (good, good_events), reading(faulty) as (bad, bad_events):
            assert good_events.wait_for(CameraState.ONLINE, 0.0, 10) is not None
            assert bad_events.wait_for(CameraState.OFFLINE, 0.0, 15) is not None
            fps = frame_rate(good, 3.0)
            status = bad.status
    assert status.state is CameraState.OFFLINE
    assert status.last_error is not None and words in status.last_error, status
    assert 20 <= fps <= 30, fps


def test_ring_after_thirty_seconds_remuxes(media: Path, tmp_path: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), buffer_seconds=10.0)
        with reading(settings) as (reader, recorder):
            assert recorder.wait_for(CameraState.ONLINE, 0.0, 10) is not None
            time.sleep(30)
            assert reader.ring is not None
            snapshot = reader.ring.snapshot()
    assert snapshot is not None
    assert snapshot.packets[0].keyframe
    assert 9.5 <= snapshot.seconds <= 11.5, snapshot.seconds
    clip = tmp_path / "preroll.mp4"
    write_clip(snapshot.template, snapshot.packets, clip)
    with av.open(str(clip)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == len(snapshot.packets)  # every packet decoded, none refused
    assert frames[0].key_frame and frames[0].time == 0.0
    assert frames[-1].time == pytest.approx(snapshot.seconds, abs=0.05)


def test_packets_only_reader_for_the_record_stream(media: Path) -> None:
    settings = ReaderSettings(
        "cam", "", decode=DecodePolicy.NONE, buffer_seconds=3.0, stall_timeout_s=5.0
    )
    with rtsp_server(media) as server:
        settings = replace(settings, url=server.url("cam.mp4"))
        with reading(settings) as (reader, recorder):
            assert recorder.wait_for(CameraState.ONLINE, 0.0, 10) is not None
            time.sleep(4.0)
            status = reader.status
            assert reader.ring is not None
            snapshot = reader.ring.snapshot()
    assert status.state is CameraState.ONLINE  # packets keep it online without decoding
    assert status.frames == 0 and status.bitrate_kbps > 0
    assert snapshot is not None and snapshot.seconds >= 2.9
