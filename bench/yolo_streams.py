"""The script a user would write instead of sitewatch: ultralytics streaming over RTSP cameras.

``YOLO(onnx).predict(source=<file>.streams, stream=True, vid_stride=12)`` on the same ONNX file
sitewatch uses, run in the training venv (``.venv-train``: ultralytics, torch; nothing is
downloaded). Prints one JSON line with per-camera inferences and frame ages (from the moment
OpenCV handed a frame over to the moment its result came out) inside the measured window.

Run (by ``bench.pipeline``): .venv-train/bin/python bench/yolo_streams.py --model M --streams F
  --imgsz 416 --warmup-s 8 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_VERBOSE", "False")

import cv2  # after the environment that ultralytics reads at import

STAMPS: dict[int, float] = {}  # id(image) -> time.monotonic() when OpenCV retrieved it


class StampedCapture(cv2.VideoCapture):
    """VideoCapture that notes when each retrieved frame left OpenCV."""

    def retrieve(self, *args: Any, **kwargs: Any) -> Any:
        ok, image = super().retrieve(*args, **kwargs)
        if ok and image is not None:
            STAMPS[id(image)] = time.monotonic()
        return ok, image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--streams", required=True, help="a .streams file, one URL a line")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--vid-stride", type=int, default=12)
    parser.add_argument("--warmup-s", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cv2.VideoCapture = StampedCapture  # type: ignore[misc]
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(args.threads)
    cameras = len(Path(args.streams).read_text().split())
    model = YOLO(args.model, task="detect")
    counts = [0] * cameras
    ages: list[float] = []
    started: float | None = None
    first = time.monotonic()
    results = model.predict(
        source=args.streams,
        stream=True,
        vid_stride=args.vid_stride,
        imgsz=args.imgsz,
        verbose=False,
    )
    window_cpu = 0.0
    for batch_index, result in enumerate(results):
        now = time.monotonic()
        stamp = STAMPS.pop(id(result.orig_img), None)
        camera = batch_index % cameras
        if started is None and now - first >= args.warmup_s and camera == 0:
            started = now
            window_cpu = time.process_time()
            print(json.dumps({"window_started": True}), flush=True)
        if started is not None:
            counts[camera] += 1
            if stamp is not None:
                ages.append((now - stamp) * 1000)
            if now - started >= args.seconds and camera == cameras - 1:
                break
        if len(STAMPS) > 10 * cameras:  # frames the predictor never took
            for key in list(STAMPS)[: len(STAMPS) - 5 * cameras]:
                STAMPS.pop(key, None)
    elapsed = time.monotonic() - (started or time.monotonic())
    print(
        json.dumps(
            {
                "cameras": cameras,
                "window_s": elapsed,
                "inferences": counts,
                "ages_ms": ages,
                "window_cpu_s": time.process_time() - window_cpu,
            }
        ),
        flush=True,
    )
    sys.stdout.flush()
    os._exit(0)  # the stream threads do not stop quickly


if __name__ == "__main__":
    main()
