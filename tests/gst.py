"""The GStreamer RTSP test server (``tests/gst_rtsp_server.py``) as a context manager.

The server runs under the system Python, which has PyGObject; the venv has not.
GStreamer is a required test dependency (the Makefile installs it): tests call
``require_gst()``, which fails when it is missing, or skips only where
``SITEWATCH_ALLOW_SKIP_GST=1`` is set.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from sitewatch.demo.rtsp import free_port, port_open, stop_process, wait_for_port

__all__ = [
    "ALLOW_SKIP_ENV",
    "GstServerInfo",
    "gst_available",
    "gst_missing",
    "gst_rtsp_server",
    "require_gst",
]

HOST = "127.0.0.1"
SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
ALLOW_SKIP_ENV = "SITEWATCH_ALLOW_SKIP_GST"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

# Elements the server's pipelines use, with the Debian package that has them.
ELEMENTS = {
    "filesrc": "libgstreamer1.0-0",
    "uridecodebin": "gstreamer1.0-plugins-base",
    "multifilesrc": "gstreamer1.0-plugins-good",
    "qtdemux": "gstreamer1.0-plugins-good",
    "matroskademux": "gstreamer1.0-plugins-good",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "rtph265pay": "gstreamer1.0-plugins-good",
    "rtpjpegpay": "gstreamer1.0-plugins-good",
    "rtpmp4gpay": "gstreamer1.0-plugins-good",
    "aacparse": "gstreamer1.0-plugins-good",
    "rtpbin": "gstreamer1.0-plugins-good",
    "tsdemux": "gstreamer1.0-plugins-bad",
    "h264parse": "gstreamer1.0-plugins-bad",
    "h265parse": "gstreamer1.0-plugins-bad",
    "jpegparse": "gstreamer1.0-plugins-bad",
}

_PROBE = """
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstPbutils", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstPbutils, GstRtspServer
Gst.init(None)
missing = [name for name in sys.argv[1:] if Gst.ElementFactory.find(name) is None]
print(" ".join(missing))
"""


@functools.cache
def gst_missing() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can."""
    if not SYSTEM_PYTHON.is_file():
        return f"{SYSTEM_PYTHON} not found"
    argv = [str(SYSTEM_PYTHON), "-c", _PROBE, *ELEMENTS]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return f"{SYSTEM_PYTHON} timed out importing GStreamer"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{SYSTEM_PYTHON} cannot load gi/GstRtspServer 1.0: {last}"
    missing = done.stdout.split()
    if missing:
        return "missing GStreamer elements: " + ", ".join(f"{m} ({ELEMENTS[m]})" for m in missing)
    return None


def gst_available() -> bool:
    """True when the system Python has PyGObject, GstRtspServer 1.0 and the plugins we use."""
    return gst_missing() is None


def require_gst() -> None:
    """Fail the test without GStreamer; skip instead where SITEWATCH_ALLOW_SKIP_GST=1."""
    problem = gst_missing()
    if problem is None:
        return
    message = f"GStreamer RTSP server unavailable: {problem} (run `make system-deps`)"
    if os.environ.get(ALLOW_SKIP_ENV) == "1":
        pytest.skip(message)
    pytest.fail(f"{message}; set {ALLOW_SKIP_ENV}=1 to skip instead", pytrace=False)


@dataclass(frozen=True)
class GstServerInfo:
    port: int
    pid: int
    proc: subprocess.Popen[bytes]  # to SIGSTOP/SIGKILL it from a test
    log_path: Path
    host: str = HOST

    def url(self, mount: str, user: str | None = None, password: str | None = None) -> str:
        """``rtsp://[user:password@]host:port/mount``, credentials percent-encoded."""
        return f"rtsp://{_userinfo(user, password)}{self.host}:{self.port}/{mount.lstrip('/')}"


def _userinfo(user: str | None, password: str | None) -> str:
    if user is None:
        return ""
    text = quote(user, safe="")
    if password is not None:
        text += ":" + quote(password, safe="")
    return text + "@"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _argv(
    port: int, mounts: dict[str, Path], protocols: str, auth: tuple[str, str] | None, loop: bool
) -> list[str]:
    argv = [str(SYSTEM_PYTHON), str(SERVER_SCRIPT), "--port", str(port)]
    argv += ["--protocols", protocols]
    for mount, path in mounts.items():
        argv += ["--mount", f"/{mount.lstrip('/')}={path}"]
    if auth is not None:
        argv += ["--user", auth[0], "--password", auth[1]]
    if loop:
        argv.append("--loop")
    return argv


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGCONT (a test may have stopped it), then SIGTERM, then SIGKILL."""
    proc.send_signal(signal.SIGCONT)  # a no-op once it has exited
    stop_process(proc, STOP_TIMEOUT_S)


def _start(argv: list[str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    if port_open(HOST, port):
        raise RuntimeError(f"cannot start the GStreamer RTSP server: {HOST}:{port} is in use")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_for_port(HOST, port, START_TIMEOUT_S, proc)
    except (TimeoutError, RuntimeError) as e:
        _stop(proc)
        raise RuntimeError(
            f"GStreamer RTSP server did not start on {HOST}:{port}: {e}\n"
            f"--- {log_path}:\n{_tail(log_path)}"
        ) from e
    return proc


@contextmanager
def gst_rtsp_server(
    mounts: dict[str, Path],
    *,
    protocols: str = "both",
    user: str | None = None,
    password: str | None = None,
    loop: bool = True,
    port: int | None = None,
) -> Iterator[GstServerInfo]:
    """Serve ``mounts`` (``{"/cam": clip}``) over RTSP on 127.0.0.1; stopped by PID on exit.

    ``protocols``: "tcp", "udp" or "both". ``user`` and ``password`` turn on basic auth.
    ``loop`` plays the files forever. The server's log lives in a temporary folder
    that is removed on exit (its tail is in the error if the server fails to start).
    """
    if (user is None) != (password is None):
        raise ValueError("user and password go together")
    port = port or free_port()
    auth = (user, password) if user is not None and password is not None else None
    log_dir = Path(tempfile.mkdtemp(prefix="gst-rtsp-"))
    log_path = log_dir / f"gst-rtsp-{port}.log"
    try:
        proc = _start(_argv(port, mounts, protocols, auth, loop), port, log_path)
        try:
            yield GstServerInfo(port=port, pid=proc.pid, proc=proc, log_path=log_path)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
