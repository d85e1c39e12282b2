"""Two fixed halves of the shared validation split, so that rule thresholds are chosen on one
half (``bench.operating_points``) and the rules measured on the other (``bench.rules_eval``).

An image belongs to a half by the SHA-1 of its file name: stable across machines and listing
orders, independent of the content, about half each.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

Half = Literal["calibration", "evaluation"]
CALIBRATION: Half = "calibration"
EVALUATION: Half = "evaluation"


def half_of(image: Path) -> Half:
    """The half ``image`` belongs to."""
    digest = hashlib.sha1(image.name.encode("utf-8")).digest()
    return CALIBRATION if digest[0] % 2 == 0 else EVALUATION
