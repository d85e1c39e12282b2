"""Evidence clips from live packet rings: pre-roll, post-roll, parts, re-encoding, digests."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import av
import pytest

from alerts.clip_recorder import ClipReady, ClipRecorder, ClipSettings
from ingest.camera_reader import CameraReader, DecodePolicy, Pacing, ReaderSettings
from ingest.packet_ring import PacketRing, RingSnapshot
from tests.media import h264_clip, h265_clip, write_clip
from tests.servers import rtsp_server

pytestmark = pytest.mark.integration


@contextmanager
def recorder_on(
    settings: ReaderSettings, clips: ClipSettings, data_dir: Path
) -> Iterator[tuple[ClipRecorder, list[ClipReady], threading.Event]]:
    stop = threading.Event()
    reader = CameraReader(settings, stop)
    ready: list[ClipReady] = []
    arrived = threading.Event()

    def on_ready(item: ClipReady) -> None:
        ready.append(item)
        arrived.set()

    assert reader.ring is not None
    rings: dict[str, PacketRing] = {settings.name: reader.ring}
    recorder = ClipRecorder(data_dir, rings, clips, on_ready, stop)
    reader.start()
    recorder.start()
    # The camera must deliver before a test starts its clock (a loaded CI machine is slow to
    # connect); the tests then sleep for the pre-roll they need.
    deadline = time.monotonic() + 30
    while reader.ring.snapshot() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield recorder, ready, arrived
    finally:
        stop.set()
        recorder.join(10)
        reader.join(10)


def probe(path: Path) -> tuple[str, int, float, bool]:
    """(codec, frames, seconds, first frame is a keyframe)."""
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
        frames = list(container.decode(video=0))
    return codec, len(frames), float(frames[-1].time or 0.0), bool(frames[0].key_frame)


def faststart(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("clip-media")
    h264_clip(directory, "cam.mp4", fps=25, seconds=20.0, gop=25)
    return directory


def test_clip_spans_pre_roll_to_post_roll(media: Path, tmp_path: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), buffer_seconds=10.0)
        clips = ClipSettings(pre_roll_s=5.0, post_roll_s=2.0, max_seconds=120.0)
        with recorder_on(settings, clips, tmp_path) as (recorder, ready, arrived):
            time.sleep(7.0)  # the ring fills
            started = time.time()
            assert recorder.begin("A1", "cam", started)
            time.sleep(3.0)
            recorder.end("A1", time.time())
            assert arrived.wait(15), "clip never finished"
    (clip,) = ready
    path = tmp_path / clip.evidence.path
    codec, frames, seconds, keyframe_first = probe(path)
    assert codec == "h264" and keyframe_first and not clip.transcoded
    assert 5.0 + 3.0 + 2.0 - 0.5 <= seconds <= 5.0 + 3.0 + 2.0 + 1.5, seconds  # + up to one GOP
    assert started - 6.1 <= clip.started_at <= started - 4.9  # keyframe at or before pre-roll
    assert frames >= 25 * 9
    assert hashlib.sha256(path.read_bytes()).hexdigest() == clip.evidence.sha256
    assert faststart(path)


def test_long_incident_continues_in_parts(media: Path, tmp_path: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), buffer_seconds=3.0)
        clips = ClipSettings(pre_roll_s=1.0, post_roll_s=0.5, max_seconds=2.0)
        with recorder_on(settings, clips, tmp_path) as (recorder, ready, _):
            time.sleep(3.0)
            recorder.begin("A2", "cam", time.time())
            time.sleep(6.0)
            recorder.end("A2", time.time())
            deadline = time.monotonic() + 10
            while recorder.active and time.monotonic() < deadline:
                time.sleep(0.1)
    parts = sorted(item.part for item in ready)
    assert parts == list(range(1, len(parts) + 1)) and len(parts) >= 3
    for item in ready:
        codec, _, seconds, keyframe_first = probe(tmp_path / item.evidence.path)
        assert codec == "h264" and keyframe_first and seconds <= 3.1


def test_hevc_camera_clip_is_reencoded_to_h264(tmp_path: Path) -> None:
    source = h265_clip(tmp_path, seconds=4.0)
    settings = ReaderSettings("hevc", str(source), buffer_seconds=5.0)  # a file played live
    clips = ClipSettings(pre_roll_s=1.0, post_roll_s=1.0)
    with recorder_on(settings, clips, tmp_path / "data") as (recorder, ready, arrived):
        time.sleep(1.5)
        recorder.begin("A3", "hevc", time.time())
        time.sleep(1.0)
        recorder.end("A3", time.time())
        assert arrived.wait(15)
    (clip,) = ready
    codec, frames, _, keyframe_first = probe(tmp_path / "data" / clip.evidence.path)
    assert clip.transcoded and codec == "h264" and keyframe_first and frames >= 40


def test_open_clips_are_finished_at_shutdown(media: Path, tmp_path: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), buffer_seconds=5.0)
        with recorder_on(settings, ClipSettings(), tmp_path) as (recorder, ready, _):
            time.sleep(3.0)
            recorder.begin("A4", "cam", time.time())
            time.sleep(2.0)
        # leaving the block stops the recorder with the incident still going
    (clip,) = ready
    assert probe(tmp_path / clip.evidence.path)[1] > 25


def test_camera_without_ring_gets_no_clip(tmp_path: Path) -> None:
    recorder = ClipRecorder(tmp_path, {}, ClipSettings(), lambda _: None, threading.Event())
    assert not recorder.begin("A5", "nowhere", time.time())


def _file_snapshot(source: Path) -> RingSnapshot:
    """Every packet of a video file, as a camera's ring holds them."""
    stop = threading.Event()
    reader = CameraReader(
        ReaderSettings(
            "f",
            str(source),
            pacing=Pacing.FAST,
            loop=False,
            buffer_seconds=30.0,
            decode=DecodePolicy.NONE,
        ),
        stop,
    )
    reader.start()
    assert reader.finished.wait(10)
    assert reader.ring is not None
    snapshot = reader.ring.snapshot()
    assert snapshot is not None
    return snapshot


def test_packets_with_backward_timestamps_are_skipped_not_fatal(tmp_path: Path) -> None:
    source = h264_clip(tmp_path, seconds=2.0)
    snapshot = _file_snapshot(source)
    packets = list(snapshot.packets)
    packets.insert(30, packets[20])  # a repeated, older packet mid-stream
    writer = write_clip(snapshot.template, packets, tmp_path / "clip.mp4")
    assert writer.skipped == 1
    assert probe(tmp_path / "clip.mp4")[1] == len(snapshot.packets)


def test_reopened_alert_gets_the_next_part(media: Path, tmp_path: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), buffer_seconds=3.0)
        clips = ClipSettings(pre_roll_s=1.0, post_roll_s=0.5)
        with recorder_on(settings, clips, tmp_path) as (recorder, ready, arrived):
            time.sleep(2.5)
            recorder.begin("A7", "cam", time.time())
            time.sleep(1.5)
            recorder.end("A7", time.time())
            assert arrived.wait(10)
            arrived.clear()
            recorder.begin("A7", "cam", time.time(), first_part=2)  # reopened later
            time.sleep(1.5)
            recorder.end("A7", time.time())
            assert arrived.wait(10)
    assert [(item.part, Path(item.evidence.path).name) for item in ready] == [
        (1, "clip.mp4"),
        (2, "clip-2.mp4"),
    ]


def test_reopened_during_post_roll_continues_the_same_clip(media: Path, tmp_path: Path) -> None:
    with rtsp_server(media) as server:
        settings = ReaderSettings("cam", server.url("cam.mp4"), buffer_seconds=3.0)
        clips = ClipSettings(pre_roll_s=1.0, post_roll_s=2.0)
        with recorder_on(settings, clips, tmp_path) as (recorder, ready, arrived):
            time.sleep(2.5)
            recorder.begin("A8", "cam", time.time())
            time.sleep(1.0)
            recorder.end("A8", time.time())
            time.sleep(0.5)
            recorder.begin("A8", "cam", time.time(), first_part=2)  # back within the post-roll
            time.sleep(1.0)
            recorder.end("A8", time.time())
            assert arrived.wait(10)
    (clip,) = ready
    assert clip.part == 1 and clip.ended_at - clip.started_at >= 1.0 + 0.5 + 1.0 + 2.0 - 0.3


def test_a_repeated_frame_is_dropped_so_browsers_play_the_clip(tmp_path: Path) -> None:
    """An RTSP source that sends one frame twice (same presentation time, the demuxer's guessed
    decode time moving on) — seen from a loaded RTSP server: FFmpeg decodes past it, but
    Chromium stops the whole clip with a decode error. The writer keeps the first copy."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch, wait_until_playing

    source = h264_clip(tmp_path, seconds=3.0, gop=25, bframes=3)
    snapshot = _file_snapshot(source)
    packets = list(snapshot.packets)
    first_p, after = packets[1], packets[2]  # the repeat seen was of the P after the keyframe
    assert first_p.dts is not None and after.dts is not None and first_p.pts > first_p.dts
    assert after.dts - first_p.dts > 1
    packets.insert(2, replace(first_p, dts=first_p.dts + 1))
    writer = write_clip(snapshot.template, packets, tmp_path / "clip.mp4")
    assert writer.skipped == 1
    assert probe(tmp_path / "clip.mp4")[1] == len(snapshot.packets)
    page_file = tmp_path / "play.html"
    page_file.write_text('<video id="v" src="clip.mp4" muted autoplay></video>')
    with sync_playwright() as driver:
        browser = launch(driver)
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            state = wait_until_playing(page, "v", past_s=0.5)
        finally:
            browser.close()
    assert state["width"] == 640
