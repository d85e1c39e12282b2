"""Site configuration: valid files load, malformed ones are rejected with the field's path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from core.config_files import ConfigError
from sitewatch.cli.app import app
from sitewatch.config.loader import load_config

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "models"
BASE: dict[str, Any] = {
    "site": {"id": "plant-a", "name": "Plant A"},
    "cameras": [
        {
            "name": "dock",
            "url": "rtsp://${CAM_USER}:${CAM_PASS}@10.0.0.5:554/stream",
            "detect_fps": 2,
            "zones": [
                {"name": "exit-1", "kind": "exit", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}
            ],
        },
        {"name": "yard", "url": "rtsp://10.0.0.6/live"},
    ],
    "models": [],
    "mqtt": {"host": "127.0.0.1", "port": 1883},
    "storage": {"data_dir": "data"},
}
ENV = {"CAM_USER": "admin", "CAM_PASS": "s3cr3t-Pa55"}
NAMES4 = ("fire", "smoke", "helmet", "head")

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _one_model(**fields: Any) -> Edit:
    """An edit that leaves one model entry, the bundled model with ``fields``."""
    return _set("models", [{"name": "m", "path": str(ROOT / "models" / "hazards.onnx"), **fields}])


def _with_persons(hazards: dict[str, Any] | None = None, **fields: Any) -> Edit:
    """An edit that leaves the bundled hazard model (with ``hazards`` fields) and the bundled
    person finder (YOLOX) with ``fields``."""
    return _set(
        "models",
        [
            {"name": "hazards", "path": str(ROOT / "models" / "hazards.onnx"), **(hazards or {})},
            {
                "name": "persons",
                "path": str(ROOT / "models" / "persons.onnx"),
                "format": "yolox",
                **fields,
            },
        ],
    )


def _second_look(look: dict[str, Any], first: dict[str, Any] | None = None) -> Edit:
    """An edit that leaves the bundled hazard model (``first`` fields over it) and a second look
    at 512 px for flames and bare heads with the ``look`` settings."""
    model = str(ROOT / "models" / "hazards.onnx")
    return _set(
        "models",
        [
            {"name": "hazards", "path": model, **(first or {})},
            {
                "name": "again",
                "path": model,
                "input_size": 512,
                "use_classes": ["fire", "smoke", "head"],
                "second_look": look,
            },
        ],
    )


def _delete(path: str) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return edit


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


MALFORMED: list[tuple[str, Edit, str, str]] = [
    ("unknown top-level key", _set("sites", 1), "sites", "unknown key 'sites'"),
    ("unknown camera key", _set("cameras.0.fsp", 3), "cameras[0].fsp", "unknown key"),
    ("wrong type", _set("cameras.0.detect_fps", "fast"), "cameras[0].detect_fps", "number"),
    ("negative fps", _set("cameras.0.detect_fps", -1), "cameras[0].detect_fps", "greater than 0"),
    (
        "two-point polygon",
        _set("cameras.0.zones.0.points", [[0.1, 0.1], [0.2, 0.2]]),
        "cameras[0].zones[0].points",
        "polygon needs at least 3 points",
    ),
    (
        "collinear polygon",
        _set("cameras.0.zones.0.points", [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]),
        "cameras[0].zones[0].points",
        "zero area",
    ),
    (
        "self-crossing polygon",
        _set("cameras.0.zones.0.points", [[0, 0], [1, 1], [1, 0], [0, 1]]),
        "cameras[0].zones[0].points",
        "cross",
    ),
    (
        "normalized point out of range",
        _set("cameras.0.zones.0.points", [[0.1, 0.1], [1.4, 0.1], [0.5, 0.6]]),
        "cameras[0].zones[0].points[1]",
        "within 0..1",
    ),
    (
        "unknown zone kind",
        _set("cameras.0.zones.0.kind", "door"),
        "cameras[0].zones[0].kind",
        "'exit'",
    ),
    ("duplicate camera names", _set("cameras.1.name", "dock"), "cameras[1].name", "duplicate"),
    (
        "zone references a missing model class",
        _set("cameras.0.zones.0.obstacle_classes", ["pallet"]),
        "cameras[0].zones[0].obstacle_classes[0]",
        "class 'pallet' is not a class of any configured model",
    ),
    (
        "missing password variable",
        lambda c: None,  # the environment lacks CAM_PASS (see the test)
        "cameras[0].url",
        "environment variable CAM_PASS is not set",
    ),
    ("bad url scheme", _set("cameras.1.url", "ftp://x/y"), "cameras[1].url", "rtsp://"),
    ("bad camera name", _set("cameras.1.name", "Yard 2"), "cameras[1].name", "pattern"),
    ("no cameras", _set("cameras", []), "cameras", "at least 1"),
    ("missing site id", _delete("site.id"), "site.id", "required field is missing"),
    ("port out of range", _set("mqtt.port", 70000), "mqtt.port", "less than or equal"),
    (
        "password without username",
        _set("mqtt.password", "pw"),
        "mqtt.username",
        "a password needs a username",
    ),
    (
        "public bind without tokens",
        _set("api", {"host": "0.0.0.0"}),
        "api.tokens",
        "needs at least one token",
    ),
    (
        "short api token",
        _set("api", {"tokens": [{"name": "ops", "token": "short", "role": "operator"}]}),
        "api.tokens[0].token",
        "at least 16",
    ),
    (
        "k greater than n",
        _set("rules", {"flame": {"confirm_frames": 6, "window_frames": 5}}),
        "rules.flame.confirm_frames",
        "cannot exceed",
    ),
    (
        "hysteresis above the counting share",
        _set("rules", {"hardhat": {"min_presence": 0.5, "keep_presence": 0.7}}),
        "rules.hardhat.keep_presence",
        "cannot exceed min_presence",
    ),
    (
        "duplicate zone names",
        _set(
            "cameras.1.zones",
            [
                {"name": "z", "kind": "ignore", "points": [[0, 0], [1, 0], [1, 1]]},
                {"name": "z", "kind": "ignore", "points": [[0, 0], [1, 0], [0, 1]]},
            ],
        ),
        "cameras[1].zones[1].name",
        "duplicate zone name",
    ),
    (
        "model file missing",
        _set("models", [{"name": "hazards", "path": "nowhere.onnx"}]),
        "models[0].path",
        "file not found",
    ),
    (
        "model is not a detector",
        _set("models", [{"name": "m", "path": str(TINY / "classifier.onnx")}]),
        "models[0].path",
        "is a 'classify' model",
    ),
    (
        "flame rule on but no model has fire",
        _set("models", [{"name": "m", "path": str(TINY / "static64-detect.onnx")}]),
        "rules.flame.enabled",
        "needs a model with class 'fire'",
    ),
    (
        "input size a fixed-size model cannot take",
        _set(
            "models",
            [{"name": "m", "path": str(TINY / "static64-detect.onnx"), "input_size": 320}],
        ),
        "models[0].input_size",
        "fixed 64 px inputs",
    ),
    (
        "more class names than the model has",
        _set(
            "models",
            [{"name": "m", "path": str(TINY / "static64-detect.onnx"), "classes": ["a"]}],
        ),
        "models[0].classes",
        "lists 1 classes but the model has 2 (crate, pallet)",
    ),
    (
        "hard-hat rule without a head class",
        _one_model(classes=["fire", "smoke", "helmet", "bare"]),
        "rules.hardhat.enabled",
        "needs a model with class 'head'",
    ),
    (
        "a class the model does not have in use_classes",
        _one_model(use_classes=["fire", "flames"]),
        "models[0].use_classes[1]",
        "'flames' is not a class of model 'm' (classes: fire, smoke, helmet, head)",
    ),
    (
        "a class the model does not have in class_confidence",
        _one_model(class_confidence={"fire": 0.1, "pallet": 0.2}),
        "models[0].class_confidence.pallet",
        "'pallet' is not a class of model 'm'",
    ),
    (
        "a class floor out of range",
        _one_model(class_confidence={"fire": 1.5}),
        "models[0].class_confidence.fire",
        "must be between 0 and 1, not 1.5",
    ),
    (
        "no used class for the hard-hat rule",
        _one_model(use_classes=["fire", "smoke"]),
        "rules.hardhat.enabled",
        "needs a model with class 'head'",
    ),
    (
        "unknown model format",
        _with_persons(format="yolo-x"),
        "models[1].format",
        "'ultralytics' or 'yolox'",
    ),
    (
        "a YOLOX file read as an ultralytics export",
        _with_persons(format="ultralytics"),
        "models[1].format",
        "the file is in the 'yolox' format, not 'ultralytics' (set format: yolox)",
    ),
    (
        "an ultralytics export read as YOLOX",
        _with_persons(path=str(ROOT / "models" / "hazards.onnx")),
        "models[1].format",
        "the file is in the 'ultralytics' format, not 'yolox' (set format: ultralytics)",
    ),
    (
        "a YOLOX model at a size it cannot take",
        _with_persons(input_size=640),
        "models[1].input_size",
        "fixed 416 px inputs",
    ),
    (
        "a class COCO does not have",
        _with_persons(use_classes=["person", "worker"]),
        "models[1].use_classes[1]",
        "'worker' is not a class of model 'persons'",
    ),
    (
        "YOLOX class names that do not fit its head",
        _with_persons(classes=["person"]),
        "models[1].classes",
        "lists 1 classes but the model has 80",
    ),
    (
        "YOLOX NMS overlap out of range",
        _with_persons(iou=1.5),
        "models[1].iou",
        "less than 1",
    ),
    (
        "people judged without a helmet class",
        _with_persons(hazards={"use_classes": ["fire", "smoke", "head"]}),
        "rules.hardhat.person_threshold",
        "no configured model keeps class 'helmet'",
    ),
    (
        "second look after itself",
        _second_look({"after": "again"}),
        "models[1].second_look.after",
        "'again' is not a model listed before 'again' (earlier models: hazards)",
    ),
    (
        "second look after a model that lacks its classes",
        _second_look({"after": "hazards"}, {"classes": ["fire", "smoke", "helmet", "bare"]}),
        "models[1].second_look.after",
        "model 'hazards' has no class 'head'",
    ),
    (
        "second look hint for a class it does not look for",
        _second_look({"after": "hazards", "class_min_score": {"helmet": 0.1}}),
        "models[1].second_look.class_min_score.helmet",
        "'helmet' is not one of the classes model 'again' looks for",
    ),
    (
        "second look hint above 1",
        _second_look({"after": "hazards", "class_min_score": {"head": 1.5}}),
        "models[1].second_look.class_min_score.head",
        "must be between 0 and 1",
    ),
    (
        "second look hint zero",
        _second_look({"after": "hazards", "min_score": 0}),
        "models[1].second_look.min_score",
        "greater than 0",
    ),
    (
        "person threshold zero",
        _set("rules", {"hardhat": {"person_threshold": 0}}),
        "rules.hardhat.person_threshold",
        "greater than 0",
    ),
    (
        "helmet threshold above 1",
        _set("rules", {"hardhat": {"helmet_threshold": 1.5}}),
        "rules.hardhat.helmet_threshold",
        "less than 1",
    ),
    (
        "negative person size",
        _set("rules", {"hardhat": {"min_person_size": -0.1}}),
        "rules.hardhat.min_person_size",
        "greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_config_is_rejected_with_its_path(
    tmp_path: Path, edit: Edit, path: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = copy.deepcopy(BASE)
    edit(config)
    file = _write(tmp_path, config)
    monkeypatch.setenv("CAM_USER", ENV["CAM_USER"])
    if "CAM_PASS" in fragment:
        monkeypatch.delenv("CAM_PASS", raising=False)
    else:
        monkeypatch.setenv("CAM_PASS", ENV["CAM_PASS"])

    result = CliRunner().invoke(app, ["check-config", str(file)])

    assert result.exit_code == 2, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    matching = [line for line in lines if line.startswith(f"{path}:")]
    assert matching, f"no error for {path} in:\n{result.output}"
    assert any(fragment in line for line in matching), result.output
    assert ENV["CAM_PASS"] not in result.output


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = copy.deepcopy(BASE)
    config["cameras"][0]["detect_fps"] = 0
    config["cameras"][1]["transport"] = "quic"
    config["mqtt"]["prot"] = 1

    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, config), env=ENV)

    paths = {problem.path for problem in caught.value.problems}
    assert paths == {"cameras[0].detect_fps", "cameras[1].transport", "mqtt.prot"}


def test_problems_carry_the_yaml_line(tmp_path: Path) -> None:
    file = tmp_path / "site.yaml"
    file.write_text(
        "site:\n  id: a\ncameras:\n  - name: cam\n    url: rtsp://h/s\n    detect_fps: -2\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(file, env={})
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("cameras[0].detect_fps", 6)


def test_typo_gets_a_suggestion(tmp_path: Path) -> None:
    config = copy.deepcopy(BASE)
    config["cameras"][0]["detect_fsp"] = 2
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, config), env=ENV)
    assert "did you mean 'detect_fps'?" in str(caught.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "site.yaml"
    file.write_text("site:\n  id: a\ncameras: [\n")
    result = CliRunner().invoke(app, ["check-config", str(file)])
    assert result.exit_code == 2
    assert "invalid YAML" in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "cannot read file" in result.output


def test_environment_substitution_and_defaults(tmp_path: Path) -> None:
    config = copy.deepcopy(BASE)
    config["cameras"][1]["url"] = "rtsp://${YARD_HOST:-10.0.0.9}/live"
    loaded = load_config(_write(tmp_path, config), env=ENV)
    assert loaded.cameras[0].url == "rtsp://admin:s3cr3t-Pa55@10.0.0.5:554/stream"
    assert loaded.cameras[1].url == "rtsp://10.0.0.9/live"
    assert loaded.storage.data_dir == tmp_path / "data"  # relative to the config file


def test_config_is_frozen(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, copy.deepcopy(BASE)), env=ENV)
    with pytest.raises(ValueError, match="frozen"):
        loaded.cameras[0].detect_fps = 5  # type: ignore[misc]


@pytest.mark.parametrize("name", ["site-example.yaml", "demo.yaml"])
def test_shipped_examples_are_valid(name: str) -> None:
    result = CliRunner().invoke(app, ["check-config", str(ROOT / "config" / name)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def test_valid_summary_hides_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["check-config", str(_write(tmp_path, BASE))])
    assert result.exit_code == 0, result.output
    assert ENV["CAM_PASS"] not in result.output
    assert "dock" in result.output


def test_schema_file_is_current() -> None:
    result = CliRunner().invoke(app, ["schema", "--check", str(ROOT / "config" / "schema.json")])
    assert result.exit_code == 0, result.output


def test_rule_defaults_come_from_the_rules_own_defaults() -> None:
    """The configuration's defaults are the rule dataclasses' defaults (one source of truth):
    every field the two share, for all four sections."""
    from dataclasses import fields

    from detect.blocked_exit import BlockedExitParams
    from detect.flame_evidence import EvidenceParams
    from detect.flame_rule import FlameParams
    from detect.hardhat_rule import HardhatParams
    from sitewatch.config.rules import BlockedExitRule, FlameEvidenceRule, FlameRule, HardhatRule

    pairs: list[tuple[Any, Any, int]] = [
        (BlockedExitRule(), BlockedExitParams(), 3),
        (FlameRule(), FlameParams(), 8),
        (HardhatRule(), HardhatParams(), 8),
        (FlameEvidenceRule(), EvidenceParams(), 5),
    ]
    for config, params, expected in pairs:
        shared = [
            f.name
            for f in fields(params)
            if f.name in type(config).model_fields and f.name != "evidence"
        ]
        assert len(shared) == expected, (type(config).__name__, shared)
        for name in shared:
            assert getattr(config, name) == getattr(params, name), name


def test_models_keep_the_classes_rules_read_down_to_the_rules_thresholds(tmp_path: Path) -> None:
    """A model's ``confidence`` floors every class, except that the classes an enabled rule
    reads are kept down to the rule's own threshold (else a rule threshold under the floor
    would silently never fire)."""
    from detect.model_probe import describe_model
    from sitewatch.runner import load_detectors

    def load(raw: dict[str, Any]) -> Any:
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(raw))
        return load_detectors(load_config(path, read_model=describe_model))

    raw = copy.deepcopy(BASE)
    raw["cameras"][0]["url"] = "rtsp://10.0.0.5/stream"
    raw["models"] = [
        {"name": "hazards", "path": str(ROOT / "models" / "hazards.onnx"), "confidence": 0.3}
    ]
    raw["rules"] = {"flame": {"fire_threshold": 0.07, "smoke_threshold": 0.5}}
    stage = load(raw)
    assert stage is not None
    detector = stage.detectors["hazards"]
    floors = dict(zip(detector.class_names, detector.floors().tolist(), strict=True))
    # the hard hat rule reads helmets (on people's heads) down to helmet_threshold (0.25)
    assert floors == pytest.approx({"fire": 0.07, "smoke": 0.3, "helmet": 0.25, "head": 0.1})
    raw["rules"] = {"flame": {"enabled": False}, "hardhat": {"enabled": False}}
    stage = load(raw)
    assert stage is not None
    assert stage.detectors["hazards"].floors().tolist() == pytest.approx([0.3] * 4)


def test_one_model_file_at_two_sizes_each_for_its_classes(tmp_path: Path) -> None:
    from detect.model_probe import describe_model
    from sitewatch.runner import load_detectors

    raw = copy.deepcopy(BASE)
    raw["cameras"][0]["url"] = "rtsp://10.0.0.5/stream"
    model = str(ROOT / "models" / "hazards.onnx")
    raw["models"] = [
        {"name": "flames", "path": model, "input_size": 416, "use_classes": ["fire", "smoke"]},
        {"name": "people", "path": model, "input_size": 640, "use_classes": ["helmet", "head"]},
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    stage = load_detectors(load_config(path, read_model=describe_model))
    assert stage is not None
    flames, people = stage.detectors["flames"], stage.detectors["people"]
    assert (flames.input_size, people.input_size) == (416, 640)
    assert np.isinf(flames.floors()[2:]).all() and np.isfinite(flames.floors()[:2]).all()
    assert np.isinf(people.floors()[:2]).all() and np.isfinite(people.floors()[2:]).all()


def test_a_models_class_floors_beat_the_rules_thresholds(tmp_path: Path) -> None:
    from detect.model_probe import describe_model
    from sitewatch.runner import load_detectors

    raw = copy.deepcopy(BASE)
    raw["cameras"][0]["url"] = "rtsp://10.0.0.5/stream"
    model = str(ROOT / "models" / "hazards.onnx")
    raw["models"] = [
        {"name": "first", "path": model},
        {"name": "second", "path": model, "class_confidence": {"fire": 0.4, "head": 0.35}},
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    stage = load_detectors(load_config(path, read_model=describe_model))
    assert stage is not None
    first = dict(zip(NAMES4, stage.detectors["first"].floors().tolist(), strict=True))
    second = dict(zip(NAMES4, stage.detectors["second"].floors().tolist(), strict=True))
    assert first == pytest.approx({"fire": 0.05, "smoke": 0.05, "helmet": 0.25, "head": 0.1})
    assert second == pytest.approx({"fire": 0.4, "smoke": 0.05, "helmet": 0.25, "head": 0.35})


def test_a_yolox_entry_runs_as_a_person_finder(tmp_path: Path) -> None:
    """``format: yolox`` loads the bundled COCO YOLOX model: COCO names, its fixed 416 px, only
    ``use_classes`` kept, the person floor at the lower of the model's and the rule's."""
    from detect.engine import OnnxDetector
    from detect.model_probe import describe_model
    from detect.yolox import COCO_NAMES, YoloxDetector
    from sitewatch.runner import load_detectors

    raw = copy.deepcopy(BASE)
    raw["cameras"][0]["url"] = "rtsp://10.0.0.5/stream"
    _with_persons(use_classes=["person", "chair"], confidence=0.4)(raw)
    raw["rules"] = {"hardhat": {"person_threshold": 0.35}}
    config = load_config(_write(tmp_path, raw), read_model=describe_model)
    assert config.models[1].classes == list(COCO_NAMES)
    assert config.models[1].nms_iou == pytest.approx(0.45)
    assert config.models[0].nms_iou == pytest.approx(0.7)
    stage = load_detectors(config)
    assert stage is not None
    hazards, persons = stage.detectors["hazards"], stage.detectors["persons"]
    assert isinstance(hazards, OnnxDetector)
    assert isinstance(persons, YoloxDetector)
    assert persons.input_size == 416
    floors = dict(zip(persons.class_names, persons.floors().tolist(), strict=True))
    assert floors["person"] == pytest.approx(0.35)
    assert floors["chair"] == pytest.approx(0.4)
    assert sum(np.isfinite(list(floors.values()))) == 2


def test_obstacle_classes_may_name_coco_objects_of_a_person_finder(tmp_path: Path) -> None:
    from detect.model_probe import describe_model

    raw = copy.deepcopy(BASE)
    _with_persons(use_classes=["person", "suitcase"])(raw)
    raw["cameras"][0]["zones"][0]["obstacle_classes"] = ["suitcase"]
    config = load_config(_write(tmp_path, raw), env=ENV, read_model=describe_model)
    assert config.cameras[0].zones[0].obstacle_classes == ["suitcase"]
