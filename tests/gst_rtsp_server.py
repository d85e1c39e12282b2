"""A GStreamer RTSP server for tests: serves media files over RTSP (TCP, UDP), optional auth.

Run it with the system Python, which has PyGObject (``gi``); it imports nothing from
the project::

    /usr/bin/python3 tests/gst_rtsp_server.py --port 8554 \\
        --mount /cam=clip.mp4 --mount /ts=clip.ts --protocols both --loop

Each mount serves the first video stream of its file (H.264, H.265 or MJPEG in
.mp4/.mov/.mkv/.avi/.ts), else its AAC audio, at the file's own rate. Every client
gets its own pipeline, starting at the beginning of the file.

``--loop`` plays the files forever, timestamps running on without a gap or a
repeat: a feeder pipeline reads the file again at each end and pushes it, re-timed,
into the media through an appsrc.
``--user``/``--password`` turn on basic auth: a client without them, or with wrong
ones, is answered 401. An unknown mount is answered 404. Prints READY on stdout
once it listens; SIGTERM or SIGINT stop it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gi  # type: ignore[import-not-found,import-untyped,unused-ignore]

gi.require_version("Gst", "1.0")
gi.require_version("GstPbutils", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import (  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: E402
    GLib,
    Gst,
    GstPbutils,
    GstRtsp,
    GstRtspServer,
)

Gst.init(None)

HOST = "127.0.0.1"
ROLE = "tester"
DISCOVER_TIMEOUT_S = 5
APPSRC = "feed"  # name of the appsrc in a looping media bin
FEED_BUFFERS = 8  # how far the feeder may run ahead of the media, in buffers
DEFAULT_STEP_NS = 40_000_000  # frame duration to assume when a buffer has none

DEMUXERS = {
    ".mp4": "qtdemux",
    ".m4v": "qtdemux",
    ".mov": "qtdemux",
    ".mkv": "matroskademux",
    ".webm": "matroskademux",
    ".avi": "avidemux",
    ".ts": "tsdemux",
    ".m2ts": "tsdemux",
}

# Caps name of the stream -> (parser, payloader named pay0).
CODECS = {
    "video/x-h264": ("h264parse", "rtph264pay name=pay0 pt=96 config-interval=-1"),
    "video/x-h265": ("h265parse", "rtph265pay name=pay0 pt=96 config-interval=-1"),
    "image/jpeg": ("jpegparse", "rtpjpegpay name=pay0 pt=26"),
    "audio/mpeg": ("aacparse", "rtpmp4gpay name=pay0 pt=97"),
}

PROTOCOLS = {
    "tcp": GstRtsp.RTSPLowerTrans.TCP,
    "udp": GstRtsp.RTSPLowerTrans.UDP,
    "both": GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- pipelines


def stream_caps(path: Path) -> str:
    """Caps name of the stream to serve: the first video stream, else the first audio one."""
    discoverer = GstPbutils.Discoverer.new(DISCOVER_TIMEOUT_S * Gst.SECOND)
    info = discoverer.discover_uri(Gst.filename_to_uri(str(path.resolve())))
    names = [str(s.get_caps().get_structure(0).get_name()) for s in info.get_stream_list()]
    videos = [n for n in names if n.startswith(("video/", "image/"))]
    audios = [n for n in names if n.startswith("audio/")]
    if not videos and not audios:
        raise ValueError(f"{path}: no video or audio stream found ({names})")
    return (videos or audios)[0]


@dataclass(frozen=True)
class Source:
    """One file's stream: how to read, parse and payload it."""

    path: Path
    demuxer: str
    parser: str
    payloader: str

    @classmethod
    def probe(cls, path: Path) -> Source:
        demuxer = DEMUXERS.get(path.suffix.lower())
        if demuxer is None:
            raise ValueError(f"{path}: unsupported container, expected one of {sorted(DEMUXERS)}")
        caps = stream_caps(path)
        if caps not in CODECS:
            raise ValueError(f"{path}: cannot serve {caps}, expected one of {sorted(CODECS)}")
        return cls(path, demuxer, *CODECS[caps])

    def location(self) -> str:
        return str(self.path.resolve())

    def media_line(self, loop: bool) -> str:
        """The media bin: the file itself, or an appsrc that a ``Feeder`` fills (looping)."""
        if loop:
            feed = f"appsrc name={APPSRC} format=time block=true max-buffers={FEED_BUFFERS}"
        else:
            location = self.location().replace("\\", "\\\\").replace('"', '\\"')
            feed = f'filesrc location="{location}" ! {self.demuxer}'
        return f"( {feed} ! {self.parser} ! {self.payloader} )"


# --------------------------------------------------------------------------- looping


def make(factory: str, **props: Any) -> Any:
    element = Gst.ElementFactory.make(factory)
    if element is None:
        raise ValueError(f"GStreamer element {factory} not found")
    for name, value in props.items():
        element.set_property(name.replace("_", "-"), value)
    return element


def link_new_pad(_demuxer: Any, pad: Any, parser: Any) -> None:
    """Link the demuxer's new pad to the parser, if it fits and the parser is free."""
    sink = parser.get_static_pad("sink")
    if not sink.is_linked() and pad.can_link(sink):
        pad.link(sink)


def reader(source: Source) -> tuple[Any, Any]:
    """A pipeline file -> demuxer -> parser -> appsink, and the appsink."""
    pipeline = Gst.Pipeline.new(None)
    file = make("filesrc", location=source.location())
    demuxer, parser = make(source.demuxer), make(source.parser)
    sink = make("appsink", sync=False, emit_signals=True, max_buffers=FEED_BUFFERS)
    for element in (file, demuxer, parser, sink):
        pipeline.add(element)
    file.link(demuxer)
    parser.link(sink)
    demuxer.connect("pad-added", link_new_pad, parser)  # again at each restart
    return pipeline, sink


class Feeder:
    """Reads a file into a media's appsrc over and over, timestamps running on.

    Its own pipeline restarts at each end of the file; each pass is shifted to
    start where the last one ended, so there is no gap and no repeat. (Looping the
    media pipeline itself by segment seeks on its demuxer raced with RTSPMedia's
    own state handling and crashed it under load.) The media's clock paces it.
    """

    def __init__(self, source: Source, appsrc: Any) -> None:
        self.appsrc = appsrc
        self.pipeline, sink = reader(source)
        sink.connect("new-sample", self.on_sample)
        self.bus = self.pipeline.get_bus()
        self.bus.add_watch(GLib.PRIORITY_DEFAULT, self.on_message)
        self.shift: int | None = None  # added to this pass's timestamps
        self.end = 0  # output time just after the last buffer sent
        self.step = DEFAULT_STEP_NS
        self.sent_this_pass = 0
        self.ended = False

    def start(self) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)

    def stop(self) -> None:
        self.ended = True
        self.pipeline.set_state(Gst.State.NULL)
        self.bus.remove_watch()

    def retime(self, buf: Any) -> None:
        """Shift ``buf`` (a private copy) onto the output timeline."""
        if buf.pts == Gst.CLOCK_TIME_NONE:
            return
        if self.shift is None:
            self.shift = self.end - buf.pts
        pts = max(0, buf.pts + self.shift)
        if buf.dts != Gst.CLOCK_TIME_NONE:
            buf.dts = max(0, buf.dts + self.shift)
        if buf.duration != Gst.CLOCK_TIME_NONE and buf.duration > 0:
            self.step = buf.duration
        buf.pts = pts
        self.end = max(self.end, pts + self.step)

    def on_sample(self, sink: Any) -> Any:
        sample = sink.emit("pull-sample")
        buf = sample.get_buffer().copy_deep()
        self.retime(buf)
        self.sent_this_pass += 1
        return self.appsrc.emit("push-sample", Gst.Sample.new(buf, sample.get_caps(), None, None))

    def on_message(self, _bus: Any, message: Any) -> bool:
        if message.type == Gst.MessageType.ERROR:
            log(f"feeder: {message.parse_error()[0].message}")
        if self.ended or message.type not in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
            return True
        if self.sent_this_pass == 0:  # nothing to loop over: end the stream
            self.ended = True
            self.appsrc.emit("end-of-stream")
        else:
            self.restart()
        return True  # the watch goes in stop()

    def restart(self) -> None:
        self.pipeline.set_state(Gst.State.READY)
        self.bus.set_flushing(True)  # drop what the last pass left on the bus
        self.bus.set_flushing(False)
        self.shift, self.sent_this_pass = None, 0
        self.pipeline.set_state(Gst.State.PLAYING)


def on_media_configure(_factory: Any, media: Any, source: Source) -> None:
    """Give a new looping media its feeder, stopped when the media is."""
    feeder = Feeder(source, media.get_element().get_by_name(APPSRC))
    media.connect("unprepared", lambda _media: feeder.stop())
    feeder.start()


# --------------------------------------------------------------------------- server


@dataclass(frozen=True)
class Options:
    port: int
    mounts: dict[str, Path]
    protocols: str
    user: str | None
    password: str | None
    loop: bool


def parse_mount(text: str) -> tuple[str, Path]:
    mount, sep, file = text.partition("=")
    if not sep or not mount.startswith("/") or not file:
        raise argparse.ArgumentTypeError(f"expected /name=FILE, got {text!r}")
    path = Path(file)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return mount, path


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description="GStreamer RTSP server for tests.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", type=parse_mount, action="append", required=True)
    parser.add_argument("--protocols", choices=sorted(PROTOCOLS), default="both")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--loop", action="store_true", help="play the files forever")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    mounts: dict[str, Path] = dict(args.mount)
    return Options(args.port, mounts, args.protocols, args.user, args.password, args.loop)


def make_factory(source: Source, options: Options) -> Any:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(source.media_line(options.loop))
    factory.set_shared(False)
    factory.set_protocols(PROTOCOLS[options.protocols])
    if options.loop:
        factory.connect("media-configure", on_media_configure, source)
    if options.user is not None:
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(ROLE, "media.factory.access", True)
        permissions.add_permission_for_role(ROLE, "media.factory.construct", True)
        factory.set_permissions(permissions)
    return factory


def make_auth(user: str, password: str) -> Any:
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    auth = GstRtspServer.RTSPAuth()
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    return auth


def make_server(options: Options) -> Any:
    server = GstRtspServer.RTSPServer()
    server.set_address(HOST)
    server.set_service(str(options.port))
    if options.user is not None and options.password is not None:
        server.set_auth(make_auth(options.user, options.password))
    mounts = server.get_mount_points()
    for mount, path in options.mounts.items():
        source = Source.probe(path)
        mounts.add_factory(mount, make_factory(source, options))
        log(f"mount {mount}: {source.media_line(options.loop)}")
    return server


def on_client(_server: Any, client: Any) -> None:
    log(f"client connected: {client.get_connection().get_ip()}")


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    try:
        server = make_server(options)
    except (ValueError, GLib.Error) as e:
        log(f"error: {e}")
        return 2
    server.connect("client-connected", on_client)
    if server.attach(None) == 0:
        log(f"error: cannot listen on {HOST}:{options.port}")
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print("READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
