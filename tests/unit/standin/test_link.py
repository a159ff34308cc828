"""The stand-in's link: bytes pass at its rate, shared by every connection, unchanged."""

from __future__ import annotations

import io

import pytest

from standin.link import BURST, CHUNK, PROFILES, Bucket, Link, PacedReader, PacedWriter


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bytes_cross_at_the_links_rate_one_after_another() -> None:
    clock = _Clock()
    bucket = Bucket(1000.0, clock=clock, sleep=clock.sleep)
    bucket.take(500)
    assert clock.now == pytest.approx(0.5 - BURST)
    bucket.take(1000)  # queued behind the first 500 bytes
    assert clock.now == pytest.approx(1.5 - BURST)


def test_an_idle_link_does_not_save_up_bandwidth() -> None:
    clock = _Clock()
    bucket = Bucket(1000.0, clock=clock, sleep=clock.sleep)
    clock.now = 10.0
    bucket.take(100)
    assert clock.now == pytest.approx(10.1 - BURST)


def test_reads_and_writes_pass_every_byte_unchanged() -> None:
    clock = _Clock()
    data = bytes(range(256)) * (CHUNK // 64)  # four chunks
    reader = PacedReader(io.BufferedReader(io.BytesIO(data)), Bucket(1e6, sleep=clock.sleep))
    read = bytearray()
    while chunk := reader.read(-1):
        assert len(chunk) <= CHUNK
        read += chunk
    assert bytes(read) == data
    sink = io.BytesIO()
    writer = PacedWriter(sink, Bucket(1e6, sleep=clock.sleep))
    writer.copy(io.BytesIO(data), len(data) - 10)
    assert sink.getvalue() == data[:-10]


def test_profiles_are_the_issues_links() -> None:
    assert (PROFILES["100mbit"].mbit, PROFILES["100mbit"].rtt) == (100, 0.040)
    assert (PROFILES["1gbit"].mbit, PROFILES["1gbit"].rtt) == (1000, 0.005)
    with pytest.raises(ValueError, match="rate"):
        Link(rate=0, rtt=0.01)
