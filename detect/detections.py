"""One vectorised detection type passed between the detector, the tracker and the rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]


def _empty_float(*shape: int) -> FloatArray:
    return np.zeros(shape, np.float32)


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Parallel arrays, one row per detection, boxes in frame pixels.

    ``xyxy`` is (n, 4) float32 (left, top, right, bottom), ``confidence`` (n,) float32,
    ``class_id`` (n,) int32 indexing ``class_names``, ``tracker_id`` (n,) int32 or None before
    tracking (-1 for untracked rows). ``peaks`` (when the detector reports it) holds, per class
    id, the highest score the model gave that class anywhere in the frame, below every floor
    too: whether a second look can pay (``detect.inference.SecondLook``).
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    class_names: tuple[str, ...] = ()
    tracker_id: IntArray | None = None
    peaks: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.confidence)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape ({n}, 4), got {self.xyxy.shape}")
        if self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"confidence and class_id must have shape ({n},), got "
                f"{self.confidence.shape} and {self.class_id.shape}"
            )
        if self.tracker_id is not None and self.tracker_id.shape != (n,):
            raise ValueError(f"tracker_id must have shape ({n},), got {self.tracker_id.shape}")
        if self.peaks is not None and self.peaks.ndim != 1:
            raise ValueError(f"peaks must have one score per class, got shape {self.peaks.shape}")

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = ()) -> Detections:
        """No detections."""
        return cls(_empty_float(0, 4), _empty_float(0), np.zeros(0, np.int32), class_names)

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index: Any) -> Detections:
        """Rows selected by a boolean mask, an index array or a slice (always a new object)."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            np.asarray(self.xyxy[index], np.float32).reshape(-1, 4),
            np.asarray(self.confidence[index], np.float32).reshape(-1),
            np.asarray(self.class_id[index], np.int32).reshape(-1),
            self.class_names,
            None if self.tracker_id is None else np.asarray(self.tracker_id[index], np.int32),
            self.peaks,
        )

    @property
    def area(self) -> FloatArray:
        """Box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return np.asarray(wh[:, 0] * wh[:, 1], np.float32)

    @property
    def center(self) -> FloatArray:
        """Box centres (n, 2) in pixels."""
        return np.asarray((self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2, np.float32)

    @property
    def labels(self) -> list[str]:
        """Class name of each row."""
        return [self.name_of(int(c)) for c in self.class_id]

    def name_of(self, class_id: int) -> str:
        """A class id's name (the number when the names are unknown)."""
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return str(class_id)

    def of_class(self, *names: str) -> Detections:
        """Rows whose class is one of ``names``."""
        wanted = [i for i, name in enumerate(self.class_names) if name in names]
        return self[np.isin(self.class_id, wanted)]

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: class name, confidence and box rounded to 0.1 px."""
        return [
            {
                "class": self.name_of(int(c)),
                "confidence": round(float(s), 4),
                "xyxy": [round(float(v), 1) for v in box],
            }
            for box, s, c in zip(self.xyxy, self.confidence, self.class_id, strict=True)
        ]
