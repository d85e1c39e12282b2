"""The per-camera rules core: detection rules and featureless frames, merged model outputs."""

from __future__ import annotations

import numpy as np
import pytest

from core.vocabulary import Hazard
from detect.camera_rules import CameraRules, RuleParams, merge_detections
from detect.detections import Detections
from detect.observations import Phase
from tests.detections import HAZARD_NAMES, detections

NAMES = HAZARD_NAMES


def smoke() -> Detections:
    return detections([("smoke", 0.9, (100, 50, 400, 300))])


@pytest.mark.parametrize(("featureless", "alerts"), [(False, 1), (True, 0)])
def test_smoke_on_a_featureless_frame_does_not_alert(featureless: bool, alerts: int) -> None:
    rules = CameraRules("cam", [], RuleParams())
    phases = []
    for index in range(10):
        found = rules.detections(smoke(), index * 0.5, (640, 360), featureless)
        phases += [o.phase for o in found if o.hazard is Hazard.FLAME]
    assert phases.count(Phase.START) == alerts


def test_merging_models_maps_classes_by_name() -> None:
    ours = smoke()
    theirs = Detections(
        np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32),
        np.array([0.5, 0.6], np.float32),
        np.array([1, 0], np.int32),
        ("person", "smoke"),
    )
    merged = merge_detections([ours, theirs])
    assert merged.class_names == ("fire", "smoke", "helmet", "head", "person")
    assert merged.labels == ["smoke", "smoke", "person"]
    assert merge_detections([ours]) is ours


def bare_head(score: float) -> Detections:
    return Detections(
        np.array([[300, 100, 340, 150]], np.float32),
        np.array([score], np.float32),
        np.array([3], np.int32),
        NAMES,
    )


def hardhat_starts(params: RuleParams, score: float) -> int:
    rules = CameraRules("cam", [], params)
    phases = []
    for index in range(16):  # 8 s at 2 fps
        found = rules.detections(bare_head(score), index * 0.5, (640, 360))
        phases += [o.phase for o in found if o.hazard is Hazard.MISSING_HARDHAT]
    return phases.count(Phase.START)


@pytest.mark.parametrize("score", [0.12, 0.3, 0.45, 0.9])
def test_a_bare_head_the_rule_counts_is_tracked_whatever_its_score(score: float) -> None:
    """From the configuration, the tracker starts tracks at the rule's head threshold: a head
    scored between it and the tracker's own default start (0.5) alerts too."""
    from sitewatch.config.site import SiteConfig
    from sitewatch.rule_setup import rule_params

    config = SiteConfig.model_validate(
        {
            "site": {"id": "s"},
            "cameras": [{"name": "cam", "url": "rtsp://10.0.0.5/live"}],
            "rules": {"hardhat": {"head_threshold": 0.1}},
        }
    )
    params = rule_params(config, has_detector=True)
    assert params.tracker.high_threshold == pytest.approx(0.1)
    assert hardhat_starts(params, score) == 1
    untied = RuleParams(hardhat=params.hardhat)  # the tracker's own defaults: start at 0.5
    assert hardhat_starts(untied, score) == (1 if score >= 0.5 else 0)


def test_a_head_below_the_threshold_never_alerts() -> None:
    from sitewatch.config.site import SiteConfig
    from sitewatch.rule_setup import rule_params

    config = SiteConfig.model_validate(
        {"site": {"id": "s"}, "cameras": [{"name": "cam", "url": "rtsp://10.0.0.5/live"}]}
    )
    params = rule_params(config, has_detector=True)
    assert params.hardhat is not None
    assert hardhat_starts(params, params.hardhat.head_threshold * 0.9) == 0


def head_under_a_helmet(head_score: float, helmet_score: float, shift: float) -> Detections:
    """A ``helmet`` box and a ``head`` box ``shift`` px apart on one person."""
    return Detections(
        np.array([[300, 100, 340, 150], [300 + shift, 100, 340 + shift, 150]], np.float32),
        np.array([helmet_score, head_score], np.float32),
        np.array([2, 3], np.int32),
        NAMES,
    )


@pytest.mark.parametrize(
    ("head", "helmet", "shift", "alerts"),
    [
        pytest.param(0.15, 0.8, 2.0, 0, id="weak head under a confident helmet: one head"),
        pytest.param(0.8, 0.3, 2.0, 1, id="confident head, weak helmet: bare"),
        pytest.param(0.15, 0.8, 60.0, 1, id="two people side by side: the bare one counts"),
    ],
)
def test_one_verdict_per_head(head: float, helmet: float, shift: float, alerts: int) -> None:
    from detect.hardhat_rule import HardhatParams
    from detect.tracker import TrackerParams

    params = RuleParams(
        flame=None,
        hardhat=HardhatParams(head_threshold=0.1),
        tracker=TrackerParams(high_threshold=0.1),
    )
    rules = CameraRules("cam", [], params)
    phases = []
    for index in range(16):
        found = rules.detections(head_under_a_helmet(head, helmet, shift), index * 0.5, (640, 360))
        phases += [o.phase for o in found if o.hazard is Hazard.MISSING_HARDHAT]
    assert phases.count(Phase.START) == alerts


def test_merging_keeps_one_box_per_object_and_class() -> None:
    at_416 = Detections(
        np.array([[100, 50, 400, 300], [500, 60, 540, 110]], np.float32),
        np.array([0.2, 0.6], np.float32),
        np.array([0, 3], np.int32),  # fire, head
        NAMES,
    )
    at_512 = Detections(
        np.array([[104, 48, 396, 306], [500, 60, 540, 110], [10, 10, 60, 60]], np.float32),
        np.array([0.5, 0.4, 0.3], np.float32),
        np.array([0, 2, 0], np.int32),  # the same fire, a helmet on the head, another fire
        NAMES,
    )
    merged = merge_detections([at_416, at_512])
    rows = sorted(zip(merged.labels, [round(float(c), 2) for c in merged.confidence], strict=True))
    # the fire seen by both: once, at its better score; head and helmet are different classes
    assert rows == [("fire", 0.3), ("fire", 0.5), ("head", 0.6), ("helmet", 0.4)]


def person_finder(*boxes: tuple[float, float, float, float]) -> Detections:
    """A person finder's output (COCO names), ``person`` boxes at 0.8."""
    from detect.yolox import COCO_NAMES

    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.full(len(boxes), 0.8, np.float32),
        np.zeros(len(boxes), np.int32),
        COCO_NAMES,
    )


def helmets(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.full(len(boxes), 0.7, np.float32),
        np.full(len(boxes), 2, np.int32),
        NAMES,
    )


@pytest.mark.parametrize(
    ("hats", "alerts", "count"),
    [
        pytest.param([], 1, 2, id="two people, no hard hat seen"),
        pytest.param([(280, 102, 320, 142)], 1, 1, id="one of them with a hard hat"),
        pytest.param([(280, 102, 320, 142), (480, 102, 520, 142)], 0, 0, id="both with one"),
    ],
)
def test_people_of_a_second_model_are_judged_by_the_hazard_models_helmets(
    hats: list[tuple[float, float, float, float]], alerts: int, count: int
) -> None:
    """Two models' outputs merged as the pipeline merges them: the person finder's people,
    the hazard model's helmets on their heads."""
    params = RuleParams(flame=None)
    rules = CameraRules("cam", [], params)
    observations = []
    for index in range(16):
        found = merge_detections(
            [helmets(*hats), person_finder((250, 100, 350, 340), (450, 100, 550, 340))]
        )
        observations += rules.detections(found, index * 0.5, (640, 360))
    starts = [o for o in observations if o.phase is Phase.START]
    assert len(starts) == alerts
    if starts:
        assert starts[0].details["count"] == count
