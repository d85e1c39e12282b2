"""Run the aio-rtsp-toolkit ``rtsp-server`` (serves the .mp4/.mkv files of a folder)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def rtsp_server_command() -> Path:
    """The ``rtsp-server`` script next to this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "rtsp-server"
    if beside.is_file():
        return beside
    found = shutil.which("rtsp-server")
    if found is None:
        raise FileNotFoundError(f"rtsp-server not found beside {sys.executable} nor on PATH")
    return Path(found)


def start_rtsp_server(
    media_dir: Path, host: str, port: int, control_port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start the server on ``host:port``; its stdout and stderr go to ``log_path``.

    Stream URLs are ``rtsp://host:port/NAME`` (NAME relative to ``media_dir``),
    with ``?play_count=0`` to loop forever.
    """
    rtsp_server_command()  # installed? (the clear error when not)
    argv = [sys.executable, "-m", "sitewatch.demo.rtsp_server_main", "--dir", str(media_dir)]
    argv += ["--host", host]
    argv += ["--port", str(port), "--control-port", str(control_port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ``host:port`` accepts TCP connections.

    Raises TimeoutError after ``timeout`` seconds, or RuntimeError as soon as
    ``proc`` (the server meant to listen there) has exited.
    """
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:g} s")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
    """SIGTERM ``proc``, SIGKILL it if still running after ``timeout`` s; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
