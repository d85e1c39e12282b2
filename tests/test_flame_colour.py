"""The colour check of fire and smoke boxes, on synthetic pictures."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detect.detections import Detections
from lab.flame_colour import (
    ColourParams,
    colour_plausible,
    colour_shares,
    fire_share,
    grey_share,
    keep_plausible,
)
from tests.detections import HAZARD_NAMES
from tests.detections import detections as build

NAMES = HAZARD_NAMES
PARAMS = ColourParams()
Image = npt.NDArray[np.uint8]

# BGR colours
FLAME_ORANGE = (30, 140, 250)
FLAME_CORE = (200, 245, 255)  # nearly white, red still highest
SMOKE_GREY = (150, 152, 155)
SKY_BLUE = (230, 160, 90)
VEST_GREEN = (40, 236, 206)  # hi-vis yellow-green: G > R
BLACK = (5, 5, 5)


def patch(color: tuple[int, int, int], size: int = 8) -> npt.NDArray[np.int32]:
    return np.full((size * size, 3), color, np.int32)


@pytest.mark.parametrize(
    ("color", "fire", "grey"),
    [
        (FLAME_ORANGE, True, False),
        (FLAME_CORE, True, False),
        (SMOKE_GREY, False, True),
        (SKY_BLUE, False, False),
        (VEST_GREEN, False, False),
        (BLACK, False, False),  # too dark for smoke, not red
    ],
)
def test_pixel_colours(color: tuple[int, int, int], fire: bool, grey: bool) -> None:
    assert fire_share(patch(color), PARAMS) == (1.0 if fire else 0.0)
    assert grey_share(patch(color), PARAMS) == (1.0 if grey else 0.0)


def test_empty_crops_have_no_share() -> None:
    empty = np.zeros((0, 3), np.int32)
    assert fire_share(empty, PARAMS) == 0.0
    assert grey_share(empty, PARAMS) == 0.0


def picture() -> Image:
    """Blue sky left half, a flame (orange, 10 % white core) top right, grey smoke bottom right."""
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :100] = SKY_BLUE
    img[:50, 100:] = FLAME_ORANGE
    img[20:25, 140:160] = FLAME_CORE
    img[50:, 100:] = SMOKE_GREY
    return img


def detections(rows: list[tuple[str, tuple[float, float, float, float]]]) -> Detections:
    return build([(name, 0.8, box) for name, box in rows], NAMES)


def test_boxes_on_their_colours_pass_and_boxes_elsewhere_fail() -> None:
    found = detections(
        [
            ("fire", (100, 0, 200, 50)),  # on the flame
            ("fire", (0, 0, 100, 100)),  # on the sky
            ("smoke", (100, 50, 200, 100)),  # on the smoke
            ("smoke", (0, 0, 100, 100)),  # on the sky
            ("helmet", (0, 0, 100, 100)),  # other classes always pass
        ]
    )
    shares = colour_shares(found, picture(), PARAMS)
    assert shares.tolist() == pytest.approx([1.0, 0.0, 1.0, 0.0, 1.0])
    assert colour_plausible(found, picture(), PARAMS).tolist() == [True, False, True, False, True]
    kept = keep_plausible(found, picture(), PARAMS)
    assert kept.labels == ["fire", "smoke", "helmet"]
    assert kept.class_names == NAMES


def test_a_box_passes_with_the_minimum_share_of_flame_pixels() -> None:
    img = picture()
    # 100 x 100 box on the sky, with 5 of its 100 columns on the flame: 5 % flame pixels
    across = detections([("fire", (5, 0, 105, 50))])
    assert colour_shares(across, img, PARAMS)[0] == pytest.approx(0.05)
    assert colour_plausible(across, img, PARAMS).tolist() == [True]
    strict = ColourParams(min_fire_share=0.1)
    assert colour_plausible(across, img, strict).tolist() == [False]


def test_boxes_beyond_the_image_are_clipped_and_outside_ones_fail() -> None:
    found = detections([("fire", (150, -20, 260, 40)), ("fire", (300, 300, 320, 320))])
    assert colour_shares(found, picture(), PARAMS).tolist() == pytest.approx([1.0, 0.0])


def test_no_detections_stay_none() -> None:
    empty = Detections.empty(NAMES)
    assert len(keep_plausible(empty, picture(), PARAMS)) == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"min_fire_share": 1.5}, "min_fire_share"),
        ({"min_smoke_share": -0.1}, "min_smoke_share"),
        ({"grey_min": 200, "grey_max": 100}, "grey_min"),
    ],
)
def test_bad_params_are_refused(kwargs: dict[str, float], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ColourParams(**kwargs)  # type: ignore[arg-type]
