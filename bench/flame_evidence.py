"""How the flame rule's temporal evidence (``detect.flame_evidence``) separates real flames from
the detector's false boxes — figures for choosing its thresholds, never on the ``eval`` clips.

Three sets of boxes, each measured between two sampled frames half a second apart:

- **false boxes**: every fire or smoke box above the flame rule's thresholds that the production
  detector (the example configuration's models) puts on the ``use: train``, ``flame: false``
  clips of ``../shared/footage`` at 2 fps — what the check must kill;
- **fires (train)**: the labelled fire and smoke boxes of the video-frame sequences of the
  training split (``bombatronic_<video>_mp4-<frame>``), each frame against the previous one of
  the same video — what it must keep (pixels only: the model's opinion plays no part);
- **fires (val)**: the same on the validation split's numbered sequences (``imageN`` with the
  previous number of a near-identical scene): held out, the house fire of the validation set.

Printed: percentiles of ``change`` and ``rigid`` per set, then for a grid of ``min_change`` and
``max_rigid`` the share of each set alive.

Run: .venv/bin/python -m bench.flame_evidence [--fps 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bench.footage import (
    DEFAULT_CONFIG,
    DEFAULT_FOOTAGE,
    bench_config,
    decode_frames,
    fitted_size,
    probe,
)
from detect.detections import Detections
from detect.flame_evidence import (
    EvidenceParams,
    FlameEvidence,
    Grey,
    box_change,
    box_stay,
    crop_bounds,
    scaled_grey,
)
from lab.training_set import dhash, hamming
from lab.yolo_dataset import read_labels
from sitewatch.pipeline import merged
from sitewatch.runner import load_detectors

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "hazards"
SEQUENCE = re.compile(r"^bombatronic_(?P<video>.+_mp4)-(?P<frame>\d+)_")
NUMBERED = re.compile(r"^bombatronic_image(?P<frame>\d+)_")
SAME_SCENE_BITS = 10


@dataclass
class Sample:
    """Measurements of one set of boxes."""

    name: str
    change: list[float] = field(default_factory=list)
    rigid: list[float] = field(default_factory=list)
    stay: list[float] = field(default_factory=list)
    clip: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)

    def add(
        self,
        change: Iterable[float],
        rigid: Iterable[float],
        stayed: Iterable[float],
        conf: Iterable[float],
        clip: str = "",
    ) -> None:
        added = [float(c) for c in change]
        self.stay += [float(s) for s in stayed]
        self.clip += [clip] * len(added)
        self.change += added
        self.rigid += [float(r) for r in rigid]
        self.confidence += [float(c) for c in conf]


def rigid(
    previous: Grey, current: Grey, xyxy: npt.NDArray[np.float32], scale: float
) -> list[float]:
    """Best normalised correlation of each box's previous picture searched around the box in
    this frame (half the box size each side): near 1 for what only moved. Measured, not used:
    fire sequences score as high as the false boxes."""
    found = []
    height, width = current.shape
    for box in xyxy:
        left, top, right, bottom = crop_bounds(box, scale, current.shape)
        template = previous[top:bottom, left:right]
        if min(template.shape) < 3 or float(template.std()) < 2.0:
            found.append(1.0)
            continue
        pad_x, pad_y = max(2, (right - left) // 2), max(2, (bottom - top) // 2)
        region = current[
            max(0, top - pad_y) : min(height, bottom + pad_y),
            max(0, left - pad_x) : min(width, right + pad_x),
        ]
        scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        found.append(float(np.nan_to_num(scores).max()))
    return found


def measure(
    previous: Grey, current: Grey, xyxy: npt.NDArray[np.float32], scale: float
) -> tuple[npt.NDArray[np.float32], list[float]]:
    """``change`` (the product's) and ``rigid`` (studied only) of each box."""
    return box_change(previous, current, xyxy, scale), rigid(previous, current, xyxy, scale)


def _boxes(label: Path, width: int, height: int) -> npt.NDArray[np.float32]:
    ids, cxcywh = read_labels(label, 4)
    flames = cxcywh[ids <= 1]
    scale = np.array([width, height, width, height], np.float32)
    centre, size = flames[:, :2], flames[:, 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1) * scale


def sequence_pairs(split: str) -> Iterator[tuple[Path, Path]]:
    """(previous, current) image pairs of one video in ``split``."""
    folder = DATA / "images" / split
    by_video: dict[str, list[tuple[int, Path]]] = {}
    for path in folder.iterdir():
        if match := SEQUENCE.match(path.name):
            by_video.setdefault(match["video"], []).append((int(match["frame"]), path))
        elif match := NUMBERED.match(path.name):
            by_video.setdefault("numbered", []).append((int(match["frame"]), path))
    for video, frames in by_video.items():
        frames.sort()
        for (n0, p0), (n1, p1) in itertools.pairwise(frames):
            if video == "numbered" and n1 - n0 > 2:
                continue
            yield p0, p1


def product_check_on_sequences(split: str, params: EvidenceParams) -> tuple[int, int, int]:
    """The check as the product runs it (stateful: previous frame, map of dead places) over each
    video sequence of ``split`` in frame order, half a second apart, on the labelled boxes:
    (boxes, alive, sequences). A gap of more than two frame numbers or a cut starts a new scene,
    whose first frame is not counted (it has nothing to be compared with)."""
    boxes_seen = alive_seen = 0
    videos: dict[str, list[tuple[int, Path]]] = {}
    for path in (DATA / "images" / split).iterdir():
        if match := SEQUENCE.match(path.name):
            videos.setdefault(match["video"], []).append((int(match["frame"]), path))
        elif match := NUMBERED.match(path.name):
            videos.setdefault("numbered", []).append((int(match["frame"]), path))
    for frames in videos.values():
        frames.sort()
        check = FlameEvidence(params)
        at = 0.0
        last: tuple[int, int] | None = None  # frame number and hash of the previous image
        for number, path in frames:
            read = cv2.imread(str(path))
            if read is None:
                continue
            image = np.asarray(read, np.uint8)
            digest = dhash(image)
            cut = last is None or number - last[0] > 2 or hamming(last[1], digest) > SAME_SCENE_BITS
            if cut:
                check = FlameEvidence(params)  # a new scene: a new camera, nothing to compare
            last = (number, digest)
            height, width = image.shape[:2]
            xyxy = _boxes(DATA / "labels" / split / f"{path.stem}.txt", width, height)
            candidates = Detections(
                xyxy.astype(np.float32),
                np.full(len(xyxy), 0.5, np.float32),
                np.zeros(len(xyxy), np.int32),
                ("fire",),
            )
            at += 0.5
            verdict = check.check(image, candidates, at)
            if not cut:  # the first frame of a scene has no previous one to be compared with
                boxes_seen += len(xyxy)
                alive_seen += int(verdict.alive.sum())
    return boxes_seen, alive_seen, len(videos)


def photo_sample(name: str, split: str, params: EvidenceParams) -> Sample:
    """Labelled fire/smoke boxes of consecutive frames of one video."""
    sample = Sample(name)
    for previous_path, current_path in sequence_pairs(split):
        read0, read1 = cv2.imread(str(previous_path)), cv2.imread(str(current_path))
        if read0 is None or read1 is None or read0.shape != read1.shape:
            continue
        previous, current = np.asarray(read0, np.uint8), np.asarray(read1, np.uint8)
        if hamming(dhash(previous), dhash(current)) > SAME_SCENE_BITS:
            continue  # a cut: another scene
        label = DATA / "labels" / split / f"{current_path.stem}.txt"
        height, width = current.shape[:2]
        boxes = _boxes(label, width, height)
        before = _boxes(DATA / "labels" / split / f"{previous_path.stem}.txt", width, height)
        if not len(boxes):
            continue
        g0, scale = scaled_grey(previous, params.width)
        g1, _ = scaled_grey(current, params.width)
        change, rigid = measure(g0, g1, boxes, scale)
        sample.add(change, rigid, box_stay(before, boxes), [1.0] * len(boxes), current_path.name)
    return sample


def footage_sample(fps: float, params: EvidenceParams) -> Sample:
    """The production detector's fire/smoke boxes on the hazard-free ``use: train`` clips."""
    import tempfile

    sample = Sample("false boxes (train clips)")
    expectations = json.loads((DEFAULT_FOOTAGE / "expectations.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(Path(tmp), DEFAULT_CONFIG, None)
        stage = load_detectors(config)
        assert stage is not None
        flame = config.rules.flame
        for clip in expectations:
            if clip["use"] != "train" or clip["flame"]:
                continue
            path = DEFAULT_FOOTAGE / clip["name"]
            facts = probe(path)
            step = max(1, round(float(facts.rate) / fps))
            previous = None
            before = np.zeros((0, 4), np.float32)
            count = 0
            for index, image in enumerate(
                decode_frames(path, fitted_size(facts.width, facts.height))
            ):
                if index % step:
                    continue
                grey, scale = scaled_grey(image, params.width)
                found = merged(stage.run({"c": image}))["c"]
                flames = _flame_boxes(found, flame.fire_threshold, flame.smoke_threshold)
                if previous is not None and len(flames):
                    change, rigid = measure(previous, grey, flames.xyxy, scale)
                    stayed = box_stay(before, flames.xyxy)
                    sample.add(change, rigid, stayed, flames.confidence, clip["name"])
                    count += len(flames)
                previous, before = grey, flames.xyxy
            print(f"  {clip['name']}: {count} boxes", file=sys.stderr)
    return sample


def _flame_boxes(found: Detections, fire: float, smoke: float) -> Detections:
    labels = np.array(found.labels, dtype=object)
    keep = ((labels == "fire") & (found.confidence >= fire)) | (
        (labels == "smoke") & (found.confidence >= smoke)
    )
    return found[keep]


def describe(sample: Sample) -> str:
    change, rigid = np.array(sample.change), np.array(sample.rigid)
    if not len(change):
        return f"{sample.name:28} no boxes"
    q = [10, 25, 50, 75, 90]
    return (
        f"{sample.name:28} n={len(change):5}  change p{q}: "
        f"{np.percentile(change, q).round(1).tolist()}  rigid: "
        f"{np.percentile(rigid, q).round(2).tolist()}  stay: "
        f"{np.percentile(np.array(sample.stay), q).round(2).tolist()}"
    )


def alive_share(sample: Sample, min_change: float, max_rigid: float, min_stay: float) -> float:
    change, rigid = np.array(sample.change), np.array(sample.rigid)
    stayed = np.array(sample.stay)
    if not len(change):
        return float("nan")
    return float(((change >= min_change) & (rigid <= max_rigid) & (stayed >= min_stay)).mean())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flame_evidence", description=__doc__)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    params = EvidenceParams()
    samples = [
        footage_sample(args.fps, params),
        photo_sample("fires (train sequences)", "train", params),
        photo_sample("fires (val sequences)", "val", params),
    ]
    for sample in samples:
        print(describe(sample))
    print(f"\nshare alive  {'  '.join(f'{s.name[:22]:>22}' for s in samples)}")
    for min_change in (2.0, 4.0, 6.0, 8.0):
        for max_rigid in (0.95, 1.0):
            for min_stay in (0.0, 0.2, 0.4, 0.6):
                shares = "  ".join(
                    f"{alive_share(s, min_change, max_rigid, min_stay):22.3f}" for s in samples
                )
                print(f"change>={min_change:<4} rigid<={max_rigid:<5} stay>={min_stay} {shares}")
    print("\nthe product's check (stateful, defaults) on the labelled fire boxes, in frame order:")
    for split in ("train", "val"):
        boxes, alive, videos = product_check_on_sequences(split, params)
        print(
            f"  {split}: {alive} of {boxes} boxes alive ({alive / max(boxes, 1):.3f}), "
            f"{videos} videos"
        )
    if args.json:
        args.json.write_text(json.dumps([s.__dict__ for s in samples]))


if __name__ == "__main__":
    main()
