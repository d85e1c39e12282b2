"""The flame rule's temporal evidence on synthetic frames: what lives, what does not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from core.vocabulary import Hazard
from detect.camera_rules import CameraRules, RuleParams
from detect.detections import Detections
from detect.flame_evidence import EvidenceParams, FlameEvidence, box_stay
from detect.flame_rule import FlameParams
from detect.observations import Phase
from tests.detections import HAZARD_NAMES, BoxRow, detections

NAMES = HAZARD_NAMES
H, W = 240, 320
DT = 0.5
BOX = (100.0, 60.0, 200.0, 160.0)
Image = npt.NDArray[np.uint8]


def scene(seed: int = 0) -> Image:
    """A textured, still background (a wall with some structure)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, (H // 8, W // 8), np.uint8)
    wall = np.kron(base, np.ones((8, 8), np.uint8))
    return np.repeat(wall[..., None], 3, axis=2)


def noisy(image: Image, rng: np.random.Generator, sigma: float = 2.0) -> Image:
    """Sensor noise, as a camera adds to every frame."""
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def boxes(*rows: BoxRow) -> Detections:
    return detections(rows)


def flicker(image: Image, rng: np.random.Generator, box: tuple[float, ...] = BOX) -> Image:
    """``image`` with new random flame-like content inside ``box``."""
    out = image.copy()
    x1, y1, x2, y2 = (int(v) for v in box)
    out[y1:y2, x1:x2] = rng.integers(0, 255, (y2 - y1, x2 - x1, 1), np.uint8)
    return out


def run(
    frames: Callable[[int, np.random.Generator], tuple[Image, Detections]],
    count: int,
    params: EvidenceParams | None = None,
) -> list[list[bool]]:
    """The verdicts, frame by frame, of ``count`` frames made by ``frames(index, rng)``."""
    check = FlameEvidence(params or EvidenceParams())
    rng = np.random.default_rng(1)
    verdicts = []
    for index in range(count):
        image, candidates = frames(index, rng)
        verdicts.append(check.check(image, candidates, index * DT).alive.tolist())
    return verdicts


def test_a_box_on_a_still_wall_never_lives() -> None:
    wall = scene()
    verdicts = run(lambda _i, rng: (noisy(wall, rng), boxes(("smoke", 0.9, BOX))), 20)
    assert not any(any(v) for v in verdicts)


def test_a_flickering_box_lives_from_its_second_frame() -> None:
    wall = scene()
    verdicts = run(lambda _i, rng: (noisy(flicker(wall, rng), rng), boxes(("fire", 0.2, BOX))), 6)
    assert verdicts == [[False], [True], [True], [True], [True], [True]]


def test_a_brightness_change_of_the_whole_frame_is_no_flicker() -> None:
    wall = scene()

    def frames(index: int, rng: np.random.Generator) -> tuple[Image, Detections]:
        gain = 1.0 + 0.15 * (index % 2)  # lights or exposure stepping every frame
        image = np.clip(wall.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        return noisy(image, rng), boxes(("smoke", 0.5, BOX))

    assert not any(any(v) for v in run(frames, 10))


def test_a_box_travelling_with_a_moving_object_does_not_live() -> None:
    """A fruit on a belt or a car: new pixels in the box, but the box goes with them."""
    wall = scene()
    thing = np.random.default_rng(5).integers(0, 255, (60, 60, 3), np.uint8)

    def frames(index: int, rng: np.random.Generator) -> tuple[Image, Detections]:
        image = wall.copy()
        x = 10 + 70 * (index % 4)
        image[90:150, x : x + 60] = thing
        return noisy(image, rng), boxes(("fire", 0.6, (x, 90, x + 60, 150)))

    assert not any(any(v) for v in run(frames, 12))


def test_something_passing_in_front_of_a_standing_false_box_does_not_make_it_live() -> None:
    """The detector calls a wall smoke for 20 s; then a hand moves in the box for 2 s."""
    wall = scene()

    def frames(index: int, rng: np.random.Generator) -> tuple[Image, Detections]:
        image = flicker(wall, rng) if index >= 40 else wall
        return noisy(image, rng), boxes(("smoke", 0.7, BOX))

    verdicts = run(frames, 44)
    assert not any(any(v) for v in verdicts)
    # control: the same motion without the history of a standing box is taken as flames
    fresh = run(lambda i, rng: frames(i + 40, rng) if i else (wall, boxes(("smoke", 0.7, BOX))), 4)
    assert fresh[1:] == [[True], [True], [True]]


def test_a_fire_starting_where_the_detector_had_seen_nothing_lives_at_once() -> None:
    wall = scene()
    elsewhere = (220.0, 20.0, 300.0, 80.0)

    def frames(index: int, rng: np.random.Generator) -> tuple[Image, Detections]:
        if index < 30:  # a standing false box elsewhere in the frame
            return noisy(wall, rng), boxes(("smoke", 0.7, elsewhere))
        return noisy(flicker(wall, rng), rng), boxes(("smoke", 0.7, elsewhere), ("fire", 0.3, BOX))

    verdicts = run(frames, 34)
    assert [v[1] for v in verdicts[31:]] == [True, True, True]
    assert not any(v[0] for v in verdicts)


def test_confident_boxes_skip_the_check_when_asked() -> None:
    wall = scene()
    params = EvidenceParams(strong_confidence=0.8)
    still = run(
        lambda _i, rng: (noisy(wall, rng), boxes(("fire", 0.85, BOX), ("fire", 0.5, BOX))),
        3,
        params,
    )
    assert still == [[True, False]] * 3


def test_a_previous_frame_too_old_is_no_reference() -> None:
    wall = scene()
    check = FlameEvidence(EvidenceParams(max_gap_s=3.0))
    rng = np.random.default_rng(0)
    check.check(noisy(wall, rng), boxes(("fire", 0.2, BOX)), 0.0)
    later = check.check(noisy(flicker(wall, rng), rng), boxes(("fire", 0.2, BOX)), 10.0)
    assert later.alive.tolist() == [False]
    sooner = check.check(noisy(flicker(wall, rng), rng), boxes(("fire", 0.2, BOX)), 10.5)
    assert sooner.alive.tolist() == [True]


def test_stay_is_the_best_overlap_with_the_previous_boxes() -> None:
    previous = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
    now = np.array([[0, 0, 10, 10], [30, 20, 50, 40], [100, 100, 110, 110]], np.float32)
    assert box_stay(previous, now).tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert box_stay(np.zeros((0, 4), np.float32), now).tolist() == [0.0, 0.0, 0.0]


def test_params_refuse_a_frame_too_narrow() -> None:
    with pytest.raises(ValueError, match="width"):
        EvidenceParams(width=8)


@pytest.mark.parametrize(("evidence", "alerts"), [(EvidenceParams(), 0), (None, 1)])
def test_the_flame_rule_alerts_on_a_still_false_box_only_without_evidence(
    evidence: EvidenceParams | None, alerts: int
) -> None:
    """Through the camera's rules, as the pipeline runs them: the same still smoke box."""
    rules = CameraRules("cam", [], RuleParams(flame=FlameParams(evidence=evidence), hardhat=None))
    wall = scene()
    rng = np.random.default_rng(0)
    found = []
    for index in range(12):
        image = noisy(wall, rng)
        found += rules.detections(boxes(("smoke", 0.6, BOX)), index * DT, (W, H), image=image)
    starts = [o for o in found if o.hazard is Hazard.FLAME and o.phase is Phase.START]
    assert len(starts) == alerts


def test_the_flame_rule_alerts_on_flickering_flames_with_evidence() -> None:
    rules = CameraRules("cam", [], RuleParams(flame=FlameParams(), hardhat=None))
    wall = scene()
    rng = np.random.default_rng(0)
    found = []
    for index in range(6):
        image = noisy(flicker(wall, rng), rng)
        found += rules.detections(boxes(("fire", 0.3, BOX)), index * DT, (W, H), image=image)
    starts = [o for o in found if o.phase is Phase.START]
    assert [o.time for o in starts] == [1.5]  # frames 1, 2, 3 live: 3 of 5 at the fourth
