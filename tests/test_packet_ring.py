"""The packet ring buffer: GOP-aligned, bounded by seconds and bytes (synthetic packets)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ingest.packet_ring import PacketRing, StoredPacket, StreamTemplate

TB = Fraction(1, 90_000)
TEMPLATE = StreamTemplate("h264", 640, 360, b"")


def packets(seconds: float, fps: int = 10, gop: int = 10, size: int = 1000) -> list[StoredPacket]:
    count = round(seconds * fps)
    return [
        StoredPacket(b"x" * size, i * 90_000 // fps, i * 90_000 // fps, TB, i % gop == 0, float(i))
        for i in range(count)
    ]


def filled(ring: PacketRing, items: list[StoredPacket]) -> PacketRing:
    ring.reset(TEMPLATE)
    for item in items:
        ring.add(item)
    return ring


def test_holds_about_n_seconds_from_a_keyframe() -> None:
    ring = filled(PacketRing(seconds=5.0), packets(30))
    snapshot = ring.snapshot()
    assert snapshot is not None
    assert snapshot.packets[0].keyframe
    assert 5.0 <= snapshot.seconds + 0.1 < 5.0 + 1.0 + 0.1  # at least N, at most N + one GOP


def test_byte_budget_wins_over_seconds() -> None:
    ring = filled(PacketRing(seconds=10.0, max_bytes=25_000), packets(30))
    snapshot = ring.snapshot()
    assert snapshot is not None and snapshot.packets[0].keyframe
    assert snapshot.size <= 25_000
    assert ring.bytes == snapshot.size


def test_packets_before_the_first_keyframe_are_ignored() -> None:
    items = packets(3)[3:]  # starts mid-GOP
    ring = filled(PacketRing(seconds=5.0), items)
    snapshot = ring.snapshot()
    assert snapshot is not None
    assert snapshot.packets[0].keyframe and snapshot.packets[0].pts == 90_000


def test_reset_empties_and_snapshot_needs_a_template() -> None:
    ring = filled(PacketRing(seconds=5.0), packets(3))
    ring.reset(None)
    assert ring.snapshot() is None and ring.bytes == 0


def test_single_gop_over_budget_keeps_nothing() -> None:
    ring = filled(PacketRing(seconds=5.0, max_bytes=5_000), packets(0.9, size=1000))
    assert ring.bytes == 0


@pytest.mark.parametrize(("seconds", "max_bytes"), [(0, 10), (5, 0), (-1, 10)])
def test_bad_bounds_are_refused(seconds: float, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        PacketRing(seconds, max_bytes)
