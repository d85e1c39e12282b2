"""``make demo-fleet`` (``python -m hub.demo_fleet``): a street office on one machine —
PostgreSQL, a central mosquitto, three edge nodes (``sitewatch run``) on the demo scene (one
of them, plant-c, behind its own mosquitto bridged to the central one, as in
config/mosquitto-edge.conf) and ``sitewatch hub``; prints where the central console is and
the tokens to sign in with. Ctrl-C stops everything.

Every part is a separate process started here and stopped by PID, so this module imports
neither the edge's code nor the tests': the edges are the ``sitewatch`` command."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from hub.local_postgres import local_postgres

HOST = "127.0.0.1"
PREFIX = "sitewatch"
ROOT = Path(__file__).resolve().parent.parent
DEMO_ZONE = "Asia/Shanghai"  # every demo site's time zone (edge and hub.yaml alike)
# The demo scene's fire exit, normalised (as config/demo.yaml: sitewatch.demo.scene.EXIT_ZONE).
EXIT_ZONE = [[0.4208, 0.6752], [0.5792, 0.6752], [0.5643, 0.5393], [0.4357, 0.5393]]
EDGES: tuple[tuple[str, str, str, bool], ...] = (
    # site id, name, grid, behind a local bridged broker
    ("plant-a", "华东机械厂 (plant-a)", "north", False),
    ("plant-b", "滨江仓储 (plant-b)", "north", False),
    ("plant-c", "南港油库 (plant-c)", "south", True),
)
GRIDS = {"north": ("北片网格 North grid", "Li Wei"), "south": ("南片网格 South grid", "Wang Fang")}


@dataclass(frozen=True)
class FleetDemoOptions:
    """Where the demo keeps its files, the console's port and the edges' models."""

    folder: Path = ROOT / "data" / "demo-fleet"
    console_port: int = 8090
    models: tuple[Path, ...] = (ROOT / "models" / "hazards.onnx",)


@dataclass
class FleetDemo:
    """A running fleet: the console's URL, who may sign in, the database and the processes."""

    console_url: str
    tokens: dict[str, str]  # person -> hub token
    dsn: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path()


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} (see its log)")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


@contextmanager
def _process(
    demo: FleetDemo, name: str, argv: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` with its output in ``<logs>/<name>.log``; SIGTERM then SIGKILL by PID."""
    with (demo.logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    demo.processes[name] = proc
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def mosquitto_conf(folder: Path, port: int, bridge: tuple[str, int] | None = None) -> Path:
    """A broker's config: persistent, a large queue, and for an edge broker the bridge of its
    site's topics (events up, commands down) to the central broker."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listener {port} {HOST}",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {folder}/",
        "max_queued_messages 100000",
        f"log_dest file {folder / 'mosquitto.log'}",
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # else it drops to "mosquitto" and cannot write the folder
    if bridge is not None:
        site, central = bridge
        lines += [
            "connection central",
            f"address {HOST}:{central}",
            f"remote_clientid bridge-{site}",
            "cleansession false",
            "bridge_protocol_version mqttv50",
            "restart_timeout 1 10",
            *(
                f"topic {PREFIX}/{site}/{kind} out 1"
                for kind in ("alerts", "status", "audit/head", "cameras/#", "commands/result")
            ),
            f"topic {PREFIX}/{site}/commands in 1",
        ]
    path = folder / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def edge_config(
    folder: Path, site: str, name: str, camera_url: str, broker_port: int, api_port: int,
    tokens: dict[str, str], models: tuple[Path, ...],
) -> Path:  # fmt: skip
    """The site.yaml of one edge on the demo scene (timings of config/demo.yaml)."""
    folder.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "site": {"id": site, "name": name, "timezone": DEMO_ZONE},
        "cameras": [
            {
                "name": "aisle-3",
                "url": camera_url,
                "detect_fps": 2,
                "zones": [{"name": "fire-exit", "kind": "exit", "points": EXIT_ZONE}],
            }
        ],
        "models": [
            {"name": f"model-{index}", "path": str(path)} for index, path in enumerate(models)
        ],
        "rules": {
            "blocked_exit": {"check_interval_s": 0.5, "dwell_s": 5, "clear_s": 3, "cooldown_s": 5}
        },
        "mqtt": {"mode": "external", "host": HOST, "port": broker_port, "topic_prefix": PREFIX},
        "storage": {"data_dir": str(folder / "data")},
        "api": {
            "host": HOST,
            "port": api_port,
            "tokens": [
                {"name": "hub", "token": tokens["hub"], "role": "auditor"},
                {"name": "operator", "token": tokens["operator"], "role": "operator"},
            ],
        },
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


def hub_config(folder: Path, dsn: str, central: int, port: int, edges: dict[str, Any]) -> Path:
    """hub.yaml: two grids, a street office, a supervisor per grid, plant-a's officer."""
    people: list[dict[str, Any]] = [
        {"name": "Street office", "role": "street_office", "token": edges["_tokens"]["street"]}
    ]
    for grid, (_, supervisor) in GRIDS.items():
        token = edges["_tokens"][grid]
        people.append({"name": supervisor, "role": "supervisor", "grid": grid, "token": token})
    people.append(
        {
            "name": "plant-a officer",
            "role": "officer",
            "site": "plant-a",
            "token": edges["_tokens"]["officer"],
        }
    )
    document = {
        "street_office": {"name": "示范街道办 Demo street office"},
        "mqtt": {"host": HOST, "port": central, "topic_prefix": PREFIX},
        "database": {"dsn": dsn},
        "evidence": {"dir": str(folder / "evidence"), "retry_min_s": 1, "retry_max_s": 10},
        "sync": {"check_s": 2, "grace_s": 5, "poll_s": 15},
        "api": {"host": HOST, "port": port},
        "sites": [
            {
                "id": site,
                "name": name,
                "api_url": edges[site],
                "token": edges["_tokens"]["hub"],
                "timezone": DEMO_ZONE,
            }
            for site, name, _, _ in EDGES
        ],
        "grids": [
            {
                "id": grid,
                "name": title,
                "supervisor": supervisor,
                "sites": [s for s, _, g, _ in EDGES if g == grid],
            }
            for grid, (title, supervisor) in GRIDS.items()
        ],
        "people": people,
    }
    path = folder / "hub.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


@contextmanager
def fleet_demo(options: FleetDemoOptions) -> Iterator[FleetDemo]:
    """Start the whole fleet; yields once the hub is connected to the central broker."""
    run = options.folder / "run"
    shutil.rmtree(run, ignore_errors=True)  # each demo starts from an empty database
    logs = options.folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    media = options.folder / "media"
    subprocess.run(
        [python, "-m", "sitewatch.demo.scene_file", str(media / "scene.mp4")], check=True
    )
    tokens = {name: secrets.token_urlsafe(18) for name in ("hub", "operator")}
    people = {name: secrets.token_urlsafe(18) for name in ("street", *GRIDS, "officer")}
    with ExitStack() as stack:
        pg = stack.enter_context(local_postgres(free_port()))
        dsn = pg.create_database("hub")
        demo = FleetDemo(f"http://{HOST}:{options.console_port}/console/", {}, dsn, logs=logs)
        rtsp_port, central_port = free_port(), free_port()
        serve = ["--dir", str(media), "--host", HOST, "--port", str(rtsp_port)]
        serve += ["--control-port", str(free_port())]
        rtsp = stack.enter_context(
            _process(demo, "rtsp-server", [python, "-m", "sitewatch.demo.rtsp_server_main", *serve])
        )
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        central = stack.enter_context(
            _process(
                demo,
                "mosquitto-central",
                [mosquitto, "-c", str(mosquitto_conf(run / "central", central_port))],
            )
        )
        _wait_port(central_port, central, "the central mosquitto", 10)
        _wait_port(rtsp_port, rtsp, "the RTSP server", 15)
        camera_url = f"rtsp://{HOST}:{rtsp_port}/scene.mp4?play_count=0"
        api_urls: dict[str, Any] = {"_tokens": {**tokens, **people}}
        edges: list[tuple[str, int, subprocess.Popen[bytes]]] = []
        for site, name, _, bridged in EDGES:
            broker_port = central_port
            if bridged:
                broker_port = free_port()
                conf = mosquitto_conf(run / f"{site}-broker", broker_port, (site, central_port))
                local = stack.enter_context(
                    _process(demo, f"mosquitto-{site}", [mosquitto, "-c", str(conf)])
                )
                _wait_port(broker_port, local, f"{site}'s mosquitto", 10)
            api_port = free_port()
            config = edge_config(
                run / site, site, name, camera_url, broker_port, api_port, tokens, options.models
            )
            argv = [python, "-m", "sitewatch", "run", "--config", str(config)]
            edges.append((site, api_port, stack.enter_context(_process(demo, site, argv))))
            api_urls[site] = f"http://{HOST}:{api_port}"
        hub_yaml = hub_config(run, dsn, central_port, options.console_port, api_urls)
        hub = stack.enter_context(
            _process(demo, "hub", [python, "-m", "sitewatch", "hub", "--config", str(hub_yaml)])
        )
        for site, api_port, proc in edges:
            _wait_port(api_port, proc, f"edge {site}", 120)
        _wait_hub(options.console_port, hub)
        demo.tokens = {
            "Street office": people["street"],
            **{GRIDS[g][1]: people[g] for g in GRIDS},
            "plant-a officer": people["officer"],
        }
        yield demo


def _wait_hub(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sitewatch hub exited with {proc.returncode} (see logs/hub.log)")
        try:
            health = httpx.get(f"http://{HOST}:{port}/healthz", timeout=2).json()
            if health.get("mqtt_connected"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"sitewatch hub did not connect to the central broker in {timeout_s} s")


def main(argv: list[str] | None = None) -> int:
    """Start the fleet, print the console and the tokens, wait for Ctrl-C (or --seconds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--folder", type=Path, default=FleetDemoOptions.folder)
    parser.add_argument("--console-port", type=int, default=FleetDemoOptions.console_port)
    parser.add_argument(
        "--no-models", action="store_true", help="Edges run the blocked-exit check only."
    )
    parser.add_argument("--seconds", type=float, default=None, help="Stop after this long.")
    args = parser.parse_args(argv)
    options = FleetDemoOptions(
        args.folder, args.console_port, () if args.no_models else FleetDemoOptions.models
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("starting PostgreSQL, mosquitto (central + plant-c's bridged one), 3 edges, the hub…")
    try:
        with fleet_demo(options) as demo:
            print(f"\nCentral console: {demo.console_url}")
            for person, token in demo.tokens.items():
                print(f"  {person:<16} token {token}")
            print(f"Logs: {demo.logs}   (a pallet blocks each site's fire exit every 30 s;")
            print(" Ctrl-C stops everything)", flush=True)
            stop.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"demo-fleet: {error}", file=sys.stderr)
        return 1
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
