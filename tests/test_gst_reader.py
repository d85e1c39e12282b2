"""Camera readers against GStreamer's RTSP server: UDP and TCP, credentials, H.265, MJPEG and a
resolution change — each with a clear status while a healthy camera keeps its frame rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from ingest.camera_reader import CameraReader, ReaderSettings, Watchdog
from ingest.status import CameraState
from tests.gst import GstServerInfo, gst_rtsp_server, require_gst
from tests.media import h264_clip, h265_clip, mjpeg_clip, resolution_change_ts

pytestmark = pytest.mark.integration
USER, PASSWORD = "viewer", "gst-Secret-9"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GstServerInfo]:
    require_gst()
    media = tmp_path_factory.mktemp("gst-media")
    mounts = {
        "h264": h264_clip(media, "h264.mp4", fps=25, seconds=6.0),
        "h265": h265_clip(media, seconds=4.0),
        "mjpeg": mjpeg_clip(media, seconds=4.0),
        "resize": resolution_change_ts(media),
    }
    with gst_rtsp_server(mounts, user=USER, password=PASSWORD) as info:
        yield info


def start(readers: list[CameraReader], stop: threading.Event) -> None:
    for reader in readers:
        reader.start()
    Watchdog(readers, stop).start()


def wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_reads_over_tcp_and_udp(server: GstServerInfo, transport: str) -> None:
    stop = threading.Event()
    reader = CameraReader(
        ReaderSettings("cam", server.url("h264", USER, PASSWORD), transport=transport), stop
    )
    with ExitStack() as cleanup:
        cleanup.callback(stop.set)
        start([reader], stop)
        assert wait_until(lambda: reader.status.state is CameraState.ONLINE, 10), reader.status
        time.sleep(1.0)
        before = reader.status.frames
        time.sleep(3.0)
        fps = (reader.status.frames - before) / 3.0
    assert 20 <= fps <= 30, (transport, fps)


def test_faults_and_codecs_beside_a_healthy_camera(server: GstServerInfo) -> None:
    stop = threading.Event()
    readers = {
        "healthy": ReaderSettings("healthy", server.url("h264", USER, PASSWORD)),
        "badauth": ReaderSettings("badauth", server.url("h264", USER, "wrong-password")),
        "hevc": ReaderSettings("hevc", server.url("h265", USER, PASSWORD)),
        "mjpeg": ReaderSettings("mjpeg", server.url("mjpeg", USER, PASSWORD)),
        "resize": ReaderSettings("resize", server.url("resize", USER, PASSWORD)),
    }
    cams = {name: CameraReader(settings, stop) for name, settings in readers.items()}
    widths: set[int] = set()
    with ExitStack() as cleanup:
        cleanup.callback(stop.set)
        start(list(cams.values()), stop)
        assert wait_until(lambda: cams["healthy"].status.state is CameraState.ONLINE, 10)
        time.sleep(1.0)
        before = cams["healthy"].status.frames
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            status = cams["resize"].status
            if status.width:
                widths.add(status.width)
            time.sleep(0.05)
        fps = (cams["healthy"].status.frames - before) / 5.0
        statuses = {name: cam.status for name, cam in cams.items()}
    for cam in cams.values():
        cam.join(15)
    assert 20 <= fps <= 30, fps
    bad = statuses["badauth"]
    assert bad.state is CameraState.OFFLINE and bad.last_error is not None
    assert "401 Unauthorized" in bad.last_error and "wrong-password" not in bad.last_error
    assert (statuses["hevc"].codec, statuses["hevc"].state) == ("hevc", CameraState.ONLINE)
    assert (statuses["mjpeg"].codec, statuses["mjpeg"].state) == ("mjpeg", CameraState.ONLINE)
    assert {640, 320} <= widths, widths
    assert all(not cam.is_alive() for cam in cams.values())
