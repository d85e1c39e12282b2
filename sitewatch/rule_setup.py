"""From the site configuration to each camera's rules and schedule (live and replay alike)."""

from __future__ import annotations

from dataclasses import replace

from core.vocabulary import Hazard, ZoneKind
from detect.blocked_exit import BlockedExitParams
from detect.camera_rules import CameraRules, RuleParams
from detect.flame_evidence import EvidenceParams
from detect.flame_rule import FlameParams
from detect.hardhat_rule import HardhatParams
from detect.motion import MotionGate, MotionParams
from detect.tracker import TrackerParams
from detect.zones import ZoneShape
from ingest.camera_reader import CameraReader
from sitewatch.config.camera import Camera, Coordinates
from sitewatch.config.rules import FlameRule, HardhatRule
from sitewatch.config.site import SiteConfig
from sitewatch.pipeline import CameraWork


def tracker_params(hardhat: HardhatRule) -> TrackerParams:
    """The head tracker under the hard hat rule: a head the rule would count can start a track.
    (With the tracker's own start threshold above ``head_threshold``, a bare head scored
    between the two would never be tracked, so never counted.)"""
    default = TrackerParams()
    start = min(default.high_threshold, hardhat.head_threshold)
    return replace(default, high_threshold=start, low_threshold=min(default.low_threshold, start))


def evidence_params(flame: FlameRule) -> EvidenceParams | None:
    """The flame rule's temporal evidence as configured (None: off)."""
    evidence = flame.evidence
    if not evidence.enabled:
        return None
    return EvidenceParams(
        width=evidence.width,
        min_change=evidence.min_change,
        min_stay=evidence.min_stay,
        strong_confidence=evidence.strong_confidence,
        max_gap_s=evidence.max_gap_s,
    )


def rule_params(config: SiteConfig, has_detector: bool) -> RuleParams:
    """Every rule's parameters; the detection rules are off without a detector."""
    rules = config.rules
    exit_rule = rules.blocked_exit
    flame = rules.flame
    hardhat = rules.hardhat
    return RuleParams(
        blocked_exit=BlockedExitParams(
            exit_rule.min_blocked_fraction, exit_rule.dwell_s, exit_rule.clear_s
        ),
        flame=FlameParams(
            fire_threshold=flame.fire_threshold,
            smoke_threshold=flame.smoke_threshold,
            min_area_fraction=flame.min_area_fraction,
            confirm_frames=flame.confirm_frames,
            window_frames=flame.window_frames,
            allowed_overlap=flame.allowed_overlap,
            growth_factor=flame.growth_factor,
            clear_s=flame.clear_s,
            evidence=evidence_params(flame),
        )
        if has_detector and flame.enabled
        else None,
        hardhat=HardhatParams(
            head_threshold=hardhat.head_threshold,
            min_duration_s=hardhat.min_duration_s,
            min_presence=hardhat.min_presence,
            keep_presence=hardhat.keep_presence,
            clear_s=hardhat.clear_s,
            person_threshold=hardhat.person_threshold,
            helmet_threshold=hardhat.helmet_threshold,
            min_person_size=hardhat.min_person_size,
        )
        if has_detector and hardhat.enabled
        else None,
        tracker=tracker_params(hardhat),
    )


def zone_shapes(camera: Camera) -> list[ZoneShape]:
    """The camera's zones as shapes."""
    return [
        ZoneShape(
            zone.name,
            zone.kind,
            tuple(zone.points),
            normalized=zone.coordinates is Coordinates.NORMALIZED,
        )
        for zone in camera.zones
    ]


def camera_work(
    config: SiteConfig, camera: Camera, has_detector: bool, reader: CameraReader | None = None
) -> CameraWork:
    """One camera's rules and schedule."""
    params = rule_params(config, has_detector)
    obstacles = {
        zone.name: tuple(zone.obstacle_classes)
        for zone in camera.zones
        if zone.kind is ZoneKind.EXIT
    }
    rules = CameraRules(camera.name, zone_shapes(camera), params, obstacles)
    wanted = rules.has_detection_rules or bool(rules.exit_watches)  # exits look for people
    detect_period = 1.0 / camera.detect_fps if has_detector and wanted else None
    exit_period = config.rules.blocked_exit.check_interval_s if rules.exit_watches else None
    periods = [p for p in (detect_period, exit_period) if p is not None]
    work = CameraWork(
        camera.name,
        rules,
        sample_period_s=min(periods, default=1.0 / camera.detect_fps),
        exit_period_s=exit_period,
        detect_period_s=detect_period,
        reader=reader,
    )
    gating = config.rules.motion
    if detect_period is not None and gating.enabled:
        work.motion = MotionGate(
            MotionParams(
                gating.pixel_threshold, gating.min_changed_fraction, max_skip_s=gating.max_skip_s
            )
        )
    return work


def alert_cooldowns(config: SiteConfig) -> dict[str, float]:
    """Per hazard, how soon after an alert ended the same incident reopens it instead of
    opening a new one (the alert service's ``cooldowns``, live and replay alike)."""
    rules = config.rules
    return {
        Hazard.BLOCKED_EXIT: rules.blocked_exit.cooldown_s,
        Hazard.FLAME: rules.flame.cooldown_s,
        Hazard.MISSING_HARDHAT: rules.hardhat.cooldown_s,
    }
