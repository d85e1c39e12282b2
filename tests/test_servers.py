"""The real test servers: RTSP streaming of the demo clip and a mosquitto broker."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sitewatch.demo.rtsp import port_open
from sitewatch.demo.rtsp_server_main import HAND_OFF_WAIT_S
from sitewatch.demo.scene import SceneSpec, render_scene
from tests.servers import free_port, mosquitto, rtsp_server

pytestmark = pytest.mark.integration

CLIP = SceneSpec(width=640, height=360, fps=10, duration_s=4.0, obstacle_at_s=2.0)
Frame = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    media = tmp_path_factory.mktemp("rtsp") / "media"
    render_scene(media / "aisle.mp4", CLIP)
    return media


def read_frames(url: str, count: int) -> list[Frame]:
    options = {"rtsp_transport": "tcp"}
    with av.open(url, options=options, timeout=(5.0, 3.0)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
            if len(frames) >= count:
                break
    return frames


def test_rtsp_server_streams_the_clip(media_dir: Path) -> None:
    with av.open(str(media_dir / "aisle.mp4")) as container:
        source = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    with rtsp_server(media_dir) as server:
        frames = read_frames(server.url("aisle.mp4"), 10)
    assert len(frames) >= 10
    assert frames[0].shape == (CLIP.height, CLIP.width, 3)
    # It is our picture, not just any video: some source frame matches closely.
    best = min(np.abs(frames[5].astype(np.int16) - s).mean() for s in source)
    assert best < 6.0


def test_rtsp_server_loops_past_the_end_of_the_clip(media_dir: Path) -> None:
    with rtsp_server(media_dir) as server:
        frames = read_frames(server.url("aisle.mp4", loop=True), frame_total(CLIP) + 15)
    assert len(frames) == frame_total(CLIP) + 15


def frame_total(spec: SceneSpec) -> int:
    return round(spec.duration_s * spec.fps)


def test_rtsp_server_is_gone_after_the_block(media_dir: Path) -> None:
    with rtsp_server(media_dir) as server:
        assert port_open(server.host, server.port)
        pid, port = server.pid, server.port
    assert not port_open("127.0.0.1", port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def client(name: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)


def round_trip(port: int, topic: str, payload: bytes, **auth: str) -> mqtt.MQTTMessage:
    """Subscribe, publish at QoS 1, and return what the subscriber got."""
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()

    def on_subscribe(
        c: mqtt.Client, u: Any, mid: int, codes: list[ReasonCode], p: Properties | None
    ) -> None:
        subscribed.set()

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        got.put(msg)

    sub, pub = client("test-sub"), client("test-pub")
    for c in (sub, pub):
        if auth:
            c.username_pw_set(auth["username"], auth["password"])
    sub.on_subscribe, sub.on_message = on_subscribe, on_message
    try:
        sub.connect("127.0.0.1", port)
        sub.loop_start()
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(5.0), "no SUBACK"
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        pub.publish(topic, payload, qos=1).wait_for_publish(5.0)
        return got.get(timeout=5.0)
    finally:
        for c in (sub, pub):
            c.disconnect()
            c.loop_stop()


def test_mosquitto_qos1_round_trip(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as broker:
        msg = round_trip(broker.port, "sitewatch/test", b"hello")
    assert (msg.topic, msg.payload, msg.qos) == ("sitewatch/test", b"hello", 1)
    assert (tmp_path / "mosquitto" / "mosquitto.db").is_file()  # persistence was writable


def test_mosquitto_on_a_given_port_stops_on_exit(tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port=port) as broker:
        assert broker.port == port and port_open(broker.host, port)
        assert f"listener {port} 127.0.0.1" in broker.config_path.read_text()
    assert not port_open("127.0.0.1", port)
    with pytest.raises(ProcessLookupError):
        os.kill(broker.pid, 0)


def connack(port: int, **auth: str) -> ReasonCode:
    """Connect and return the broker's CONNACK reason code."""
    codes: queue.Queue[ReasonCode] = queue.Queue()

    def on_connect(
        c: mqtt.Client, u: Any, f: mqtt.ConnectFlags, rc: ReasonCode, p: Properties | None
    ) -> None:
        codes.put(rc)

    c = client("test-connack")
    if auth:
        c.username_pw_set(auth["username"], auth["password"])
    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        return codes.get(timeout=5.0)
    finally:
        c.disconnect()
        c.loop_stop()


def test_mosquitto_with_a_password_file(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    argv = ["mosquitto_passwd", "-b", "-c", str(passwords), "cam", "s3cret"]
    subprocess.run(argv, check=True, capture_output=True)
    with mosquitto(tmp_path, password_file=passwords) as broker:
        assert connack(broker.port).is_failure
        assert connack(broker.port, username="cam", password="wrong").is_failure
        assert not connack(broker.port, username="cam", password="s3cret").is_failure
        msg = round_trip(broker.port, "t", b"x", username="cam", password="s3cret")
        assert msg.payload == b"x"


def test_the_rtsp_server_wait_we_lengthen_still_exists() -> None:
    """``sitewatch.demo.rtsp_server_main`` lengthens this hand-off wait (at 50 ms a loaded
    machine made the server send frames twice); an upgrade that renames it must not silently
    bring the repeats back."""
    import aio_rtsp_toolkit.server_streaming as streaming

    assert isinstance(streaming.QUEUE_PUT_POLL_INTERVAL, float)
    assert streaming.QUEUE_PUT_POLL_INTERVAL < HAND_OFF_WAIT_S
