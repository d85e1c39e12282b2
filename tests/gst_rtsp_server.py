"""A GStreamer RTSP server for tests: serves media files over RTSP (TCP, UDP), optional auth.

Run it with the system Python, which has PyGObject (``gi``); it imports nothing from
the project::

    /usr/bin/python3 tests/gst_rtsp_server.py --port 8554 \\
        --mount /cam=clip.mp4 --mount /ts=clip.ts --protocols both --loop

Each mount serves the first video stream of its file (H.264, H.265 or MJPEG in
.mp4/.mov/.mkv/.avi/.ts), else its AAC audio, at the file's own rate. Every client
gets its own pipeline, starting at the beginning of the file.

``--loop`` plays the files forever with timestamps running on: MP4/MKV/AVI by
segment seeks on the demuxer, MPEG-TS by reading the file's bytes in a loop
(tsdemux cannot segment-seek; it rebases the timestamps when they jump back).
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

Gst.init(None)  # before subclassing RTSPMedia: its class init needs GstMessage's type

HOST = "127.0.0.1"
ROLE = "tester"
DISCOVER_TIMEOUT_S = 5
DEMUX = "demux"  # name of the demuxer in every media bin

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

# Caps name of the stream -> parser and payloader (pay0) for it.
PAYLOADERS = {
    "video/x-h264": "h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1",
    "video/x-h265": "h265parse ! rtph265pay name=pay0 pt=96 config-interval=-1",
    "image/jpeg": "jpegparse ! rtpjpegpay name=pay0 pt=26",
    "audio/mpeg": "aacparse ! rtpmp4gpay name=pay0 pt=97",
}

PROTOCOLS = {
    "tcp": GstRtsp.RTSPLowerTrans.TCP,
    "udp": GstRtsp.RTSPLowerTrans.UDP,
    "both": GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- pipelines


@dataclass(frozen=True)
class Media:
    """How to serve one file: the media bin's launch line, and whether to loop by seeking."""

    line: str
    seek_loop: bool


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


def quoted(path: Path, printf: bool = False) -> str:
    """``path`` for a launch line, in double quotes (``%%`` for multifilesrc's printf)."""
    text = str(path.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + (text.replace("%", "%%") if printf else text) + '"'


def plan_media(path: Path, loop: bool) -> Media:
    demuxer = DEMUXERS.get(path.suffix.lower())
    if demuxer is None:
        raise ValueError(f"{path}: unsupported container, expected one of {sorted(DEMUXERS)}")
    caps = stream_caps(path)
    payloader = PAYLOADERS.get(caps)
    if payloader is None:
        raise ValueError(f"{path}: cannot serve {caps}, expected one of {sorted(PAYLOADERS)}")
    byte_loop = loop and demuxer == "tsdemux"
    if byte_loop:
        source = f"multifilesrc location={quoted(path, printf=True)} loop=true"
    else:
        source = f"filesrc location={quoted(path)}"
    line = f"( {source} ! {demuxer} name={DEMUX} ! {payloader} )"
    return Media(line, seek_loop=loop and not byte_loop)


# --------------------------------------------------------------------------- looping


def segment_seek(element: Any, flush: bool) -> None:
    """Play from the start as one segment: SEGMENT_DONE instead of EOS at the end."""
    flags = Gst.SeekFlags.SEGMENT | (Gst.SeekFlags.FLUSH if flush else Gst.SeekFlags.NONE)
    start, stop = (Gst.SeekType.SET, 0), (Gst.SeekType.NONE, -1)
    if not element.seek(1.0, Gst.Format.TIME, flags, *start, *stop):
        log(f"loop: {element.get_name()} refused the seek")


class LoopingMedia(GstRtspServer.RTSPMedia):  # type: ignore[misc]
    """A media whose demuxer starts over at the end of the file instead of ending.

    The pipeline never posts EOS here (RTSPMedia's sinks do not all see one), so
    the loop rides on segment seeks: at SEGMENT_DONE a non-flushing seek to 0, which
    keeps running time, and so the RTP timestamps, going on. The demuxers start the
    next segment at the last frame's timestamp rather than at the end of the file,
    which would repeat a timestamp each loop; a pad offset on the payloader makes up
    the difference (one frame's duration).
    """

    def do_prepared(self) -> None:
        self.last_pts = Gst.CLOCK_TIME_NONE
        self.payloader_sink().add_probe(Gst.PadProbeType.BUFFER, self.on_buffer)
        segment_seek(self.get_element().get_by_name(DEMUX), flush=True)

    def payloader_sink(self) -> Any:
        return self.get_element().get_by_name("pay0").get_static_pad("sink")

    def on_buffer(self, _pad: Any, info: Any) -> Any:
        self.last_pts = info.get_buffer().pts
        return Gst.PadProbeReturn.OK

    def do_handle_message(self, message: Any) -> bool:
        if message.type != Gst.MessageType.SEGMENT_DONE:
            return bool(GstRtspServer.RTSPMedia.do_handle_message(self, message))
        _, end = message.parse_segment_done()
        gap = end - self.last_pts
        if self.last_pts != Gst.CLOCK_TIME_NONE and 0 < gap < Gst.SECOND:
            pad = self.payloader_sink()
            pad.set_offset(pad.get_offset() + gap)
        segment_seek(self.get_element().get_by_name(DEMUX), flush=False)
        return True


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


def make_factory(media: Media, options: Options) -> Any:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(media.line)
    factory.set_shared(False)
    factory.set_protocols(PROTOCOLS[options.protocols])
    if media.seek_loop:
        factory.set_media_gtype(LoopingMedia)
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
        media = plan_media(path, options.loop)
        mounts.add_factory(mount, make_factory(media, options))
        log(f"mount {mount}: {media.line}" + (" (segment loop)" if media.seek_loop else ""))
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
