"""Build the training set of the hazard detector from the shared photos and the `train` footage.

What it fixes in the shared training split (issue 13):
- **Near-duplicates.** ``bombatronic`` cuts many frames from few videos: images whose 64-bit
  difference hash is within ``--dup-bits`` of one already kept (same source) are dropped, so an
  epoch buys diversity instead of repeats.
- **Unlabelled smoke.** ``bombatronic`` labels fire only; its smoke taught the model that smoke is
  background. The current model's confident smoke boxes (``--smoke-pseudo``) become labels there
  (a contact sheet of them is written for review by eye).
- **Negatives from real cameras.** Frames of the ``use: train``, ``flame: false`` clips of
  ``../shared/footage`` (never the ``eval`` clips) every ``--every-s`` seconds, near-duplicates
  dropped. People in them are unlabelled, so each person's head region (YOLOX person boxes, top
  ``HEAD_SHARE`` of the box) is painted grey rather than taught as background.
- **Hard negatives.** Images without fire or smoke labels on which the current model sees fire or
  smoke above ``--hard-score`` are repeated ``--hard-repeat`` times: they are what the model gets
  wrong on ordinary scenes.

Output: a YOLO dataset folder (symlinks to the shared images, label files, the mined frames) and
its ``data.yaml`` whose ``val`` is the shared validation split, untouched. Nothing is written
into ``../shared`` or the repository (``data/`` is ignored by git).

Run: .venv/bin/python -m lab.training_set --out data/training/hazards-v2
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import yaml

from detect.detections import Detections
from detect.engine import PAD_VALUE, OnnxDetector
from detect.yolox import YoloxDetector

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_DATA = SHARED / "datasets" / "hazards"
DEFAULT_FOOTAGE = SHARED / "footage"
DEFAULT_MODEL = ROOT / "models" / "hazards.onnx"
PERSON_MODEL = SHARED / "models" / "yolox_nano_coco.onnx"
CLASSES = ("fire", "smoke", "helmet", "head")
FIRE, SMOKE = 0, 1
HEAD_SHARE = 0.28  # of a person box's height, from its top: where the head is
Image = npt.NDArray[np.uint8]


def dhash(image: Image) -> int:
    """64-bit difference hash of an image (grey, 9x8, left-right gradient signs)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hamming(a: int, b: int) -> int:
    """Bits in which two hashes differ."""
    return (a ^ b).bit_count()


class NearDuplicates:
    """Remembers hashes; ``seen`` says whether one within ``bits`` was kept before."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._kept: list[int] = []

    def seen(self, value: int) -> bool:
        """True when a kept hash is near ``value``; otherwise keeps it and returns False."""
        if self._kept:
            kept = np.array(self._kept, np.uint64)
            xor = np.bitwise_xor(kept, np.uint64(value))
            distances = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
            if int(distances.min()) <= self.bits:
                return True
        self._kept.append(value)
        return False


@dataclass
class Item:
    """One training image: where its pixels are and its label lines."""

    name: str
    image: Path
    lines: list[str]
    repeat: int = 1
    origin: str = ""


def yolo_line(class_id: int, xyxy: Sequence[float], width: int, height: int) -> str:
    """A label line ``class cx cy w h`` (normalised) for a box in pixels."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    w, h = (x2 - x1) / width, (y2 - y1) / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def shared_items(data: Path) -> list[Item]:
    """The shared training split as items (labels as they are)."""
    images = sorted((data / "images" / "train").iterdir())
    items = []
    for image in images:
        label = data / "labels" / "train" / f"{image.stem}.txt"
        lines = label.read_text().split("\n") if label.is_file() else []
        items.append(Item(image.name, image, [ln for ln in lines if ln.strip()], 1, "shared"))
    return items


def flame_scores(detections: Detections) -> float:
    """The best fire or smoke score of a frame's detections (0 if none)."""
    mask = np.isin(detections.class_id, [FIRE, SMOKE])
    return float(detections.confidence[mask].max()) if mask.any() else 0.0


def head_masked(image: Image, people: Detections) -> Image:
    """``image`` with each person's head region painted grey (unlabelled heads)."""
    out = image.copy()
    for x1, y1, x2, y2 in people.xyxy.astype(int):
        head_bottom = y1 + max(4, int((y2 - y1) * HEAD_SHARE))
        pad = max(2, (x2 - x1) // 10)
        out[max(0, y1 - pad) : head_bottom, max(0, x1 - pad) : x2 + pad] = PAD_VALUE
    return out


def fit(image: Image, longest: int) -> Image:
    """``image`` scaled down so that its longest side is at most ``longest``."""
    height, width = image.shape[:2]
    if max(height, width) <= longest:
        return image
    scale = longest / max(height, width)
    size = (round(width * scale), round(height * scale))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def clip_frames(path: Path, every_s: float) -> Iterator[tuple[float, Image]]:
    """Frames of a clip (mp4 or gif) every ``every_s`` seconds of its own time."""
    next_at = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            at = float(frame.time) if frame.time is not None else index / 25.0
            if at + 1e-6 < next_at:
                continue
            next_at = at + every_s
            yield at, np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)


def footage_negatives(
    footage: Path, out_dir: Path, every_s: float, dup_bits: int, people: YoloxDetector
) -> list[Item]:
    """Hazard-free frames of the ``use: train`` clips, heads masked, written as JPEG."""
    expectations = json.loads((footage / "expectations.json").read_text())
    items: list[Item] = []
    for clip in expectations:
        if clip["use"] != "train" or clip["flame"]:
            continue
        duplicates = NearDuplicates(dup_bits)
        stem = Path(clip["name"]).stem
        for at, decoded in clip_frames(footage / clip["name"], every_s):
            if duplicates.seen(dhash(decoded)):
                continue
            image = fit(decoded, 640)
            masked = head_masked(image, people.detect(image))
            name = f"footage_{stem}_{at:07.2f}.jpg"
            target = out_dir / name
            cv2.imwrite(str(target), masked, [cv2.IMWRITE_JPEG_QUALITY, 85])
            items.append(Item(name, target, [], 1, f"footage:{clip['name']}"))
    return items


def contact_sheet(samples: Sequence[tuple[Path, list[str]]], out: Path, tile: int = 256) -> None:
    """Pictures with their pseudo-labelled boxes, in a grid, for review by eye."""
    tiles = []
    for image_path, lines in samples:
        image = cv2.imread(str(image_path))
        if image is None:
            continue
        height, width = image.shape[:2]
        for line in lines:
            _cls, cx, cy, w, h = (float(v) for v in line.split())
            p1 = (int((cx - w / 2) * width), int((cy - h / 2) * height))
            p2 = (int((cx + w / 2) * width), int((cy + h / 2) * height))
            cv2.rectangle(image, p1, p2, (255, 255, 0), 2)
        tiles.append(cv2.resize(image, (tile, tile)))
    while len(tiles) % 6:
        tiles.append(np.full((tile, tile, 3), PAD_VALUE, np.uint8))
    rows = [np.hstack(tiles[i : i + 6]) for i in range(0, len(tiles), 6)]
    if rows:
        cv2.imwrite(str(out), np.vstack(rows))


def fresh_folders(out: Path, extra: str) -> tuple[Path, Path, Path]:
    """A dataset folder's train images and labels folders and ``extra`` (for the pictures it
    makes), created or emptied."""
    folders = (out / "images" / "train", out / "labels" / "train", out / extra)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
    return folders


def build(args: argparse.Namespace) -> None:
    out: Path = args.out
    image_dir, label_dir, mined_dir = fresh_folders(out, "mined")
    model = OnnxDetector(args.model, input_size=args.imgsz, confidence=0.05, threads=2)
    people = YoloxDetector(PERSON_MODEL, confidence=0.3)
    items = shared_items(args.data)
    report: Counter[str] = Counter()
    kept: list[Item] = []
    duplicates = {source: NearDuplicates(args.dup_bits) for source in ("bombatronic", "fire8")}
    pseudo_samples: list[tuple[Path, list[str]]] = []
    for index, item in enumerate(items):
        if index % 500 == 0:
            print(f"  shared photos {index}/{len(items)}", flush=True)
        source = item.name.split("_")[0]
        read = cv2.imread(str(item.image))
        if read is None:
            report["unreadable"] += 1
            continue
        image = np.asarray(read, np.uint8)
        if source in duplicates and duplicates[source].seen(dhash(image)):
            report[f"dropped near-duplicate {source}"] += 1
            continue
        detections = model.detect(image)
        labelled = {int(line.split()[0]) for line in item.lines}
        if source == "bombatronic":
            height, width = image.shape[:2]
            smoke = detections[
                (detections.class_id == SMOKE) & (detections.confidence >= args.smoke_pseudo)
            ]
            extra = [yolo_line(SMOKE, box, width, height) for box in smoke.xyxy]
            if extra:
                item.lines = item.lines + extra
                report["bombatronic images given smoke pseudo-labels"] += 1
                report["smoke pseudo-label boxes"] += len(extra)
                if len(pseudo_samples) < 36:
                    pseudo_samples.append((item.image, extra))
        if not labelled & {FIRE, SMOKE} and flame_scores(detections) >= args.hard_score:
            item.repeat = args.hard_repeat
            report["hard negatives (photos)"] += 1
        kept.append(item)
    negatives = footage_negatives(args.footage, mined_dir, args.every_s, args.dup_bits, people)
    for item in negatives:
        frame = cv2.imread(str(item.image))
        if frame is not None and flame_scores(model.detect(frame)) >= args.hard_score:
            item.repeat = args.hard_repeat
            report["hard negatives (footage)"] += 1
    report["footage negative frames"] = len(negatives)
    kept += negatives
    total = 0
    for item in kept:
        for copy in range(item.repeat):
            stem = Path(item.name).stem + (f"__r{copy}" if copy else "")
            link = image_dir / f"{stem}{item.image.suffix}"
            link.symlink_to(item.image.resolve())
            text = "".join(f"{line}\n" for line in item.lines)
            (label_dir / f"{stem}.txt").write_text(text)
            total += 1
    backgrounds = sum(item.repeat for item in kept if not item.lines)
    report["training images (with repeats)"] = total
    report["background images (with repeats)"] = backgrounds
    data_yaml = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": str((args.data / "images" / "val").resolve()),
        "names": dict(enumerate(CLASSES)),
    }
    (out / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False))
    contact_sheet(pseudo_samples, out / "smoke-pseudo-labels.jpg")
    (out / "report.json").write_text(json.dumps(dict(report), indent=1, sort_keys=True))
    for key, value in sorted(report.items()):
        print(f"{key:45} {value}")
    print(f"wrote {out / 'data.yaml'}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.training_set", description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--imgsz", type=int, default=416, help="the model's input size here")
    parser.add_argument("--dup-bits", type=int, default=4)
    parser.add_argument("--smoke-pseudo", type=float, default=0.5)
    parser.add_argument("--hard-score", type=float, default=0.1)
    parser.add_argument("--hard-repeat", type=int, default=3)
    parser.add_argument("--every-s", type=float, default=0.25)
    build(parser.parse_args(argv))


if __name__ == "__main__":
    main()
