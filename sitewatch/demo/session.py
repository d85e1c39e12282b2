"""``sitewatch demo``: the whole product on one machine, with nothing to set up."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import Progress

from alerts.contract import Topics
from sitewatch.config.mqtt import MqttMode
from sitewatch.config.site import SiteConfig
from sitewatch.demo.printer import AlertPrinter
from sitewatch.demo.rtsp import free_port, start_rtsp_server, stop_process, wait_for_port
from sitewatch.demo.scene import SceneSpec, ensure_scene
from sitewatch.logs import configure_logging
from sitewatch.runner import Runner, api_base_url, run

# 15 fps like many site cameras; the pallet arrives 6 s into each 30 s loop.
DEMO_SCENE = SceneSpec(fps=15, duration_s=30.0, obstacle_at_s=6.0)


def render_with_progress(path: Path, console: Console) -> Path:
    """Render the demo scene once (cached), showing progress."""
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("rendering the demo scene", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return ensure_scene(path, DEMO_SCENE, progress=advance)


def run_demo(config: SiteConfig, seconds: float | None) -> int:
    """Serve the scene over RTSP, run the pipeline, print alerts; returns the exit code."""
    console = Console(soft_wrap=True)
    configure_logging("text", "INFO")
    camera = config.cameras[0]
    url = urlsplit(camera.url)
    host, port = url.hostname or "127.0.0.1", url.port or 8554
    media_dir = config.storage.data_dir / "demo-media"
    started = time.monotonic()
    render_with_progress(media_dir / Path(url.path).name, console)
    server = start_rtsp_server(
        media_dir, host, port, free_port(host), config.storage.data_dir / "rtsp-server.log"
    )
    printer = AlertPrinter(
        config.mqtt.host,
        config.mqtt.port,
        Topics(config.mqtt.topic_prefix, config.site.id),
        console,
        mqtt5=config.mqtt.mode is MqttMode.EXTERNAL,
    )
    try:
        wait_for_port(host, port, timeout=10.0)
        console.print(
            f"[bold]sitewatch demo[/]: camera {camera.name} at {camera.url}\n"
            f"  API and evidence: {api_base_url(config)}/api/alerts   "
            f"(a pallet is pushed in front of the fire exit after a few seconds; Ctrl-C stops)"
        )
        printer.start()

        def on_started(runner: Runner) -> None:
            if seconds is not None:
                threading.Timer(seconds, runner.stop.set).start()

        code = run(config, on_started)
    finally:
        printer.stop()
        stop_process(server, timeout=5.0)
    if printer.first_alert_after_s is not None:
        console.print(
            f"first alert received {printer.first_alert_after_s:.1f} s after the pipeline started "
            f"({time.monotonic() - started:.0f} s demo in all)"
        )
    else:
        console.print("[yellow]no alert was received[/]")
    return code
