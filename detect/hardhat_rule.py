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
``WHOLE_FRAME``; heads whose centre is in an ``ignore`` zone are dropped. Where the detector
puts a ``head`` and a ``helmet`` box on the same head, only the more confident one is tracked
(``one_verdict_per_head``).

People, when a person finder runs beside the hazard model (``person`` boxes, ``hardhat_subjects``):
our hazard model finds a bare head mostly when it sees a face; from behind it often scores a bare
head as ``helmet`` or gives it no box at all. A tracked person is *judged* in a frame when its
box is at least ``person_threshold`` confident, at least ``min_person_size`` of the frame's longer
side tall (smaller, the hazard model sees too few pixels of the head to find a hard hat), upright
(at least ``min_upright`` times as tall as wide: the head is at the top of the box) and whole
(its top, left and right inside the frame, ``EDGE_PX``: the head is in view; someone coming in
from the side is judged once in view). A judged person is bare-headed in that frame when
its head region (the top ``head_region`` of the box) holds no ``helmet`` box of at least
``helmet_threshold``, or a ``head`` box more confident than any helmet there. Its head region's
centre is what must lie in the zone. A bare-headed person stands for the head boxes in its head
region (they are not counted again on their own); every other head box counts as before
(close-ups, people the finder misses, a bare head beside a neighbour's hard hat), so people only
add to what the head boxes find.

One incident per zone: START when the count becomes positive, UPDATE whenever the count
changes, END once nobody has counted for ``clear_s``. Details: ``count`` (and ``peak_count``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from core.geometry import nms
from core.vocabulary import HEAD, HELMET, PERSON, WHOLE_FRAME, Hazard, Severity, ZoneKind
from detect.detections import Detections, FloatArray
from detect.observations import Box, Observation, Phase
from detect.zone_filter import ZoneArea, centers_inside, in_ignored, of_kind

EDGE_PX = 2.0  # a person box this close to the frame's top or sides may be cut off there
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
    # people (a person finder's boxes); thresholds chosen on the use:train clips and the
    # calibration half of the validation pictures (models/persons.md)
    person_threshold: float = 0.6  # a person box this confident is judged
    helmet_threshold: float = 0.25  # a helmet box this confident on a person's head: a hard hat
    min_person_size: float = 0.1  # share of the frame's longer side a judged person spans
    head_region: float = 0.35  # the top share of a person box where the head is
    min_upright: float = 1.0  # height / width of a judged person's box (bent, lying: not judged)
    head_class: str = HEAD  # a bare head
    helmet_class: str = HELMET  # a head wearing a hard hat
    person_class: str = PERSON  # a whole person
    same_head_iou: float = 0.7  # a head and a helmet box overlapping this much are one head


def one_verdict_per_head(found: Detections, params: HardhatParams) -> Detections:
    """The ``head`` and ``helmet`` boxes, one per head: where the detector put both on the same
    head (different anchors), the more confident one stays. Else a weak ``head`` box under a
    confident ``helmet`` would start a track of its own and count as a bare head."""
    heads = found.of_class(params.head_class, params.helmet_class)
    if len(heads) < 2:
        return heads
    return heads[np.array(sorted(nms(heads.xyxy, heads.confidence, params.same_head_iou)))]


def hardhat_subjects(found: Detections, params: HardhatParams) -> Detections:
    """What the tracker follows for the rule: one verdict per head (``one_verdict_per_head``)
    and the ``person`` boxes of at least ``person_threshold``, in one set."""
    heads = one_verdict_per_head(found, params)
    people = found.of_class(params.person_class)
    people = people[people.confidence >= params.person_threshold]
    if not len(people):
        return heads
    return Detections(
        np.concatenate([heads.xyxy, people.xyxy]),
        np.concatenate([heads.confidence, people.confidence]),
        np.concatenate([heads.class_id, people.class_id]),
        found.class_names,
    )


def head_regions(people: FloatArray, share: float) -> FloatArray:
    """The top ``share`` of each person box (n, 4): where its head is."""
    regions = np.array(people, np.float32, copy=True).reshape(-1, 4)
    regions[:, 3] = regions[:, 1] + share * (regions[:, 3] - regions[:, 1])
    return regions


def _centres_in(boxes: FloatArray, regions: FloatArray) -> npt.NDArray[np.bool_]:
    """(n regions, m boxes): whether each box's centre lies in each region."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.asarray(
        (centre[None, :, 0] >= regions[:, None, 0])
        & (centre[None, :, 0] <= regions[:, None, 2])
        & (centre[None, :, 1] >= regions[:, None, 1])
        & (centre[None, :, 1] <= regions[:, None, 3]),
        bool,
    )


@dataclass(frozen=True, slots=True, eq=False)
class PersonVerdicts:
    """This frame's judgement of each row of a set of detections (persons only are judged)."""

    judged: npt.NDArray[np.bool_]  # a person box the rule judges (big enough, head in view)
    bare: npt.NDArray[np.bool_]  # judged, and no hard hat on its head
    claimed: npt.NDArray[np.bool_]  # a head or helmet box in a bare-headed person's head region
    anchors: FloatArray  # where each row's head is: the head region of persons, else the box


def judge_people(
    found: Detections, params: HardhatParams, resolution_wh: tuple[int, int]
) -> PersonVerdicts:
    """Whether each judged person of ``found`` wears a hard hat, from the ``helmet`` and
    ``head`` boxes of the same frame."""
    labels = np.array(found.labels, dtype=object)
    width, height = resolution_wh
    x1, y1, x2, y2 = found.xyxy.T
    tall = y2 - y1
    judged = (
        (labels == params.person_class)
        & (found.confidence >= params.person_threshold)
        & (tall >= params.min_person_size * max(width, height))
        & (tall >= params.min_upright * (x2 - x1))
        & (y1 > EDGE_PX)
        & (x1 > EDGE_PX)
        & (x2 < width - EDGE_PX)
    )
    anchors = found.xyxy.copy()
    anchors[judged] = head_regions(found.xyxy[judged], params.head_region)
    helmets = labels == params.helmet_class
    heads = (labels == params.head_class) & (found.confidence >= params.head_threshold)
    inside = _centres_in(found.xyxy, anchors[judged])  # (judged people, rows)
    helmet_score = np.where(inside & helmets, found.confidence, 0.0).max(axis=1, initial=0.0)
    head_score = np.where(inside & heads, found.confidence, 0.0).max(axis=1, initial=0.0)
    bare = np.zeros(len(found), bool)
    bare[judged] = (helmet_score < params.helmet_threshold) | (head_score > helmet_score)
    claimed = (helmets | (labels == params.head_class)) & inside[bare[judged]].any(axis=0)
    return PersonVerdicts(judged, bare, claimed, anchors)


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
    resolution_wh: tuple[int, int] | None,
) -> dict[int, HeadSample]:
    """This frame's sighting of each tracked head and each tracked, judged person."""
    if detections.tracker_id is None:
        raise ValueError("the hard hat rule needs tracked detections (detect.tracker.track)")
    labels = np.array(detections.labels, dtype=object)
    is_head = (labels == params.head_class) | (labels == params.helmet_class)
    if resolution_wh is None:
        if (labels == params.person_class).any():
            raise ValueError("judging people needs the frame size (resolution_wh)")
        resolution_wh = (0, 0)
    verdicts = judge_people(detections, params, resolution_wh)
    anchored = Detections(
        verdicts.anchors,
        detections.confidence,
        detections.class_id,
        detections.class_names,
        detections.tracker_id,
    )
    subject = (is_head & ~verdicts.claimed) | verdicts.judged
    subject &= (detections.tracker_id >= 0) & ~in_ignored(anchored, zones)
    bare = np.where(
        verdicts.judged,
        verdicts.bare,
        (labels == params.head_class) & (detections.confidence >= params.head_threshold),
    )
    inside = {zone.name: centers_inside(anchored, zone) for zone in required}
    samples: dict[int, HeadSample] = {}
    for row in np.flatnonzero(subject).tolist():
        if required:
            bare_in = frozenset(name for name, mask in inside.items() if bare[row] and mask[row])
        else:
            bare_in = frozenset([WHOLE_FRAME]) if bare[row] else frozenset()
        x1, y1, x2, y2 = (round(float(v), 1) for v in detections.xyxy[row])
        score = float(detections.confidence[row])
        box = Box(str(labels[row]), round(score, 4), x1, y1, x2, y2)
        samples[int(detections.tracker_id[row])] = HeadSample(now, bare_in, score, box)
    return samples


def _count(
    zone: str, tracks: Mapping[int, HeadTrack], frames: int, now: float, params: HardhatParams
) -> ZoneCount:
    """The people counting as bare-headed in ``zone``; ``frames`` sampled in the window. A
    counted head last seen on the head of a counted person (the person finder missed that
    person in some frames) is that person: one."""
    score, latest, counted = 0.0, [], set()
    for track_id, head in tracks.items():
        if head.first_seen > now - params.min_duration_s + _EPS:
            continue  # not seen long enough
        bare = [s for s in head.samples if zone in s.bare_in]
        share = params.keep_presence if zone in head.counted_in else params.min_presence
        if not bare or len(bare) < share * frames - _EPS:
            continue
        counted.add(track_id)
        score = max(score, sum(s.confidence for s in bare) / len(bare))
        latest.append(head.samples[-1])
    twins = _heads_on_people([sample.box for sample in latest], params)
    boxes = tuple(
        sample.box
        for index, sample in enumerate(latest)
        if sample.time == now and index not in twins
    )
    return ZoneCount(len(counted) - len(twins), score, boxes, frozenset(counted))


def _heads_on_people(boxes: Sequence[Box], params: HardhatParams) -> set[int]:
    """Indices of the head boxes among ``boxes`` whose centre lies in the head region of one of
    the person boxes among them."""
    people = [b for b in boxes if b.label == params.person_class]
    if not people:
        return set()
    regions = head_regions(np.array([[b.x1, b.y1, b.x2, b.y2] for b in people]), params.head_region)
    xyxy = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], np.float32)
    on_person: npt.NDArray[np.bool_] = np.asarray(_centres_in(xyxy, regions).any(axis=0))
    return {
        index
        for index, box in enumerate(boxes)
        if box.label != params.person_class and bool(on_person[index])
    }


def hardhat_step(
    state: HardhatState,
    detections: Detections,
    now: float,
    params: HardhatParams,
    camera: str,
    zones: Sequence[ZoneArea],
    resolution_wh: tuple[int, int] | None = None,
) -> tuple[HardhatState, list[Observation]]:
    """Advance a camera by one sampled frame's tracked detections at ``now`` (seconds).

    ``zones``: the camera's zones rasterised at the frame size (``ignore`` and
    ``hardhat_required`` are used). ``resolution_wh``: the frame size (default: the zones'),
    which people are judged against."""
    window_start = now - params.min_duration_s - _EPS
    frame_times = (*(t for t in state.frame_times if t >= window_start), now)
    required = of_kind(zones, ZoneKind.HARDHAT_REQUIRED)
    size = resolution_wh or (zones[0].resolution_wh if zones else None)
    seen = _sightings(detections, zones, required, now, params, size)

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
    for name in outlines or {WHOLE_FRAME: ()}:
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
