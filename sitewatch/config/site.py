"""The root of a site configuration."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from core.config_files import NAME_PATTERN, FieldError, Section
from core.time_zones import known_time_zone
from core.vocabulary import FIRE, HEAD, HELMET, PERSON, ZoneKind
from sitewatch.config.api import Api
from sitewatch.config.camera import Camera
from sitewatch.config.detector import Model
from sitewatch.config.mqtt import Mqtt
from sitewatch.config.rules import Rules
from sitewatch.config.storage import EvidenceClips, Storage


class Site(Section):
    """Which site this edge node watches."""

    id: str = Field(pattern=NAME_PATTERN, description="Site id, used in MQTT topics.")
    name: str = Field(default="", description="Human-readable site name.")
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the site (Asia/Shanghai, Europe/Berlin…): the console "
        "shows every time in it, with the zone named.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return known_time_zone(zone)


class SiteConfig(Section):
    """A whole sitewatch configuration file."""

    site: Site
    cameras: list[Camera] = Field(min_length=1)
    models: list[Model] = Field(default_factory=list)
    rules: Rules = Field(default_factory=Rules)
    mqtt: Mqtt = Field(default_factory=Mqtt)
    storage: Storage = Field(default_factory=Storage)
    clips: EvidenceClips = Field(default_factory=EvidenceClips)
    api: Api = Field(default_factory=Api)

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        self._check_unique("cameras", [camera.name for camera in self.cameras])
        self._check_unique("models", [model.name for model in self.models])
        for index, camera in enumerate(self.cameras):
            if 0 < camera.buffer_seconds < self.clips.pre_roll_s:
                raise FieldError(
                    ("cameras", index, "buffer_seconds"),
                    f"keeps {camera.buffer_seconds:g} s of packets but clips.pre_roll_s needs "
                    f"{self.clips.pre_roll_s:g} s",
                )
        for m, model in enumerate(self.models):
            self._check_second_look(m)
            for k, name in enumerate(model.use_classes):
                model.check_class(name, ("models", m, "use_classes", k))
            for name, floor in model.class_confidence.items():
                model.check_class(name, ("models", m, "class_confidence", name))
                if not 0 < floor < 1:
                    raise FieldError(
                        ("models", m, "class_confidence", name),
                        f"must be between 0 and 1, not {floor:g}",
                    )
        known = self.known_classes()
        self._check_rule_classes(known)
        for c, camera in enumerate(self.cameras):
            for z, zone in enumerate(camera.zones):
                for k, wanted in enumerate(zone.obstacle_classes):
                    if wanted not in known:
                        offer = ", ".join(sorted(known)) or "none: no model is configured"
                        raise FieldError(
                            ("cameras", c, "zones", z, "obstacle_classes", k),
                            f"class '{wanted}' is not a class of any configured model "
                            f"(known classes: {offer})",
                            "zone_obstacle_unknown",
                            **{"class": wanted},
                        )
        return self

    def _check_second_look(self, m: int) -> None:
        """A second look asks a model listed before it, for classes that model has."""
        model = self.models[m]
        if model.second_look is None:
            return
        path = ("models", m, "second_look", "after")
        earlier = {other.name: other for other in self.models[:m]}
        after = earlier.get(model.second_look.after)
        if after is None:
            listed = ", ".join(earlier) or "none"
            raise FieldError(
                path,
                f"'{model.second_look.after}' is not a model listed before '{model.name}' "
                f"(earlier models: {listed})",
            )
        for name in model.use_classes or model.classes:
            if after.classes and name not in after.classes:
                raise FieldError(
                    path,
                    f"model '{after.name}' has no class '{name}' to give a hint of "
                    f"(classes: {', '.join(after.classes)})",
                )
        wanted = model.use_classes or model.classes
        for name, hint in model.second_look.class_min_score.items():
            where = ("models", m, "second_look", "class_min_score", name)
            if wanted and name not in wanted:
                raise FieldError(
                    where, f"'{name}' is not one of the classes model '{model.name}' looks for"
                )
            if not 0 < hint < 1:
                raise FieldError(where, f"must be between 0 and 1, not {hint:g}")

    def _check_rule_classes(self, known: set[str]) -> None:
        """An enabled detection rule needs a model with its classes (when models are set)."""
        if not self.models:
            return
        needs = {
            "flame": (self.rules.flame.enabled, FIRE),
            "hardhat": (self.rules.hardhat.enabled, HEAD),
        }
        for rule, (enabled, wanted) in needs.items():
            if enabled and wanted not in known:
                raise FieldError(
                    ("rules", rule, "enabled"),
                    f"the {rule} rule needs a model with class '{wanted}', but the configured "
                    f"models have {', '.join(sorted(known)) or 'no classes'}; add such a model "
                    f"or set rules.{rule}.enabled: false",
                )
        hardhat = self.rules.hardhat
        if hardhat.enabled and PERSON in known and HELMET not in known:
            raise FieldError(
                ("rules", "hardhat", "person_threshold"),
                f"a model finds '{PERSON}' boxes, and the hardhat rule judges each person by "
                f"the '{HELMET}' boxes on its head, but no configured model keeps class "
                f"'{HELMET}' (everybody would count as bare-headed); add '{HELMET}' to the "
                "hazard model's use_classes, or set person_threshold: 1 to judge heads only",
            )

    @staticmethod
    def _check_unique(section: str, names: list[str]) -> None:
        for index, name in enumerate(names):
            if name in names[:index]:
                raise FieldError((section, index, "name"), f"duplicate name '{name}'")

    def known_classes(self) -> set[str]:
        """The classes the configured models find (their ``use_classes``, else all)."""
        known: set[str] = set()
        for model in self.models:
            known |= set(model.use_classes or model.classes)
        return known

    def zone_kind_problem(self, kind: ZoneKind) -> str | None:
        """Why no camera of this site can use zones of ``kind`` (``hardhat_off``,
        ``flame_off``, ``no_model``), None when it can: a hard-hat-required zone needs the
        hard-hat rule and a model finding bare heads, a flame-allowed zone the flame rule and a
        model finding fire; exit and ignore zones work everywhere."""
        needs = {
            ZoneKind.HARDHAT_REQUIRED: (self.rules.hardhat.enabled, HEAD, "hardhat_off"),
            ZoneKind.FLAME_ALLOWED: (self.rules.flame.enabled, FIRE, "flame_off"),
        }
        if kind not in needs:
            return None
        enabled, wanted, off = needs[kind]
        if not enabled:
            return off
        return None if wanted in self.known_classes() else "no_model"

    def camera(self, name: str) -> Camera:
        """The camera called ``name`` (KeyError names it when missing)."""
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f"no camera named '{name}' (cameras: {[c.name for c in self.cameras]})")
