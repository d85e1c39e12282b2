"""Rule parameters (one section per hazard)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from core.config_files import FieldError, Section
from core.vocabulary import FIRE, HEAD, HELMET, PERSON, SMOKE
from detect.blocked_exit import BlockedExitParams
from detect.flame_evidence import EvidenceParams
from detect.flame_rule import FlameParams
from detect.hardhat_rule import HardhatParams

# The rules' own defaults are the one source of the configuration's defaults.
EXIT_DEFAULTS = BlockedExitParams()
EVIDENCE_DEFAULTS = EvidenceParams()
FLAME_DEFAULTS = FlameParams()
HARDHAT_DEFAULTS = HardhatParams()


class BlockedExitRule(Section):
    """An exit zone that differs from its reference image of the clear exit."""

    check_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often each exit zone is compared."
    )
    min_blocked_fraction: float = Field(
        default=EXIT_DEFAULTS.min_blocked_fraction,
        gt=0,
        le=1,
        description="Share of the zone that must differ to count.",
    )
    dwell_s: float = Field(
        default=EXIT_DEFAULTS.dwell_s,
        ge=0,
        le=3600,
        description="How long the zone must stay blocked to alert.",
    )
    clear_s: float = Field(
        default=EXIT_DEFAULTS.clear_s,
        ge=0,
        le=3600,
        description="How long it must stay clear to end the alert.",
    )
    cooldown_s: float = Field(
        default=60.0, ge=0, description="Quiet time before the same zone may open a new alert."
    )


class FlameEvidenceRule(Section):
    """Temporal evidence: a fire or smoke box counts only when it flickers or drifts in place
    (detect/flame_evidence.py; chosen with python -m bench.flame_evidence)."""

    enabled: bool = Field(
        default=True, description="Off: one frame's boxes are enough (not recommended)."
    )
    min_change: float = Field(
        default=EVIDENCE_DEFAULTS.min_change,
        ge=0,
        le=255,
        description="Median grey-level change inside the box since the previous sampled frame, "
        "above the frame's own median change.",
    )
    min_stay: float = Field(
        default=EVIDENCE_DEFAULTS.min_stay,
        ge=0,
        le=1,
        description="IoU the box must have with a fire or smoke box of the previous sampled "
        "frame (a fire stays where it burns; false boxes on moving things travel).",
    )
    strong_confidence: float = Field(
        default=EVIDENCE_DEFAULTS.strong_confidence,
        gt=0,
        le=1,
        description="Boxes at least this confident need no temporal evidence (1: every box "
        "needs it).",
    )
    width: int = Field(
        default=EVIDENCE_DEFAULTS.width,
        ge=32,
        le=1920,
        description="Width of the grey frame the check works on.",
    )
    max_gap_s: float = Field(
        default=EVIDENCE_DEFAULTS.max_gap_s,
        gt=0,
        le=60,
        description="A previous sampled frame older than this is no reference.",
    )


class FlameRule(Section):
    """Fire and smoke detections (needs a model with fire/smoke classes)."""

    enabled: bool = Field(default=True, description="Off: no flame or smoke alerts.")

    fire_threshold: float = Field(
        default=FLAME_DEFAULTS.fire_threshold,
        gt=0,
        lt=1,
        description="Minimum confidence of a fire detection (default chosen on held-out "
        "pictures: bench/operating_points.py).",
    )
    smoke_threshold: float = Field(
        default=FLAME_DEFAULTS.smoke_threshold,
        gt=0,
        lt=1,
        description="Minimum confidence of a smoke detection.",
    )
    confirm_frames: int = Field(
        default=FLAME_DEFAULTS.confirm_frames, ge=1, description="k of the last n sampled frames."
    )
    window_frames: int = Field(
        default=FLAME_DEFAULTS.window_frames, ge=1, le=100, description="n sampled frames."
    )
    min_area_fraction: float = Field(
        default=FLAME_DEFAULTS.min_area_fraction,
        ge=0,
        lt=1,
        description="Smallest fire or smoke box that counts, as a share of the frame area.",
    )
    allowed_overlap: float = Field(
        default=FLAME_DEFAULTS.allowed_overlap,
        gt=0,
        le=1,
        description="A box lying at least this share inside flame_allowed zones is allowed.",
    )
    growth_factor: float = Field(
        default=FLAME_DEFAULTS.growth_factor,
        gt=1,
        le=100,
        description="Escalate when the burning area reaches this multiple of its size when "
        "fire was confirmed (and again at each further multiple).",
    )
    clear_s: float = Field(
        default=FLAME_DEFAULTS.clear_s,
        ge=0,
        le=3600,
        description="No confirmed fire or smoke for this long ends the alert.",
    )
    cooldown_s: float = Field(
        default=60.0, ge=0, description="Flames again within this time reopen the ended alert."
    )
    evidence: FlameEvidenceRule = Field(default_factory=FlameEvidenceRule)

    @model_validator(mode="after")
    def _k_of_n(self) -> Self:
        if self.confirm_frames > self.window_frames:
            raise FieldError(
                ("confirm_frames",),
                f"confirm_frames ({self.confirm_frames}) cannot exceed window_frames "
                f"({self.window_frames})",
            )
        return self


class HardhatRule(Section):
    """Bare heads in hardhat_required zones (needs a model with a head class)."""

    enabled: bool = Field(default=True, description="Off: no missing-hard-hat alerts.")

    head_threshold: float = Field(
        default=HARDHAT_DEFAULTS.head_threshold,
        gt=0,
        lt=1,
        description="Minimum confidence of a bare-head detection.",
    )
    min_duration_s: float = Field(
        default=HARDHAT_DEFAULTS.min_duration_s,
        ge=0,
        le=600,
        description="A tracked person counts once seen this long (people passing do not).",
    )
    min_presence: float = Field(
        default=HARDHAT_DEFAULTS.min_presence,
        gt=0,
        le=1,
        description="Share of the frames of the last min_duration_s in which the person must "
        "be seen bare-headed in the zone (absorbs helmet/head flips of the detector).",
    )
    keep_presence: float = Field(
        default=HARDHAT_DEFAULTS.keep_presence,
        gt=0,
        le=1,
        description="Once counted, the share that keeps a person counted (hysteresis: a score "
        "hovering around head_threshold does not make the reported count flicker).",
    )
    clear_s: float = Field(
        default=HARDHAT_DEFAULTS.clear_s,
        ge=0,
        le=3600,
        description="Nobody counted for this long ends the alert.",
    )
    cooldown_s: float = Field(
        default=60.0, ge=0, description="Bare heads again within this time reopen the alert."
    )
    person_threshold: float = Field(
        default=HARDHAT_DEFAULTS.person_threshold,
        gt=0,
        le=1,
        description="With a person finder ('person' boxes, e.g. a YOLOX model): minimum "
        "confidence of a person box whose head is judged (1: people are not judged).",
    )
    helmet_threshold: float = Field(
        default=HARDHAT_DEFAULTS.helmet_threshold,
        gt=0,
        lt=1,
        description="A judged person counts as bare-headed while no helmet box of this "
        "confidence lies in the top of its box (where the head is).",
    )
    min_person_size: float = Field(
        default=HARDHAT_DEFAULTS.min_person_size,
        ge=0,
        lt=1,
        description="People shorter than this share of the frame's longer side are not judged "
        "(the hazard model sees too few pixels of their head); their head boxes still count.",
    )

    @model_validator(mode="after")
    def _keep_below_min(self) -> Self:
        if self.keep_presence > self.min_presence:
            raise FieldError(
                ("keep_presence",),
                f"keep_presence ({self.keep_presence}) cannot exceed min_presence "
                f"({self.min_presence})",
            )
        return self


class MotionGating(Section):
    """Skip inference on frames where nothing moved (the last detections stand in)."""

    enabled: bool = Field(default=True, description="Off: every sampled frame is inferred.")
    pixel_threshold: float = Field(
        default=12.0, gt=0, le=255, description="Grey levels a pixel must change by."
    )
    min_changed_fraction: float = Field(
        default=0.002, ge=0, lt=1, description="Share of the frame that must change."
    )
    max_skip_s: float = Field(
        default=5.0, gt=0, le=300, description="Run inference at least this often anyway."
    )


class Rules(Section):
    """Parameters of every rule."""

    motion: MotionGating = Field(default_factory=MotionGating)

    blocked_exit: BlockedExitRule = Field(default_factory=BlockedExitRule)
    flame: FlameRule = Field(default_factory=FlameRule)
    hardhat: HardhatRule = Field(default_factory=HardhatRule)

    def class_thresholds(self) -> dict[str, float]:
        """The confidence each enabled detection rule needs of the classes it reads: a model
        keeps those classes down to it (``sitewatch.runner.load_detectors``)."""
        needs: dict[str, float] = {}
        if self.flame.enabled:
            needs[FIRE] = self.flame.fire_threshold
            needs[SMOKE] = self.flame.smoke_threshold
        if self.hardhat.enabled:
            needs[HEAD] = self.hardhat.head_threshold
            needs[HELMET] = self.hardhat.helmet_threshold
            needs[PERSON] = self.hardhat.person_threshold
        return needs
