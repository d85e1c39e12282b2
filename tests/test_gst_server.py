"""The GStreamer RTSP test server and the fault media: what PyAV sees from each."""

from __future__ import annotations

import errno
import itertools
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import pytest

from sitewatch.demo.rtsp import port_open
from tests.gst import GstServerInfo, gst_rtsp_server, require_gst
from tests.media import (
    audio_only,
    garbage_server,
    h264_clip,
    h265_clip,
    mjpeg_clip,
    resolution_change_ts,
    truncated,
    truncated_ts,
)
from tests.servers import free_port

pytestmark = pytest.mark.integration

FPS = 25
USER, PASSWORD = "admin", "pa ss:w@rd"  # characters that need percent-encoding in a URL
TIMEOUT = (5.0, 5.0)


@dataclass(frozen=True)
class Shot:
    width: int
    height: int
    pts: int | None


def read(
    url: str,
    count: int,
    transport: str = "tcp",
    timeout: tuple[float, float] = TIMEOUT,
    after_five: Callable[[], None] | None = None,
) -> list[Shot]:
    """Decode up to ``count`` video frames of ``url``; ``after_five`` runs after the 5th."""
    shots: list[Shot] = []
    options = {"rtsp_transport": transport}
    with av.open(url, options=options, timeout=timeout) as container:
        for frame in container.decode(video=0):
            shots.append(Shot(frame.width, frame.height, frame.pts))
            if len(shots) == 5 and after_five is not None:
                after_five()
            if len(shots) >= count:
                break
    return shots


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_gst()
    return tmp_path_factory.mktemp("gst-media")


@pytest.fixture(scope="module")
def clips(media_dir: Path) -> dict[str, Path]:
    return {
        "h264": h264_clip(media_dir, seconds=2),
        "short": h264_clip(media_dir, name="short.mp4", seconds=1),
        "short_ts": h264_clip(media_dir, name="short.ts", seconds=1),
        "h265": h265_clip(media_dir, seconds=2),
        "mjpeg": mjpeg_clip(media_dir, seconds=2),
        "res": resolution_change_ts(media_dir, fps=FPS),
        "audio": audio_only(media_dir, seconds=2),
    }


@pytest.fixture(scope="module")
def server(clips: dict[str, Path]) -> Iterator[GstServerInfo]:
    with gst_rtsp_server(clips) as info:
        yield info


@pytest.fixture(scope="module")
def auth_server(clips: dict[str, Path]) -> Iterator[GstServerInfo]:
    with gst_rtsp_server({"cam": clips["h264"]}, user=USER, password=PASSWORD) as info:
        yield info


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_h264_streams_over_tcp_and_udp(server: GstServerInfo, transport: str) -> None:
    shots = read(server.url("h264"), 12, transport)
    assert len(shots) == 12
    assert {(s.width, s.height) for s in shots} == {(640, 360)}


@pytest.mark.parametrize(("mount", "codec"), [("h265", "hevc"), ("mjpeg", "mjpeg")])
def test_h265_and_mjpeg_stream(server: GstServerInfo, mount: str, codec: str) -> None:
    with av.open(server.url(mount), options={"rtsp_transport": "tcp"}, timeout=TIMEOUT) as c:
        assert c.streams.video[0].codec_context.name == codec
        frames = list(itertools.islice(c.decode(video=0), 10))
    assert len(frames) == 10
    assert (frames[-1].width, frames[-1].height) == (640, 360)


@pytest.mark.parametrize("mount", ["short", "short_ts"])
def test_loops_with_timestamps_running_on(server: GstServerInfo, mount: str) -> None:
    shots = read(server.url(mount), FPS + 10)  # the clip has FPS frames
    assert len(shots) == FPS + 10
    stamps = [s.pts for s in shots if s.pts is not None]  # H.264: the first has no pts
    assert stamps == sorted(set(stamps))  # MP4 exactly one frame apart; TS may skip one


def test_without_loop_the_stream_ends_with_the_file(clips: dict[str, Path]) -> None:
    with gst_rtsp_server({"cam": clips["short"]}, loop=False) as once:
        shots = read(once.url("cam"), 10 * FPS)
    assert len(shots) == FPS  # then the iteration just ends, no exception


def test_resolution_change_reaches_the_client(server: GstServerInfo) -> None:
    shots = read(server.url("res"), 2 * FPS + 5)
    sizes = [(s.width, s.height) for s in shots]
    assert sizes[0] == (640, 360)
    assert sizes[-1] == (320, 180)


def test_audio_only_mount_has_no_video(server: GstServerInfo) -> None:
    with av.open(server.url("audio"), options={"rtsp_transport": "tcp"}, timeout=TIMEOUT) as c:
        assert [s.type for s in c.streams] == ["audio"]
        with pytest.raises(IndexError):  # PyAV: "tuple index out of range"
            next(c.decode(video=0))


# --------------------------------------------------------------------------- refusals


def test_unknown_mount_is_404(server: GstServerInfo) -> None:
    with pytest.raises(av.error.HTTPNotFoundError):
        read(server.url("nope"), 1)


@pytest.mark.parametrize("password", [None, "wrong"])
def test_missing_or_wrong_credentials_are_401(
    auth_server: GstServerInfo, password: str | None
) -> None:
    user = None if password is None else USER
    with pytest.raises(av.error.HTTPUnauthorizedError):
        read(auth_server.url("cam", user, password), 1)


def test_right_credentials_stream(auth_server: GstServerInfo) -> None:
    assert len(read(auth_server.url("cam", USER, PASSWORD), 10)) == 10


def test_transport_the_server_does_not_offer(clips: dict[str, Path]) -> None:
    tcp_only = gst_rtsp_server({"cam": clips["h264"]}, protocols="tcp")
    with tcp_only as server, pytest.raises(OSError) as caught:  # RTSP 461 Unsupported Transport
        read(server.url("cam"), 1, transport="udp")
    assert caught.value.errno == errno.EPROTONOSUPPORT


def test_connection_refused() -> None:
    with pytest.raises(av.error.ConnectionRefusedError):
        read(f"rtsp://127.0.0.1:{free_port()}/cam", 1)


def test_garbage_bytes_are_invalid_data() -> None:
    with garbage_server() as port, pytest.raises(av.error.InvalidDataError):
        read(f"rtsp://127.0.0.1:{port}/cam", 1)


# --------------------------------------------------------------------------- server faults


def test_stopped_server_times_the_read_out(clips: dict[str, Path]) -> None:
    with gst_rtsp_server({"cam": clips["h264"]}) as info:

        def pause() -> None:
            os.kill(info.pid, signal.SIGSTOP)

        with pytest.raises(av.error.ExitError):  # "Immediate exit requested"
            read(info.url("cam"), 10 * FPS, timeout=(5.0, 1.0), after_five=pause)
    # left stopped: leaving the block must still end it


def test_killed_server_just_ends_the_stream(clips: dict[str, Path]) -> None:
    with gst_rtsp_server({"cam": clips["h264"]}) as info:

        def kill() -> None:
            info.proc.send_signal(signal.SIGKILL)

        shots = read(info.url("cam"), 10 * FPS, after_five=kill)
    assert 5 <= len(shots) < 10 * FPS  # no exception: a dead camera looks like a clean end


def test_server_is_gone_after_the_block(clips: dict[str, Path]) -> None:
    with gst_rtsp_server({"cam": clips["h264"]}) as info:
        assert port_open(info.host, info.port)
    assert not port_open("127.0.0.1", info.port)
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)


# --------------------------------------------------------------------------- fault files


def test_truncated_mp4_does_not_open(tmp_path: Path) -> None:
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(truncated(tmp_path))).close()


def test_truncated_ts_decodes_in_part(tmp_path: Path) -> None:
    with av.open(str(truncated_ts(tmp_path))) as container:
        count = sum(1 for _ in container.decode(video=0))
    assert 0 < count < 4 * FPS


def test_resolution_change_file_has_both_sizes(media_dir: Path) -> None:
    with av.open(str(resolution_change_ts(media_dir, name="res-file.ts"))) as container:
        sizes = [(f.width, f.height) for f in container.decode(video=0)]
    assert sizes == [(640, 360)] * 2 * FPS + [(320, 180)] * 2 * FPS
