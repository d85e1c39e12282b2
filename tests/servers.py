"""Real servers for tests: a mosquitto broker and the demo RTSP server.

Plain context managers (not fixtures); each one starts its own process on a
free port and stops it by PID on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sitewatch.demo.rtsp import (
    free_port,
    port_open,
    start_rtsp_server,
    stop_process,
    wait_for_port,
)

__all__ = ["BrokerInfo", "BrokerTls", "RtspServerInfo", "free_port", "mosquitto", "rtsp_server"]

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _require_free(port: int, what: str) -> None:
    """Refuse a busy port: waiting for it would find the other listener."""
    if port_open(HOST, port):
        raise RuntimeError(f"cannot start {what}: {HOST}:{port} is already in use")


def _wait_or_fail(proc: subprocess.Popen[bytes], port: int, what: str, logs: list[Path]) -> None:
    """Wait for ``port``; on failure stop ``proc`` and raise with the log tails."""
    try:
        wait_for_port(HOST, port, START_TIMEOUT_S, proc)
    except (TimeoutError, RuntimeError) as e:
        stop_process(proc, STOP_TIMEOUT_S)
        tails = "\n".join(f"--- {log}:\n{_tail(log)}" for log in logs)
        raise RuntimeError(f"{what} did not start on {HOST}:{port}: {e}\n{tails}") from e


# --------------------------------------------------------------------------- mosquitto


@dataclass(frozen=True)
class BrokerInfo:
    port: int
    pid: int
    config_path: Path
    log_path: Path
    host: str = HOST


@dataclass(frozen=True)
class BrokerTls:
    """PEM files of a TLS listener."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def mosquitto_binary() -> Path:
    found = shutil.which("mosquitto")
    return Path(found) if found else Path("/usr/sbin/mosquitto")


def mosquitto_config(
    data_dir: Path,
    port: int,
    password_file: Path | None,
    tls: BrokerTls | None = None,
    acl_file: Path | None = None,
) -> str:
    lines = [
        f"listener {port} {HOST}",
        f"allow_anonymous {'false' if password_file else 'true'}",
        "persistence true",
        f"persistence_location {data_dir}/",
        "max_queued_messages 100000",
        f"log_dest file {data_dir / 'mosquitto.log'}",
    ]
    if password_file is not None:
        lines.append(f"password_file {password_file}")
    if tls is not None:  # these apply to the listener above
        lines += [f"cafile {tls.ca_file}", f"certfile {tls.cert_file}", f"keyfile {tls.key_file}"]
    if acl_file is not None:
        lines.append(f"acl_file {acl_file}")
    if os.geteuid() == 0:
        lines.append("user root")  # else it drops to "mosquitto" and cannot write data_dir
    return "\n".join(lines) + "\n"


@contextmanager
def mosquitto(
    tmp_dir: Path,
    *,
    port: int | None = None,
    password_file: Path | None = None,
    tls: BrokerTls | None = None,
    acl_file: Path | None = None,
) -> Iterator[BrokerInfo]:
    """A mosquitto broker on 127.0.0.1, persisting to and logging in ``tmp_dir/mosquitto``."""
    data_dir = tmp_dir / "mosquitto"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    _require_free(port, "mosquitto")
    config = data_dir / "mosquitto.conf"
    config.write_text(mosquitto_config(data_dir, port, password_file, tls, acl_file))
    log, stderr = data_dir / "mosquitto.log", data_dir / "stderr.log"
    with stderr.open("ab") as err:
        argv = [str(mosquitto_binary()), "-c", str(config)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    _wait_or_fail(proc, port, "mosquitto", [log, stderr])
    try:
        yield BrokerInfo(port=port, pid=proc.pid, config_path=config, log_path=log)
    finally:
        stop_process(proc, STOP_TIMEOUT_S)


# --------------------------------------------------------------------------- RTSP


@dataclass(frozen=True)
class RtspServerInfo:
    port: int
    control_port: int
    pid: int
    media_dir: Path
    log_path: Path
    host: str = HOST

    def url(self, name: str, loop: bool = True) -> str:
        """URL of ``name`` (a file in ``media_dir``); ``loop`` plays it forever."""
        return f"rtsp://{self.host}:{self.port}/{name}" + ("?play_count=0" if loop else "")


@contextmanager
def rtsp_server(media_dir: Path, *, port: int | None = None) -> Iterator[RtspServerInfo]:
    """The demo RTSP server serving ``media_dir``; logs to ``rtsp-server-PORT.log`` beside it."""
    port = port or free_port()
    control_port = free_port()
    while control_port == port:
        control_port = free_port()
    _require_free(port, "rtsp-server")
    log = media_dir.parent / f"rtsp-server-{port}.log"
    proc = start_rtsp_server(media_dir, HOST, port, control_port, log)
    _wait_or_fail(proc, port, "rtsp-server", [log])
    try:
        yield RtspServerInfo(port, control_port, proc.pid, media_dir, log)
    finally:
        stop_process(proc, STOP_TIMEOUT_S)
