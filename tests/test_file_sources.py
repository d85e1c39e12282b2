"""Camera readers on local files: pacing, replay without drops, looping, downscale, decode policy,
and broken files (real H.264 made on the fly)."""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

from ingest.camera_reader import CameraReader, DecodePolicy, Pacing, ReaderSettings
from ingest.status import CameraState
from tests.media import audio_only, h264_clip, resolution_change_ts, truncated, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h264_clip(tmp_path_factory.mktemp("files"), fps=25, seconds=2.0, gop=25)


def read_all(settings: ReaderSettings, timeout: float = 20.0) -> tuple[CameraReader, list[int]]:
    """Run a reader, taking every frame it offers until the file ends."""
    stop = threading.Event()
    reader = CameraReader(settings, stop)
    widths: list[int] = []
    reader.start()
    last = -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = reader.finished.is_set()  # read before taking: no frame comes after it
        frame = reader.latest.take_newer(last)
        if frame is None:
            if finished:
                break
            time.sleep(0.002)
            continue
        last = frame.index
        widths.append(frame.size[0])
    stop.set()
    reader.join(5)
    return reader, widths


def test_fast_replay_delivers_every_frame(clip: Path) -> None:
    settings = ReaderSettings("file", str(clip), pacing=Pacing.FAST, loop=False)
    reader, widths = read_all(settings)
    assert len(widths) == 50
    assert reader.status.dropped == 0
    assert reader.status.last_error == "end of file"


def test_realtime_pacing_follows_the_frame_rate(clip: Path) -> None:
    settings = ReaderSettings("file", f"file://{clip}", loop=False)
    started = time.monotonic()
    reader, _ = read_all(settings)
    elapsed = time.monotonic() - started
    assert 1.7 <= elapsed <= 4.0  # a 2 s clip plays in about 2 s
    assert reader.status.frames == 50


def test_looping_file_keeps_going(clip: Path) -> None:
    stop = threading.Event()
    reader = CameraReader(ReaderSettings("loop", str(clip), pacing=Pacing.FAST), stop)
    reader.start()
    last = -1
    deadline = time.monotonic() + 20
    while reader.status.frames < 120 and time.monotonic() < deadline:
        frame = reader.latest.take_newer(last)
        last = frame.index if frame else last
        time.sleep(0.001)
    stop.set()
    reader.join(5)
    assert reader.status.frames >= 120 and reader.status.reconnects >= 2


def test_downscale_at_decode(clip: Path) -> None:
    settings = ReaderSettings("small", str(clip), pacing=Pacing.FAST, loop=False, max_width=320)
    _, widths = read_all(settings)
    assert widths and set(widths) == {320}


def test_keyframes_only_policy(clip: Path) -> None:
    settings = ReaderSettings(
        "keys", str(clip), pacing=Pacing.FAST, loop=False, decode=DecodePolicy.KEYFRAMES
    )
    _, widths = read_all(settings)
    assert len(widths) == 2  # two seconds, one keyframe per second


def test_resolution_change_is_followed(tmp_path: Path) -> None:
    source = resolution_change_ts(tmp_path)
    reader, widths = read_all(ReaderSettings("res", str(source), pacing=Pacing.FAST, loop=False))
    assert {640, 320} <= set(widths)
    assert reader.status.width == 320


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (audio_only, "no video track"),
        (truncated, "invalid data"),
        (lambda d: d / "absent.mp4", "file not found"),
    ],
    ids=["audio only", "truncated", "missing"],
)
def test_broken_files_get_a_clear_status(tmp_path: Path, make: object, words: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    stop = threading.Event()
    reader = CameraReader(ReaderSettings("bad", str(path), loop=False), stop)
    reader.start()
    deadline = time.monotonic() + 10
    while reader.status.state is not CameraState.OFFLINE and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(5)
    status = reader.status
    assert status.state is CameraState.OFFLINE
    assert status.last_error is not None and words in status.last_error
    assert not reader.is_alive()


def test_ring_from_a_file_remuxes_to_a_playable_mp4(clip: Path, tmp_path: Path) -> None:
    settings = ReaderSettings("ring", str(clip), pacing=Pacing.FAST, loop=False, buffer_seconds=1.0)
    reader, _ = read_all(settings)
    assert reader.ring is not None
    snapshot = reader.ring.snapshot()
    assert snapshot is not None and snapshot.packets[0].keyframe
    out = tmp_path / "clip.mp4"
    write_clip(snapshot.template, snapshot.packets, out)
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == len(snapshot.packets)


def test_http_stream(clip: Path) -> None:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(clip.parent))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/{clip.name}"
        try:
            reader, widths = read_all(ReaderSettings("web", url), timeout=4)
        finally:
            server.shutdown()
    assert len(widths) > 10
    assert reader.status.codec == "h264"
