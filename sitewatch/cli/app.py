"""The ``sitewatch`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from alerts.ledger import LedgerError
from hub import cli as hub_cli
from ingest.url import redact_url
from sitewatch.cli import audit, models, tokens, training
from sitewatch.cli.common import ConfigOption, err, load_site, out
from sitewatch.config.site import SiteConfig
from sitewatch.config.zone_files import zone_files

app = typer.Typer(
    help="sitewatch: flames and smoke, missing hard hats and blocked exits on RTSP cameras.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("check-config")
def check_config(path: Annotated[Path, typer.Argument(help="Site configuration (YAML).")]) -> None:
    """Validate a configuration; print every error with its YAML path (exit 2) or a summary."""
    config = load_site(path)
    out.print(f"[green]✓[/] {path} is valid — site [bold]{config.site.id}[/] {config.site.name}")
    table = Table("camera", "url", "fps", "zones", "enabled", box=None, pad_edge=False)
    for camera in config.cameras:
        zones = ", ".join(f"{z.name} ({z.kind.value})" for z in camera.zones) or "—"
        table.add_row(
            camera.name,
            redact_url(camera.url),
            f"{camera.detect_fps:g}",
            zones,
            "yes" if camera.enabled else "no",
        )
    out.print(table)
    for name, saved in zone_files(config).items():
        out.print(
            f"Zones  {name}: from {saved.path} (version {saved.version}, saved by "
            f"{saved.updated_by} at {saved.updated_at}), over those of {path.name}"
        )
    mqtt = config.mqtt
    target = "embedded broker" if mqtt.mode.value == "embedded" else "broker"
    tls = " TLS" if mqtt.tls else ""
    topics = f"{mqtt.topic_prefix}/{config.site.id}/…"
    out.print(f"MQTT   {target} {mqtt.host}:{mqtt.port}{tls}, topics {topics}")
    models = (
        ", ".join(
            f"{m.name} ({', '.join(m.use_classes or m.classes)}"
            + (f" at {m.input_size} px)" if m.input_size else ")")
            for m in config.models
        )
        or "none"
    )
    out.print(f"Models {models}")
    storage = config.storage
    out.print(
        f"Data   {storage.data_dir} (keep {storage.retention_days} days, "
        f"quota {storage.disk_quota_gb:g} GB)"
    )
    api = config.api
    access = f"{len(api.tokens)} token(s)" if api.tokens else "open (loopback only)"
    out.print(f"API    http://{api.host}:{api.port} {access}" if api.enabled else "API    disabled")


@app.command()
def run(
    config: ConfigOption,
    log_format: Annotated[
        str, typer.Option(help="Log lines as 'text' or 'json'.", case_sensitive=False)
    ] = "text",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR.")] = "INFO",
) -> None:
    """Watch the cameras of a site until SIGINT or SIGTERM."""
    from sitewatch.logs import configure_logging
    from sitewatch.runner import StartupError
    from sitewatch.runner import run as run_site

    if log_format not in {"text", "json"}:
        err.print(f"--log-format must be 'text' or 'json', not '{log_format}'")
        raise typer.Exit(2)
    site = load_site(config)
    configure_logging(log_format, log_level, secrets=secrets_of(site))
    try:
        code = run_site(site)
    except (LedgerError, OSError, StartupError) as error:
        err.print(f"sitewatch: cannot start: {error}", markup=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@app.command()
def demo(
    config: ConfigOption = Path("config/demo.yaml"),
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
) -> None:
    """Generated warehouse scene over a local RTSP server, embedded broker, alerts printed."""
    from sitewatch.demo.session import run_demo

    site = load_site(config)
    raise typer.Exit(run_demo(site, seconds))


@app.command()
def schema(
    path: Annotated[Path | None, typer.Argument(help="Write the JSON Schema here.")] = None,
    check: Annotated[
        Path | None, typer.Option(help="Exit 1 when this file differs from the schema.")
    ] = None,
) -> None:
    """The JSON Schema of site configurations (for editors and CI)."""
    text = json.dumps(SiteConfig.model_json_schema(), indent=2) + "\n"
    if check is not None:
        if not check.is_file() or check.read_text() != text:
            err.print(f"{check} is out of date: run `make schema`")
            raise typer.Exit(1)
        out.print(f"{check} is up to date")
        return
    if path is None:
        out.print(text, markup=False, highlight=False, end="")
    else:
        path.write_text(text)
        out.print(f"wrote {path}")


@app.command()
def calibrate(
    config: ConfigOption,
    camera: Annotated[str, typer.Option("--camera", help="Camera whose exits are clear now.")],
    image: Annotated[
        Path | None, typer.Option(help="Use this picture instead of grabbing a frame.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a frame.")] = 20.0,
) -> None:
    """Capture the reference image of a camera's clear exits (replaces the stored one)."""
    from datetime import datetime

    from sitewatch.calibrate import CalibrationError
    from sitewatch.calibrate import calibrate as capture

    site = load_site(config)
    try:
        result = capture(site, camera, image, timeout)
    except CalibrationError as error:
        err.print(f"sitewatch calibrate: {error}", markup=False)
        raise typer.Exit(2) from None
    when = datetime.fromtimestamp(result.reference.captured_at).isoformat(timespec="seconds")
    height, width = result.reference.image.shape[:2]
    out.print(f"[green]✓[/] reference of {camera} ({width}x{height}) stored at {when}")
    out.print(f"  image:   {result.reference.path}", markup=False, highlight=False)
    out.print(f"  preview: {result.preview} (exit zones drawn: check them)", markup=False)
    out.print("  a running sitewatch picks it up at its next exit check")


@app.command()
def replay(
    video: Annotated[Path, typer.Argument(help="Recorded video (any format FFmpeg reads).")],
    config: ConfigOption,
    camera: Annotated[
        str | None, typer.Option(help="Camera whose zones and rules apply (if several).")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Picture of the clear exits (default: stored, or frame 1).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON to stdout.")] = False,
) -> None:
    """Run a recorded video through the rules (video time, as fast as the CPU allows)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from sitewatch.replay import ReplayError
    from sitewatch.replay import replay as run_replay
    from sitewatch.runner import StartupError, load_detectors

    site = load_site(config)
    try:
        detectors = load_detectors(site)
        with Progress(
            TextColumn("replaying"),
            BarColumn(),
            TextColumn("{task.fields[at]}"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("replay", total=None, at="")

            def advance(done: float, total: float | None) -> None:
                bar.update(task, completed=done, total=total, at=f"{done:.0f} s of video")

            result = run_replay(site, video, camera, detectors, reference, advance)
    except (ReplayError, StartupError) as error:
        err.print(f"sitewatch replay: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        out.print(json.dumps(result.to_dict(), indent=2), markup=False, highlight=False)
        return
    speed = result.duration_s / result.seconds if result.seconds else 0.0
    out.print(
        f"{result.video} as camera [bold]{result.camera}[/]: {result.duration_s:.1f} s of video "
        f"in {result.seconds:.1f} s ({speed:.1f}x), {result.sampled} frames sampled, "
        f"{result.inferred} inferred, {result.gated} skipped by motion gating"
    )
    if not result.incidents:
        out.print("no incident")
        return
    table = Table("start", "end", "hazard", "zone", "severity", "peak score", "details", box=None)
    for incident in result.incidents:
        details = ", ".join(f"{k}={v}" for k, v in incident.details.items())
        end = "open" if incident.end_s is None else f"{incident.end_s:.1f} s"
        table.add_row(
            f"{incident.start_s:.1f} s",
            end,
            incident.hazard,
            incident.zone,
            incident.severity,
            f"{incident.peak_score:.2f}",
            details,
        )
    out.print(table)


def secrets_of(config: SiteConfig) -> list[str]:
    """Secret values that must never reach a log line."""
    found = [t.token.get_secret_value() for t in config.api.tokens]
    if config.mqtt.password is not None:
        found.append(config.mqtt.password.get_secret_value())
    return found


training.register(app)
models.register(app)
tokens.register(app)
audit.register(app)
hub_cli.register(app)
