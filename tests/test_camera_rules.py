"""The per-camera rules core: detection rules and featureless frames, merged model outputs."""

from __future__ import annotations

import numpy as np
import pytest

from detect.camera_rules import CameraRules, RuleParams, merge_detections
from detect.detections import Detections
from detect.observations import Hazard, Phase

NAMES = ("fire", "smoke", "helmet", "head")


def smoke() -> Detections:
    return Detections(
        np.array([[100, 50, 400, 300]], np.float32),
        np.array([0.9], np.float32),
        np.array([1], np.int32),
        NAMES,
    )


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
