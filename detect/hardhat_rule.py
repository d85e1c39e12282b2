"""Hard hat rule: pure (state, tracked detections, time) -> (state, observations).

Input: one sampled frame's detections with ``tracker_id`` set by ``detect.tracker.track`` (rows
with -1 are ignored). A tracked person *counts* as lacking a hard hat in a ``hardhat_required``
zone when

- the track has been seen for at least ``min_duration_s`` (someone walking through in a second,
  or a head seen once, never counts), and
- in at least ``min_presence`` of the frames sampled in the last ``min_duration_s``, it was seen
  as a bare ``head`` (confidence >= ``head_threshold``) with its box centre inside the zone.

The same window handles the detector's helmet/head flips on one person: a track seen as
``helmet`` most of the time cannot reach ``min_presence`` as a bare head. Once counted, a person
keeps counting while still bare in ``keep_presence`` (a lower share) of the window: a score
hovering around the threshold does not make the count flicker 3 -> 2 -> 3 in the updates.
A camera without ``hardhat_required`` zones treats the whole frame as one zone named
``FRAME_ZONE``; heads whose centre is in an ``ignore`` zone are dropped. Where the detector
puts a ``head`` and a ``helmet`` box on the same head, only the more confident one is tracked
(``one_verdict_per_head``).

One incident per zone: START when the count becomes positive, UPDATE whenever the count
changes, END once nobody has counted for ``clear_s``. Details: ``count`` (and ``peak_count``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from detect.detections import Detections
from detect.engine import nms
from detect.observations import Box, Hazard, Observation, Phase, Severity
from detect.zone_filter import HARDHAT_REQUIRED, ZoneArea, centers_inside, drop_ignored, of_kind

FRAME_ZONE = "frame"
Finding = tuple[Phase, float, dict[str, float | int | str]]  # phase, score, details
_EPS = 1e-6  # seconds: frame times compared with window edges


@dataclass(frozen=True, slots=True)
class HardhatParams:
    """Thresholds of the rule."""

    head_threshold: float = 0.1  # chosen on held-out pictures: bench/operating_points.py
    min_duration_s: float = 3.0  # how long a track must be seen before it counts
    min_presence: float = 0.6  # share of the window's frames it must be seen bare in the zone
    keep_presence: float = 0.3  # once counted, the share that keeps it counted (hysteresis)
    clear_s: float = 15.0
    head_class: str = "head"  # a bare head
    helmet_class: str = "helmet"  # a head wearing a hard hat
    same_head_iou: float = 0.7  # a head and a helmet box overlapping this much are one head


def one_verdict_per_head(found: Detections, params: HardhatParams) -> Detections:
    """The ``head`` and ``helmet`` boxes, one per head: where the detector put both on the same
    head (different anchors), the more confident one stays. Else a weak ``head`` box under a
    confident ``helmet`` would start a track of its own and count as a bare head."""
    heads = found.of_class(params.head_class, params.helmet_class)
    if len(heads) < 2:
        return heads
    return heads[np.array(sorted(nms(heads.xyxy, heads.confidence, params.same_head_iou)))]


@dataclass(frozen=True, slots=True)
class HeadSample:
    """One sighting of a tracked head."""

    time: float
    bare_in: frozenset[str]  # zones where this sighting is a bare head
    confidence: float
    box: Box


@dataclass(frozen=True, slots=True)
class HeadTrack:
    """A tracked head: when it appeared and its sightings of the last ``min_duration_s``."""

    first_seen: float
    samples: tuple[HeadSample, ...] = ()
    counted_in: frozenset[str] = frozenset()  # zones where it counted at the last frame


class ZonePhase(StrEnum):
    """Where one zone stands."""

    QUIET = "quiet"
    OPEN = "open"  # incident open


@dataclass(frozen=True, slots=True)
class ZoneIncident:
    """The rule's memory for one zone."""

    phase: ZonePhase = ZonePhase.QUIET
    count: int = 0  # people reported
    peak_count: int = 0
    last_counted: float = 0.0  # when somebody last counted
    peak_score: float = 0.0


@dataclass(frozen=True, slots=True)
class HardhatState:
    """The rule's memory for one camera."""

    frame_times: tuple[float, ...] = ()  # sampled frames of the last min_duration_s
    tracks: Mapping[int, HeadTrack] = field(default_factory=dict)
    zones: Mapping[str, ZoneIncident] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ZoneCount:
    """Who counts in one zone at one frame."""

    count: int
    score: float  # highest mean confidence of a counted track's bare sightings
    boxes: tuple[Box, ...]  # counted people seen in this frame
    track_ids: frozenset[int] = frozenset()  # the counted tracks


def _sightings(
    detections: Detections,
    zones: Sequence[ZoneArea],
    required: Sequence[ZoneArea],
    now: float,
    params: HardhatParams,
) -> dict[int, HeadSample]:
    """This frame's sighting of each tracked head."""
    if detections.tracker_id is None:
        raise ValueError("the hard hat rule needs tracked detections (detect.tracker.track)")
    heads = drop_ignored(detections.of_class(params.head_class, params.helmet_class), zones)
    assert heads.tracker_id is not None
    heads = heads[heads.tracker_id >= 0]
    bare = (np.array(heads.labels, dtype=object) == params.head_class) & (
        heads.confidence >= params.head_threshold
    )
    inside = {zone.name: centers_inside(heads, zone) for zone in required}
    assert heads.tracker_id is not None
    samples: dict[int, HeadSample] = {}
    for row, track_id in enumerate(heads.tracker_id.tolist()):
        if required:
            bare_in = frozenset(name for name, mask in inside.items() if bare[row] and mask[row])
        else:
            bare_in = frozenset([FRAME_ZONE]) if bare[row] else frozenset()
        x1, y1, x2, y2 = (round(float(v), 1) for v in heads.xyxy[row])
        label = heads.labels[row]
        score = float(heads.confidence[row])
        samples[track_id] = HeadSample(
            now, bare_in, score, Box(label, round(score, 4), x1, y1, x2, y2)
        )
    return samples


def _count(
    zone: str, tracks: Mapping[int, HeadTrack], frames: int, now: float, params: HardhatParams
) -> ZoneCount:
    """The people counting as bare-headed in ``zone``; ``frames`` sampled in the window."""
    score, boxes, counted = 0.0, [], set()
    for track_id, head in tracks.items():
        if head.first_seen > now - params.min_duration_s + _EPS:
            continue  # not seen long enough
        bare = [s for s in head.samples if zone in s.bare_in]
        share = params.keep_presence if zone in head.counted_in else params.min_presence
        if not bare or len(bare) < share * frames - _EPS:
            continue
        counted.add(track_id)
        score = max(score, sum(s.confidence for s in bare) / len(bare))
        latest = head.samples[-1]
        if latest.time == now:
            boxes.append(latest.box)
    return ZoneCount(len(counted), score, tuple(boxes), frozenset(counted))


def hardhat_step(
    state: HardhatState,
    detections: Detections,
    now: float,
    params: HardhatParams,
    camera: str,
    zones: Sequence[ZoneArea],
) -> tuple[HardhatState, list[Observation]]:
    """Advance a camera by one sampled frame's tracked detections at ``now`` (seconds).

    ``zones``: the camera's zones rasterised at the frame size (``ignore`` and
    ``hardhat_required`` are used)."""
    window_start = now - params.min_duration_s - _EPS
    frame_times = (*(t for t in state.frame_times if t >= window_start), now)
    required = of_kind(zones, HARDHAT_REQUIRED)
    seen = _sightings(detections, zones, required, now, params)

    tracks: dict[int, HeadTrack] = {}
    for track_id in sorted(set(state.tracks) | set(seen)):
        head = state.tracks.get(track_id, HeadTrack(first_seen=now))
        samples = tuple(s for s in head.samples if s.time >= window_start)
        if track_id in seen:
            samples = (*samples, seen[track_id])
        if samples:
            tracks[track_id] = replace(head, samples=samples)

    observations: list[Observation] = []
    incidents: dict[str, ZoneIncident] = {}
    outlines = {zone.name: zone.outline for zone in required}
    counted_in: dict[int, set[str]] = {track_id: set() for track_id in tracks}
    for name in outlines or {FRAME_ZONE: ()}:
        counted = _count(name, tracks, len(frame_times), now, params)
        for track_id in counted.track_ids:
            counted_in[track_id].add(name)
        incident, found = _advance_zone(state.zones.get(name, ZoneIncident()), counted, now, params)
        incidents[name] = incident
        observations += [
            Observation(
                camera,
                name,
                Hazard.MISSING_HARDHAT,
                phase,
                now,
                round(score, 4),
                Severity.WARNING,
                details,
                outlines.get(name, ()),
                counted.boxes if phase is not Phase.END else (),
            )
            for phase, score, details in found
        ]
    tracks = {
        track_id: replace(head, counted_in=frozenset(counted_in[track_id]))
        for track_id, head in tracks.items()
    }
    return HardhatState(frame_times, tracks, incidents), observations


def _advance_zone(
    incident: ZoneIncident, counted: ZoneCount, now: float, params: HardhatParams
) -> tuple[ZoneIncident, list[Finding]]:
    """One zone's incident after this frame's count."""
    match incident.phase:
        case ZonePhase.QUIET:
            if counted.count == 0:
                return incident, []
            opened = ZoneIncident(ZonePhase.OPEN, counted.count, counted.count, now, counted.score)
            return opened, [(Phase.START, counted.score, {"count": counted.count})]
        case ZonePhase.OPEN if counted.count > 0:
            current = replace(
                incident,
                count=counted.count,
                peak_count=max(incident.peak_count, counted.count),
                last_counted=now,
                peak_score=max(incident.peak_score, counted.score),
            )
            if counted.count == incident.count:
                return current, []
            details: dict[str, float | int | str] = {
                "count": counted.count,
                "peak_count": current.peak_count,
            }
            return current, [(Phase.UPDATE, counted.score, details)]
        case ZonePhase.OPEN:
            if now - incident.last_counted < params.clear_s:
                return incident, []
            details = {"count": 0, "peak_count": incident.peak_count}
            return ZoneIncident(), [(Phase.END, incident.peak_score, details)]
    raise AssertionError(f"unhandled phase {incident.phase}")  # pragma: no cover
