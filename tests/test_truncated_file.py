"""Looping file cameras (issue 14, item 4): a file starts again without going offline, and a
truncated H.264 MP4 says once that it is truncated and keeps looping what it can."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import av
import pytest

from ingest.camera_reader import CameraReader, Pacing, ReaderSettings
from ingest.status import CameraState, CameraStatus
from ingest.truncation import Span, truncation
from tests.media import h264_clip, truncated_ts

DECLARED_S = 20.0
NOTICE = re.compile(
    r"file (?P<path>\S+) is truncated at (?P<at>\d+\.\d) s of (?P<of>\d+\.\d) s; "
    r"looping what is readable"
)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("loops")
    return h264_clip(directory, "whole.mp4", width=320, height=180, seconds=2.0)


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20 s H.264 MP4 (moov atom in front) with its media data cut at 60 % of its bytes."""
    directory = tmp_path_factory.mktemp("cut")
    full = h264_clip(directory, "full.mp4", width=320, height=180, seconds=DECLARED_S)
    data = full.read_bytes()
    path = directory / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def decoded_end_s(path: Path) -> float:
    """Where decoding the file really stops: the last decoded frame's time plus one frame."""
    last = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        step = 1 / float(stream.average_rate or 25)
        try:
            for frame in container.decode(stream):
                last = float(frame.time or 0.0)
        except av.error.InvalidDataError:
            pass  # the partial last packet
    return last + step


def loop_passes(path: Path, passes: int) -> tuple[CameraReader, list[CameraStatus]]:
    """Read a looping file camera for ``passes`` passes, taking every frame; the statuses it
    reported on the way."""
    reported: list[CameraStatus] = []
    stop = threading.Event()
    settings = ReaderSettings("yard", f"file://{path}", pacing=Pacing.FAST, loop=True)
    reader = CameraReader(settings, stop, on_status=reported.append)
    reader.start()
    last = -1
    deadline = time.monotonic() + 60
    try:
        while reader.status.reconnects < passes and time.monotonic() < deadline:
            frame = reader.latest.take_newer_pending(last)
            if frame is None:
                time.sleep(0.002)
                continue
            last = frame.index
    finally:
        stop.set()
        reader.join(10)
    assert reader.status.reconnects >= passes, reader.status
    return reader, reported


def test_a_looping_file_starts_again_without_going_offline(whole: Path) -> None:
    reader, reported = loop_passes(whole, passes=3)
    assert [s.state for s in reported] == [CameraState.ONLINE], reported
    assert reader.status.state is CameraState.ONLINE
    assert reader.status.warning is None


def test_a_truncated_looping_file_says_so_once_and_stays_online(
    cut: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ingest.camera_reader")
    reader, reported = loop_passes(cut, passes=3)

    states = [s.state for s in reported]
    assert CameraState.OFFLINE not in states and CameraState.STALLED not in states, states
    status = reader.status
    assert status.state is CameraState.ONLINE
    assert status.warning is not None
    found = NOTICE.fullmatch(status.warning)
    assert found is not None, status.warning
    assert found["path"] == str(cut)
    assert float(found["of"]) == DECLARED_S
    assert float(found["at"]) == pytest.approx(decoded_end_s(cut), abs=0.15)
    assert float(found["at"]) < DECLARED_S - 5  # really short of its declared length
    notices = [r.getMessage() for r in caplog.records if "is truncated at" in r.getMessage()]
    assert notices == [f"camera yard: {status.warning}"]  # once, not every pass
    assert reported[-1].warning == status.warning  # published with the status


def test_an_mpeg_ts_cut_short_is_not_judged(tmp_path: Path) -> None:
    # MPEG-TS states no length: FFmpeg estimates it from the data, so a cut file looks whole.
    reader, _ = loop_passes(truncated_ts(tmp_path), passes=2)
    assert reader.status.state is CameraState.ONLINE and reader.status.warning is None


@pytest.mark.parametrize(
    ("declared", "readable_end", "expected"),
    [
        (Span(0.0, 20.0), 12.34, "file f.mp4 is truncated at 12.3 s of 20.0 s"),
        (Span(1.0, 21.0), 13.3, "file f.mp4 is truncated at 12.3 s of 20.0 s"),  # start offset
        (Span(0.0, 20.0), 19.8, None),  # a rounding short of the end: whole
        (Span(0.0, 20.0), 20.0, None),
        (None, 12.0, None),  # no declared length
        (Span(0.0, 20.0), None, None),  # nothing read
    ],
)
def test_truncation_words(declared: Span | None, readable_end: float | None, expected: str) -> None:
    assert truncation("f.mp4", declared, readable_end) == expected
