"""A throwaway PostgreSQL cluster for tests, the fleet demo and the bench: ``initdb`` into a
temporary folder, ``postgres`` on its own loopback port, stopped by PID.

PostgreSQL refuses to run as root. As root the cluster runs as an unprivileged user (the
``postgres`` account the Debian package creates, else ``nobody``), through ``subprocess``'s
``user=``/``group=`` (so the PID we hold is the postmaster's own), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import SitewatchError

HOST = "127.0.0.1"
SUPERUSER = "sw"
BIN_DIRS = tuple(Path("/usr/lib/postgresql").glob("*/bin"))
CANDIDATE_USERS = ("postgres", "sitewatch-test", "nobody")


class PostgresUnavailableError(SitewatchError, RuntimeError):
    """No PostgreSQL server binaries here, or no unprivileged user to run them as root."""


@dataclass(frozen=True)
class RunAs:
    """The account the cluster runs as (None: the current one)."""

    uid: int | None
    gid: int | None
    name: str


@dataclass
class LocalPostgres:
    """A running cluster: ``dsn`` connects as the superuser to database ``postgres``."""

    data_dir: Path
    socket_dir: Path
    port: int
    run_as: RunAs
    bin_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs."""
        return None if self.process is None else self.process.pid

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for ``dbname``."""
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={dbname} connect_timeout=5"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the postmaster and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        argv = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "fsync=on",
            "-c",
            "max_connections=200",
        ]
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                **_identity(self.run_as),  # type: ignore[call-overload]
            )
        finally:
            log.close()
        self._wait_ready(timeout_s)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Fast shutdown (SIGINT) by PID, SIGKILL if it does not finish."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None

    def create_database(self, name: str) -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            proc = self.process
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with code {proc.returncode}:\n{_tail(self.log_path)}"
                )
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2) as db:
                    db.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"postgres did not accept connections within {timeout_s:g} s:\n"
                        f"{_tail(self.log_path)}"
                    ) from None
                time.sleep(0.2)


def find_bin_dir() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        (d for d in BIN_DIRS if (d / "initdb").exists()), key=lambda d: int(d.parent.name)
    )
    if found:
        return found[-1]
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailableError(
        "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
    )


def unprivileged_user() -> RunAs:
    """Who runs the cluster: ourselves unless root; as root the first existing account of
    CANDIDATE_USERS (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return RunAs(None, None, pwd.getpwuid(os.geteuid()).pw_name)
    for name in CANDIDATE_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(entry.pw_uid, entry.pw_gid, name)
    raise PostgresUnavailableError(
        f"running as root and none of the accounts {', '.join(CANDIDATE_USERS)} exists to run"
        " PostgreSQL as (it refuses to run as root)"
    )


@contextmanager
def local_postgres(port: int, keep: Path | None = None) -> Iterator[LocalPostgres]:
    """initdb a fresh cluster (in ``keep`` or a new temporary folder), start it on ``port``,
    stop it by PID and remove the folder at the end (``keep`` is left in place)."""
    bin_dir = find_bin_dir()
    run_as = unprivileged_user()
    root = keep or Path(tempfile.mkdtemp(prefix="sitewatch-pg-"))
    root.mkdir(parents=True, exist_ok=True)
    data_dir, socket_dir = root / "data", root / "run"
    socket_dir.mkdir(exist_ok=True)
    if run_as.uid is not None:
        for path in (root, socket_dir):
            os.chown(path, run_as.uid, run_as.gid or -1)
        root.chmod(0o700)
    log = root / "postgres.log"
    log.touch()
    if run_as.uid is not None:
        os.chown(log, run_as.uid, run_as.gid or -1)
    cluster = LocalPostgres(data_dir, socket_dir, port, run_as, bin_dir, log)
    try:
        if not (data_dir / "PG_VERSION").exists():
            _initdb(bin_dir, data_dir, run_as, log)
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _initdb(bin_dir: Path, data_dir: Path, run_as: RunAs, log: Path) -> None:
    argv = [
        str(bin_dir / "initdb"),
        "-D",
        str(data_dir),
        "-A",
        "trust",
        "-U",
        SUPERUSER,
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]
    done = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        **_identity(run_as),  # type: ignore[call-overload]
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        raise RuntimeError(f"initdb failed ({done.returncode}) as {run_as.name}:\n{output}")
    with log.open("ab") as handle:
        handle.write(done.stdout)


def _identity(run_as: RunAs) -> dict[str, object]:
    if run_as.uid is None:
        return {}
    return {"user": run_as.uid, "group": run_as.gid, "extra_groups": [], "cwd": "/"}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
