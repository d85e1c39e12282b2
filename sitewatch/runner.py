"""Composition root: builds every stage from a SiteConfig, runs them, shuts them down."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from types import FrameType
from typing import Any

import uvicorn

from alerts.alert_worker import AlertWorker
from alerts.cases import CaseService
from alerts.clip_recorder import ClipReady, ClipRecorder, ClipSettings
from alerts.clip_recovery import recover_at_start
from alerts.commands import CommandConsumer
from alerts.contract import Topics
from alerts.disk_space import MB, DiskGuard
from alerts.embedded_broker import EmbeddedBroker
from alerts.escalation import EscalationWorker
from alerts.evidence_retry import EvidenceRetry
from alerts.ledger import Ledger
from alerts.mqtt_publisher import BrokerSettings, MqttPublisher
from alerts.retention import RetentionPolicy, RetentionWorker
from alerts.service import AlertService
from core.errors import SitewatchError
from detect.engine import ModelError, OnnxDetector
from detect.inference import Detector, DetectorStage, SecondLook
from detect.model_format import ModelFormat
from detect.references import ReferenceStore
from detect.yolox import YoloxDetector
from ingest.camera_reader import CameraReader, DecodePolicy, ReaderSettings, Watchdog
from ingest.frames import Frame, Image
from ingest.status import CameraState, CameraStatus
from sitewatch.api import api_server, create_app
from sitewatch.api.context import ApiDependencies
from sitewatch.api.live_stream import LiveFeed
from sitewatch.config.camera import Camera
from sitewatch.config.detector import Model
from sitewatch.config.mqtt import MqttMode
from sitewatch.config.site import SiteConfig
from sitewatch.live_results import LatestResults
from sitewatch.pipeline import AnalysisLoop, CameraWork
from sitewatch.rule_setup import alert_cooldowns, camera_work
from sitewatch.zone_editor import ZoneEditor, ZoneRefresh

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 10.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def broker_settings(config: SiteConfig) -> BrokerSettings:
    """MQTT connection settings from the config."""
    mqtt = config.mqtt
    tls = mqtt.tls
    return BrokerSettings(
        host=mqtt.host,
        port=mqtt.port,
        client_id=mqtt.client_id or f"sitewatch-{config.site.id}",
        username=mqtt.username,
        password=mqtt.password.get_secret_value() if mqtt.password else None,
        tls=tls is not None,
        ca_file=tls.ca_file if tls else None,
        cert_file=tls.cert_file if tls else None,
        key_file=tls.key_file if tls else None,
        insecure=tls.insecure if tls else False,
        keepalive_s=mqtt.keepalive_s,
        mqtt5=mqtt.mode is MqttMode.EXTERNAL,  # the embedded broker speaks 3.1.1 only
        reconnect_max_s=10,  # alerts flow again at most 10 s after the broker returns
    )


def api_base_url(config: SiteConfig) -> str:
    """Where evidence URLs point."""
    return config.api.public_url or f"http://{config.api.host}:{config.api.port}"


class StartupError(SitewatchError, RuntimeError):
    """A stage could not start (port in use, broker unreachable...); the message says which."""


def load_detectors(config: SiteConfig) -> DetectorStage | None:
    """The configured models, loaded once (StartupError names the model that fails)."""
    rules = config.rules
    if not config.models:
        if rules.flame.enabled or rules.hardhat.enabled:
            log.warning("no detector model configured: the flame and hard-hat rules are off")
        return None
    detectors: dict[str, Detector] = {}
    second_looks: dict[str, SecondLook] = {}
    needs = rules.class_thresholds()
    for index, model in enumerate(config.models):
        floors = {
            **{name: min(limit, model.confidence) for name, limit in needs.items()},
            **model.class_confidence,
        }
        detector: Detector
        try:
            kind = YoloxDetector if model.format is ModelFormat.YOLOX else OnnxDetector
            detector = kind(
                model.path,
                input_size=model.input_size,
                confidence=model.confidence,
                iou=model.nms_iou,
                threads=model.threads,
                class_names=model.classes,
                providers=model.providers or None,
                class_confidence=floors,
                use_classes=model.use_classes,
            )
        except ModelError as error:
            raise StartupError(f"models[{index}] ({model.name}): {error}") from error
        log.info(
            "model %s: %s (%s), %d px, classes %s, on %s",
            model.name,
            model.path,
            model.format,
            detector.input_size,
            ", ".join(model.use_classes or detector.class_names),
            detector.providers[0],
        )
        detectors[model.name] = detector
        if model.second_look is not None:
            second_looks[model.name] = second_look(index, model, detector, detectors)
    return DetectorStage(detectors, second_looks)


def second_look(
    index: int, model: Model, detector: Detector, loaded: Mapping[str, Detector]
) -> SecondLook:
    """``model``'s second look, in the class ids of the model it asks (StartupError when that
    model lacks one of the classes: its file's names are known only now)."""
    assert model.second_look is not None
    after = loaded[model.second_look.after]  # the config checked it is listed before
    wanted = model.use_classes or list(detector.class_names)
    missing = [name for name in wanted if name not in after.class_names]
    if missing:
        raise StartupError(
            f"models[{index}] ({model.name}): second_look.after: model "
            f"'{model.second_look.after}' has no class {', '.join(missing)} "
            f"(classes: {', '.join(after.class_names)})"
        )
    ids = tuple(after.class_names.index(name) for name in wanted)
    hints = tuple(model.second_look.hint_of(name) for name in wanted)
    return SecondLook(model.second_look.after, ids, hints)


class Runner:
    """All threads of one sitewatch process, sharing one stop event: the composition root.
    ``__init__`` builds the whole graph from the config, each collaborator given what it needs
    at construction (nothing is joined afterwards); ``start`` and ``shutdown`` run it."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.stop = threading.Event()
        self.started_at = time.time()
        storage = config.storage
        data_dir = storage.data_dir
        base_url = api_base_url(config)
        self.topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self.ledger = Ledger(data_dir / "ledger.sqlite3")
        self.ledger.restore_append_only()  # logs a warning when they were missing
        self.disk = DiskGuard(data_dir, int(storage.min_free_mb * MB), int(storage.reserve_mb * MB))
        # delivery: the embedded broker (if any) and the publisher draining the outbox
        self.broker = (
            EmbeddedBroker(config.mqtt.host, config.mqtt.port)
            if config.mqtt.mode is MqttMode.EMBEDDED
            else None
        )
        recorded = threading.Event()  # set by every stored event: wakes the publisher
        self.publisher = MqttPublisher(
            broker_settings(config), self.ledger, self.topics, self.stop, recorded
        )
        # cameras
        pairs = [self._readers_of(camera) for camera in config.cameras if camera.enabled]
        self.readers = [detect for detect, _ in pairs]
        self.recorders = [record for _, record in pairs if record is not None]
        self.watchdog = Watchdog([*self.readers, *self.recorders], self.stop)
        # alerts and their evidence: the recorder reports to the service built next, through
        # two methods that look the service up when the recorder's thread calls them
        clips = config.clips
        self.clip_recorder = ClipRecorder(
            data_dir,
            {r.settings.name: r.ring for r in [*self.readers, *self.recorders] if r.ring},
            ClipSettings(clips.pre_roll_s, clips.post_roll_s, clips.max_clip_s),
            self._clip_ready,
            self.stop,
            self.disk,
            self._clip_missing,
        )
        self.service = AlertService(
            self.ledger,
            self.topics,
            data_dir,
            base_url,
            alert_cooldowns(config),
            recorded=recorded,
            disk=self.disk,
            clips=self.clip_recorder,
        )
        self.evidence_retry = EvidenceRetry(
            self.disk,
            self.ledger,
            self.service.retry_missing,
            self.service.clip_ready,
            self.service.clip_missing,
            self.clip_recorder.stranded,
            self.stop,
        )
        self.retention = RetentionWorker(
            self.ledger,
            data_dir,
            RetentionPolicy(storage.retention_days, int(storage.disk_quota_gb * 1e9)),
            self.stop,
        )
        # cases: the workflow, escalation and commands from a fleet hub
        self.cases = CaseService(self.ledger, self.topics, data_dir, base_url, recorded=recorded)
        self.escalation = EscalationWorker(self.cases, self.stop)
        self.commands = CommandConsumer(
            broker_settings(config), self.ledger, self.cases, self.topics, self.stop
        )
        # analysis, with the zones edited in the console and what it saw for the live view
        self.zones = ZoneEditor(config, self.ledger)
        self.live_results = LatestResults()
        self.detectors = load_detectors(config)
        self.alert_worker = AlertWorker(self.service, self.stop)
        self.analysis = AnalysisLoop(
            [self._work(reader) for reader in self.readers],
            self.alert_worker,
            ReferenceStore(data_dir / "references"),
            self.stop,
            self.detectors,
            self.live_results,
            ZoneRefresh(self.zones, self._rebuild_work, self._open_zones),
        )
        self.api_server = (
            api_server(create_app(self.api_dependencies()), config.api.host, config.api.port)
            if config.api.enabled
            else None
        )

    def _clip_ready(self, ready: ClipReady) -> None:
        self.service.clip_ready(ready)

    def _clip_missing(self, alert_id: str, part: int, reason: str) -> None:
        self.service.clip_missing(alert_id, part, reason)

    def api_dependencies(self) -> ApiDependencies:
        """What the API takes from this node."""
        api = self.config.api
        return ApiDependencies(
            ledger=self.ledger,
            data_dir=self.config.storage.data_dir,
            topics=self.topics,
            base_url=api_base_url(self.config),
            cases=self.cases,
            cameras=self.camera_statuses,
            health=self.health,
            latest_frame=self.latest_frame,
            tokens={t.token.get_secret_value(): (t.name, t.role.value) for t in api.tokens},
            open_when_no_tokens=api.host in LOOPBACK,
            cors_origins=api.cors_origins,
            trusted_proxies=[str(network) for network in api.trusted_proxies],
            live=LiveFeed(self.peek_frame, self.live_results),
            zones=self.zones,
            timezone=self.config.site.timezone,
            site_name=self.config.site.name,
        )

    def _readers_of(self, camera: Camera) -> tuple[CameraReader, CameraReader | None]:
        """The detect reader and, with a record_url, a packets-only recording reader."""
        recording = camera.record_url is not None
        settings = ReaderSettings(
            name=camera.name,
            url=camera.url,
            transport=camera.transport.value,
            stall_timeout_s=camera.stall_timeout_s,
            decode=DecodePolicy(camera.decode.value),
            max_width=camera.max_width,
            buffer_seconds=0.0 if recording else camera.buffer_seconds,
            loop=camera.loop,
        )
        detect = CameraReader(settings, self.stop, on_status=self._publish_camera_status)
        if camera.record_url is None:
            return detect, None
        record_settings = replace(
            settings,
            url=camera.record_url,
            decode=DecodePolicy.NONE,
            max_width=None,
            buffer_seconds=camera.buffer_seconds,
        )
        record = CameraReader(record_settings, self.stop, on_status=self._publish_record_status)
        return detect, record

    def _work(self, reader: CameraReader) -> CameraWork:
        name = reader.settings.name
        work = camera_work(
            self.config, self.config.camera(name), self.detectors is not None, reader
        )
        return replace(work, zones_version=self.zones.version(name))

    def _rebuild_work(self, camera: Camera, old: CameraWork) -> CameraWork:
        """A camera's work for new zones (the zone refresh keeps the rest of ``old``)."""
        return camera_work(self.config, camera, self.detectors is not None, old.reader)

    def _open_zones(self, camera: str) -> set[str]:
        return {a.zone for a in self.service.open_alerts() if a.camera == camera}

    def _publish_camera_status(self, status: CameraStatus) -> None:
        self.publisher.set_retained(
            self.topics.camera_status(status.camera), json.dumps(asdict(status), sort_keys=True)
        )

    def _publish_record_status(self, status: CameraStatus) -> None:
        self.publisher.set_retained(
            self.topics.record_status(status.camera), json.dumps(asdict(status), sort_keys=True)
        )

    def peek_frame(self, camera: str) -> Frame | None:
        """The newest decoded frame of a camera (a peek: analysis still gets it)."""
        reader = next((r for r in self.readers if r.settings.name == camera), None)
        return None if reader is None else reader.latest.peek()

    def latest_frame(self, camera: str) -> Image | None:
        """The newest decoded frame's picture."""
        frame = self.peek_frame(camera)
        return None if frame is None else frame.image

    def camera_statuses(self) -> list[CameraStatus]:
        """Health of every configured camera."""
        statuses = {reader.settings.name: reader.status for reader in self.readers}
        return [
            statuses.get(c.name) or CameraStatus(c.name, CameraState.DISABLED, self.started_at)
            for c in self.config.cameras
        ]

    def health(self) -> dict[str, Any]:
        """Figures for /api/health."""
        return {
            "uptime_s": round(time.time() - self.started_at, 1),
            "mqtt_connected": self.publisher.connected,
            "mqtt_last_error": self.publisher.last_error,
            "outbox_pending": self.ledger.pending_count(),
            "open_alerts": len(self.service.open_alerts()),
            "frames_analysed": self.analysis.frames_analysed,
            "observations_queued": self.alert_worker.queued,
            "clips_recording": self.clip_recorder.active,
            "clips_failed": self.clip_recorder.failed,
            **self.evidence_health(),
            **(self.detectors.health() if self.detectors is not None else {}),
            "camera_analysis": self.analysis.figures(),
            "analysis_overloaded": self.analysis.overload.overloaded,
            "analysis_stage_cpu_s": self.analysis.stages.figures(),
            "alerts_by_hazard": self.ledger.hazard_counts(),
        }

    def evidence_health(self) -> dict[str, Any]:
        """Evidence that could not be written, and the data directory's free space."""
        free = self.disk.free_bytes()
        return {
            "evidence_missing": self.ledger.evidence_missing_count(),
            "evidence_waiting_for_space": self.service.pending_files
            + len(self.clip_recorder.stranded()),
            "data_dir_free_bytes": free,
            "disk_full": free < self.disk.floor_bytes,
            "evidence_reserve_bytes": self.disk.reserve_bytes
            if self.disk.reserve_path.exists()
            else 0,
        }

    def start(self) -> None:
        """Start every thread (broker first, API last); unfinished clips of the last run are
        recovered first, and incidents still open record a new clip part."""
        self.disk.ensure_reserve()
        recover_at_start(
            self.config.storage.data_dir,
            self.ledger,
            self.service.clip_ready,
            self.service.clip_missing,
            self.disk,
        )
        if self.broker is not None:
            self.broker.start()
        self.publisher.start()
        for camera in self.config.cameras:
            if not camera.enabled:
                self._publish_camera_status(
                    CameraStatus(camera.name, CameraState.DISABLED, self.started_at)
                )
        for reader in [*self.readers, *self.recorders]:
            reader.start()
        self.watchdog.start()
        self.service.resume_clips(time.time())
        self.alert_worker.start()
        self.analysis.start()
        self.clip_recorder.start()
        self.evidence_retry.start()
        self.retention.start()
        self.escalation.start()
        self.commands.start()
        if self.api_server is not None:
            self._start_api(self.api_server)
        log.info(
            "sitewatch running: site %s, %d camera(s), API %s",
            self.config.site.id,
            len(self.readers),
            api_base_url(self.config) if self.api_server else "disabled",
        )

    def _start_api(self, server: uvicorn.Server, timeout_s: float = 10.0) -> None:
        thread = threading.Thread(target=server.run, name="api", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                api = self.config.api
                raise StartupError(
                    f"the API could not listen on {api.host}:{api.port} "
                    "(port in use? set api.port or api.enabled: false)"
                )
            time.sleep(0.02)

    def shutdown(self) -> None:
        """Stop everything within SHUTDOWN_BUDGET_S; undelivered events stay in the outbox."""
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S
        self.stop.set()
        if self.api_server is not None:
            self.api_server.should_exit = True
        for thread in [*self.readers, *self.recorders, self.analysis]:
            thread.join(max(0.1, min(3.0, deadline - time.monotonic() - 5.0)))
        self.alert_worker.join(max(0.1, min(3.0, deadline - time.monotonic() - 4.5)))  # drains
        self.clip_recorder.join(max(0.1, deadline - time.monotonic() - 4.0))  # finishes clips
        self.escalation.join(max(0.1, min(1.0, deadline - time.monotonic() - 2.0)))
        self.commands.join(max(0.1, min(1.0, deadline - time.monotonic() - 2.0)))
        self.publisher.join(max(0.1, deadline - time.monotonic() - 1.5))
        if self.broker is not None:
            self.broker.stop(timeout_s=max(0.5, deadline - time.monotonic()))
        self.ledger.close()
        log.info("sitewatch stopped")


def run(config: SiteConfig, on_started: Callable[[Runner], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    runner = Runner(config)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        runner.stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            runner.start()
        except SitewatchError as error:  # a stage could not start; the message says which
            log.error("cannot start: %s", error)
            return 1
        if on_started is not None:
            on_started(runner)
        while not runner.stop.wait(0.5):
            pass
    finally:
        runner.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
