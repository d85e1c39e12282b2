"""A small IoU tracker in the ByteTrack spirit: pure (state, detections, time) -> (state, ids).

Each sampled frame:

1. Every live track predicts its box (last box moved by its velocity, in pixels per second).
2. Detections at or above ``high_threshold`` are matched to tracks first: by IoU, and where the
   IoU is too small (people move far between frames sampled at 2 fps) by the distance between
   centres measured in box sizes.
3. Detections between ``low_threshold`` and ``high_threshold`` are matched to the tracks still
   unmatched, by IoU only (``low_match_iou``): they keep an occluded or blurred person's track
   alive but never start one.
4. Unmatched high-confidence detections start tentative tracks; a track is confirmed after
   ``min_hits`` matches. A tentative track that misses a frame is dropped, a confirmed one
   survives ``max_missed`` sampled frames without a match.

Matching is greedy on the cost matrix (best pair first), which is what ByteTrack's linear
assignment gives in the uncrowded scenes of a construction camera.

Classes: a track only matches detections of its class group. ``helmet`` and ``head`` form one
group, because the detector's verdict on the same person flips between the two from frame to
frame; the track follows the person and takes the class of its latest detection, and the hard hat
rule decides from the track's history. Every other class is its own group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.geometry import box_iou
from core.vocabulary import HEAD, HELMET
from detect.detections import Detections, FloatArray, IntArray

BoolArray = npt.NDArray[np.bool_]
TimeArray = npt.NDArray[np.float64]

UNTRACKED = -1
_NO_MATCH = np.inf


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """Thresholds of the tracker (frames are sampled frames)."""

    high_threshold: float = 0.5  # first-stage detections; only these start tracks
    low_threshold: float = 0.1  # below: ignored
    match_iou: float = 0.2  # first stage: minimum IoU for an IoU match
    low_match_iou: float = 0.4  # second stage (low-confidence detections)
    # fallback: centre distance in box sizes (0: none); a head walking at 1 m/s moves about
    # 2.5 of its widths between frames sampled at 2 fps, before the velocity is known
    max_center_distance: float = 3.0
    max_size_ratio: float = 2.0  # fallback: the boxes' sizes (sqrt area) may differ this much
    min_hits: int = 2  # matches before a track is confirmed and reported
    max_missed: int = 4  # sampled frames a confirmed track survives unmatched
    velocity_weight: float = 0.5  # share of the newest displacement in the velocity estimate
    class_groups: tuple[tuple[str, ...], ...] = ((HELMET, HEAD),)


@dataclass(frozen=True, slots=True, eq=False)
class TrackerState:
    """Live tracks as parallel arrays, one row per track."""

    track_id: IntArray  # (m,)
    xyxy: FloatArray  # (m, 4) last matched box
    velocity: FloatArray  # (m, 2) centre velocity, pixels per second
    class_name: tuple[str, ...]  # class of the latest matched detection
    hits: IntArray  # (m,) matches so far
    missed: IntArray  # (m,) sampled frames since the last match
    last_seen: TimeArray  # (m,) time of the last match
    next_id: int = 1

    @classmethod
    def empty(cls) -> TrackerState:
        """No tracks yet."""
        return cls(
            np.zeros(0, np.int32),
            np.zeros((0, 4), np.float32),
            np.zeros((0, 2), np.float32),
            (),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.float64),
        )

    def __len__(self) -> int:
        return len(self.track_id)


def _sizes(xyxy: FloatArray) -> FloatArray:
    """sqrt(area) of each box, at least one pixel."""
    wh = np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None)
    return np.asarray(np.sqrt(np.maximum(wh[:, 0] * wh[:, 1], 1.0)), np.float32)


def _centers(xyxy: FloatArray) -> FloatArray:
    return np.asarray((xyxy[:, :2] + xyxy[:, 2:]) / 2, np.float32)


def _match_cost(
    tracks: FloatArray,
    detections: FloatArray,
    same_group: BoolArray,
    min_iou: float,
    max_distance: float,
    max_size_ratio: float,
) -> npt.NDArray[np.float64]:
    """(m tracks, n detections) cost, lower is better, inf where they may not match.

    An IoU match costs ``1 - IoU`` (0..1); a centre-distance match costs ``1 + distance`` so that
    every IoU match is preferred to any distance match."""
    iou = box_iou(tracks, detections)
    cost = np.where(iou >= min_iou, 1.0 - iou.astype(np.float64), _NO_MATCH)
    if max_distance > 0:
        size_t, size_d = _sizes(tracks), _sizes(detections)
        scale = (size_t[:, None] + size_d[None, :]) / 2
        gap = _centers(tracks)[:, None, :] - _centers(detections)[None, :, :]
        distance = np.hypot(gap[..., 0], gap[..., 1]) / scale
        ratio = np.maximum(size_t[:, None], size_d[None, :]) / np.minimum(
            size_t[:, None], size_d[None, :]
        )
        near = (distance <= max_distance) & (ratio <= max_size_ratio)
        cost = np.where(np.isinf(cost) & near, 1.0 + distance, cost)
    return np.where(same_group, cost, _NO_MATCH)


def greedy_match(cost: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """(row, column) pairs taken cheapest first, each row and column at most once."""
    rows, cols = np.nonzero(np.isfinite(cost))
    order = np.argsort(cost[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for row, col in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if row in used_rows or col in used_cols:
            continue
        used_rows.add(row)
        used_cols.add(col)
        pairs.append((row, col))
    return pairs


def _group_of(name: str, params: TrackerParams) -> str:
    for group in params.class_groups:
        if name in group:
            return "|".join(group)
    return name


def _same_group(
    track_classes: tuple[str, ...], detection_classes: list[str], params: TrackerParams
) -> BoolArray:
    track_groups = np.array([_group_of(c, params) for c in track_classes], dtype=object)
    detection_groups = np.array([_group_of(c, params) for c in detection_classes], dtype=object)
    return np.asarray(track_groups[:, None] == detection_groups[None, :], bool).reshape(
        len(track_classes), len(detection_classes)
    )


def track(
    state: TrackerState, detections: Detections, now: float, params: TrackerParams
) -> tuple[TrackerState, Detections]:
    """Advance the tracker by one sampled frame at ``now`` (seconds).

    Returns the new state and ``detections`` (same rows, same order) with ``tracker_id`` set:
    the id of a confirmed track, or -1 (untracked: too weak, or a track not yet confirmed)."""
    m = len(state)
    dt = np.maximum(now - state.last_seen, 0.0).astype(np.float32)
    shift = state.velocity * dt[:, None]
    predicted = np.asarray(state.xyxy + np.concatenate([shift, shift], axis=1), np.float32)

    labels = detections.labels
    same_group = _same_group(state.class_name, labels, params)
    confidence = detections.confidence
    high = np.flatnonzero(confidence >= params.high_threshold)
    weak = (confidence >= params.low_threshold) & (confidence < params.high_threshold)
    low = np.flatnonzero(weak)

    match_of_track = np.full(m, -1, np.int64)  # detection row matched to each track
    first = _match_cost(
        predicted,
        detections.xyxy[high],
        same_group[:, high],
        params.match_iou,
        params.max_center_distance,
        params.max_size_ratio,
    )
    for t, d in greedy_match(first):
        match_of_track[t] = high[d]
    free = np.flatnonzero(match_of_track < 0)
    second = _match_cost(
        predicted[free],
        detections.xyxy[low],
        same_group[np.ix_(free, low)],
        params.low_match_iou,
        0.0,
        params.max_size_ratio,
    )
    for t, d in greedy_match(second):
        match_of_track[free[t]] = low[d]

    matched = match_of_track >= 0
    rows = match_of_track[matched]
    new_xyxy = state.xyxy.copy()
    new_xyxy[matched] = detections.xyxy[rows]
    velocity = state.velocity.copy()
    seen_dt = dt[matched]
    moved = _centers(detections.xyxy[rows]) - _centers(state.xyxy[matched])
    measured = np.divide(
        moved, seen_dt[:, None], out=np.zeros_like(moved), where=seen_dt[:, None] > 0
    )
    # the first displacement of a track is its velocity; later ones are blended in
    w = np.where(state.hits[matched] <= 1, 1.0, params.velocity_weight)[:, None]
    velocity[matched] = w * measured + (1 - w) * state.velocity[matched]
    hits = np.where(matched, state.hits + 1, state.hits).astype(np.int32)
    missed = np.where(matched, 0, state.missed + 1).astype(np.int32)
    last_seen = np.where(matched, now, state.last_seen)
    classes = tuple(
        labels[match_of_track[i]] if matched[i] else state.class_name[i] for i in range(m)
    )
    was_confirmed = state.hits >= params.min_hits
    keep = matched | (was_confirmed & (missed <= params.max_missed))

    taken = np.zeros(len(detections), bool)
    taken[rows] = True
    starts = high[~taken[high]]
    n_new = len(starts)
    new_ids = np.arange(state.next_id, state.next_id + n_new, dtype=np.int32)

    kept = np.flatnonzero(keep)
    next_state = TrackerState(
        track_id=np.concatenate([state.track_id[kept], new_ids]).astype(np.int32),
        xyxy=np.concatenate([new_xyxy[kept], detections.xyxy[starts]]).astype(np.float32),
        velocity=np.concatenate([velocity[kept], np.zeros((n_new, 2), np.float32)]).astype(
            np.float32
        ),
        class_name=tuple(classes[i] for i in kept) + tuple(labels[i] for i in starts),
        hits=np.concatenate([hits[kept], np.ones(n_new, np.int32)]).astype(np.int32),
        missed=np.concatenate([missed[kept], np.zeros(n_new, np.int32)]).astype(np.int32),
        last_seen=np.concatenate([last_seen[kept], np.full(n_new, now)]).astype(np.float64),
        next_id=state.next_id + n_new,
    )

    tracker_id = np.full(len(detections), UNTRACKED, np.int32)
    reported = matched & (hits >= params.min_hits)
    tracker_id[match_of_track[reported]] = state.track_id[reported]
    if params.min_hits <= 1:
        tracker_id[starts] = new_ids
    tracked = Detections(
        detections.xyxy,
        detections.confidence,
        detections.class_id,
        detections.class_names,
        tracker_id,
    )
    return next_state, tracked
