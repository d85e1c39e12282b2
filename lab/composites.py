"""CCTV-like fire pictures for training: flames of the training photos blended into hazard-free
frames of real cameras (issue 13).

The validation fires and the fires users care about are early fires seen by fixed cameras
(a rack, a corridor, a shop floor), while the training fires are mostly large outdoor and news
fires: the model sees them with low scores. Real fire footage from such cameras is scarce, so
this makes some. Each labelled ``fire`` box of a training photo (``--train``, a YOLO folder
such as the one ``lab.training_set`` builds) is cut out, reduced to its flame (a soft mask of
bright, warm pixels: the photo's own background falls away) and blended by that mask, with a
little added firelight around it, into a hazard-free frame of the ``use: train`` clips
(``lab.training_set``'s mined frames, heads already painted grey), at a random place and size
(``MIN_HEIGHT``..``MAX_HEIGHT`` of the frame: small early fires to room-filling ones; never
enlarged, so no blurred flame teaches that orange blur is fire). A flame that would not stand
out from what it covers (a pale flame on a white wall) is not used: that would teach the model
that walls burn. The label is the tight box of the blended flame. The same frames stay in the
set without fire, so the model learns the fire and not the scene. Eval footage is never used.

Output: a YOLO dataset folder whose train images are the ``--train`` folder's (symlinked) plus
the composites, with a contact sheet of some composites for review by eye; its ``val`` is the
``--train`` set's. Nothing is written into ``../shared`` or the repository.

Run: .venv/bin/python -m lab.composites --train data/training/hazards-v2 \
         --out data/training/hazards-v5 --per-frame 3
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import yaml

from lab.training_set import FIRE, fresh_folders, yolo_line

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.float32]
MIN_SIDE_PX = 24  # fire boxes smaller than this in their photo are too coarse to reuse
MIN_HEIGHT, MAX_HEIGHT = 0.06, 0.45  # of the frame height: the pasted flame's box
MIN_MASK = 0.25  # mask level that counts as flame for the label's box
MIN_CONTRAST = 0.25  # mean colour difference of the flame from what it covers (0..1)
SHEET_TILES = 36


@dataclass(frozen=True, slots=True)
class Flame:
    """A fire cut out of a photo: its pixels and its soft flame mask (same size)."""

    pixels: Image
    mask: Mask
    source: str


def flame_mask(crop: Image) -> Mask:
    """How much each pixel is flame (0..1): bright and warm (red over blue), feathered to zero
    at the crop's border so that no rectangle edge survives the blend."""
    pixels = crop.astype(np.float32) / 255
    blue, red = pixels[..., 0], pixels[..., 2]
    value = pixels.max(axis=2)
    warmth = np.clip((red - blue) / 0.35, 0, 1)
    bright = np.clip((value - 0.45) / 0.35, 0, 1)
    mask = warmth * bright
    height, width = mask.shape
    ramp_y = np.clip(np.minimum(np.arange(height), np.arange(height)[::-1]) / (0.15 * height), 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(width), np.arange(width)[::-1]) / (0.15 * width), 0, 1)
    mask *= ramp_y[:, None] * ramp_x[None, :]
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.01 * max(height, width))))


def flames_of(train: Path) -> list[Flame]:
    """Every usable fire of the photos of a YOLO training folder (no mined or composite frames)."""
    found: list[Flame] = []
    for label_file in sorted((train / "labels" / "train").glob("*.txt")):
        if "__r" in label_file.stem or not label_file.stem.startswith(("bombatronic", "fire8")):
            continue
        lines = [line.split() for line in label_file.read_text().splitlines() if line.strip()]
        fires = [line for line in lines if int(line[0]) == FIRE]
        if not fires:
            continue
        image_path = train / "images" / "train" / f"{label_file.stem}.jpg"
        image = cv2.imread(str(image_path))
        if image is None:
            continue
        height, width = image.shape[:2]
        for _cls, cx, cy, w, h in ((float(v) for v in line) for line in fires):
            x0, x1 = (cx - w * 0.6) * width, (cx + w * 0.6) * width
            y0, y1 = (cy - h * 0.6) * height, (cy + h * 0.6) * height
            left, top = max(0, int(x0)), max(0, int(y0))
            right, bottom = min(width, int(x1)), min(height, int(y1))
            if min(right - left, bottom - top) < MIN_SIDE_PX:
                continue
            crop = np.ascontiguousarray(image[top:bottom, left:right], np.uint8)
            mask = flame_mask(crop)
            if (mask > MIN_MASK).mean() < 0.05:  # a dark or smoky box: little flame to add
                continue
            found.append(Flame(crop, mask, label_file.stem))
    return found


def blend(
    frame: Image, flame: Flame, top_left: tuple[int, int], height: int, rng: np.random.Generator
) -> tuple[Image, tuple[float, float, float, float] | None]:
    """``frame`` with ``flame`` screen-blended in at ``top_left``, scaled to ``height`` px, and
    the blended flame's tight box (None when too little of it shows)."""
    scale = height / flame.pixels.shape[0]
    width = max(2, round(flame.pixels.shape[1] * scale))
    pixels = cv2.resize(flame.pixels, (width, height), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(flame.mask, (width, height), interpolation=cv2.INTER_LINEAR)
    left, top = top_left
    frame_h, frame_w = frame.shape[:2]
    right, bottom = min(frame_w, left + width), min(frame_h, top + height)
    pixels, mask = pixels[: bottom - top, : right - left], mask[: bottom - top, : right - left]
    alpha = np.clip(mask * rng.uniform(1.3, 1.8), 0, 1)[..., None]
    out = frame.astype(np.float32) / 255
    region = out[top:bottom, left:right]
    glow = cv2.GaussianBlur(mask, (0, 0), max(2.0, 0.25 * height))[..., None] * 0.3
    warm = np.array([0.25, 0.55, 1.0], np.float32)  # BGR of firelight
    region[:] = 1 - (1 - region) * (1 - glow * warm)
    fg = pixels.astype(np.float32) / 255
    inside = np.abs(fg - region).max(axis=2)[alpha[..., 0] > 0.5]
    contrast = float(inside.mean()) if inside.size else 0.0
    region[:] = region * (1 - alpha) + fg * alpha
    ys, xs = np.nonzero(alpha[..., 0] > MIN_MASK)
    blended = np.asarray(np.clip(out * 255, 0, 255), np.uint8)
    if len(xs) < 30 or contrast < MIN_CONTRAST:  # too little of it, or it does not stand out
        return frame, None
    box = (
        float(left + xs.min()),
        float(top + ys.min()),
        float(left + xs.max() + 1),
        float(top + ys.max() + 1),
    )
    return blended, box


def composite(
    frame: Image, flames: Sequence[Flame], rng: np.random.Generator, count: int
) -> tuple[Image, list[tuple[float, float, float, float]]]:
    """``frame`` with ``count`` flames at random places and sizes, and their boxes."""
    frame_h, frame_w = frame.shape[:2]
    boxes: list[tuple[float, float, float, float]] = []
    image = frame
    for _ in range(count):
        flame = flames[int(rng.integers(len(flames)))]
        wanted = int(frame_h * np.exp(rng.uniform(np.log(MIN_HEIGHT), np.log(MAX_HEIGHT))))
        height = min(wanted, flame.pixels.shape[0])  # never enlarged: no blurred flames
        width = round(flame.pixels.shape[1] * height / flame.pixels.shape[0])
        left = int(rng.integers(0, max(1, frame_w - width)))
        top = int(rng.integers(int(0.1 * frame_h), max(int(0.1 * frame_h) + 1, frame_h - height)))
        image, box = blend(image, flame, (left, top), height, rng)
        if box is not None:
            boxes.append(box)
    return image, boxes


def contact_sheet(samples: Sequence[tuple[Image, list[Sequence[float]]]], out: Path) -> None:
    """Composites with their label boxes, in a grid, for review by eye."""
    tiles = []
    for image, boxes in samples[:SHEET_TILES]:
        shown = image.copy()
        for x0, y0, x1, y1 in boxes:
            cv2.rectangle(shown, (int(x0), int(y0)), (int(x1), int(y1)), (255, 255, 0), 2)
        tiles.append(cv2.resize(shown, (320, 180)))
    rows = [np.hstack(tiles[i : i + 6]) for i in range(0, len(tiles) - len(tiles) % 6, 6)]
    if rows:
        cv2.imwrite(str(out), np.vstack(rows))


def build(train: Path, out: Path, per_frame: int, seed: int) -> dict[str, int]:
    """Write the dataset folder; the counts it reports."""
    rng = np.random.default_rng(seed)
    image_dir, label_dir, made_dir = fresh_folders(out, "made")
    for picture in sorted((train / "images" / "train").iterdir()):
        (image_dir / picture.name).symlink_to(picture.resolve())
        label = train / "labels" / "train" / f"{picture.stem}.txt"
        (label_dir / f"{picture.stem}.txt").write_text(label.read_text() if label.exists() else "")
    flames = flames_of(train)
    frames = sorted((train / "mined").glob("*.jpg"))
    if not flames or not frames:
        raise SystemExit(f"{train}: no fires ({len(flames)}) or no mined frames ({len(frames)})")
    samples: list[tuple[Image, list[Sequence[float]]]] = []
    made = 0
    for index, frame_path in enumerate(frames):
        read = cv2.imread(str(frame_path))
        if read is None:
            continue
        frame = np.asarray(read, np.uint8)
        for copy in range(per_frame):
            image, boxes = composite(frame, flames, rng, int(rng.integers(1, 3)))
            if not boxes:
                continue
            name = f"composite_{frame_path.stem}_{copy}"
            cv2.imwrite(str(made_dir / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            (image_dir / f"{name}.jpg").symlink_to((made_dir / f"{name}.jpg").resolve())
            height, width = image.shape[:2]
            text = "".join(f"{yolo_line(FIRE, box, width, height)}\n" for box in boxes)
            (label_dir / f"{name}.txt").write_text(text)
            made += 1
            if index % 5 == 0 and copy == 0:
                samples.append((image, list(boxes)))
    contact_sheet(samples, out / "composites.jpg")
    source = yaml.safe_load((train / "data.yaml").read_text())
    data_yaml = {**source, "path": str(out.resolve()), "train": "images/train"}
    (out / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False))
    report = {"flames cut out": len(flames), "background frames": len(frames), "composites": made}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.composites", description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="a lab.training_set folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-frame", type=int, default=3, help="composites per mined frame")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    for key, value in build(args.train, args.out, args.per_frame, args.seed).items():
        print(f"{key:25} {value}")
    print(f"wrote {args.out / 'data.yaml'}")


if __name__ == "__main__":
    main()
