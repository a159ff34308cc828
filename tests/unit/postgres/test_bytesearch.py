"""The archive search through the C library's memmem answers exactly as bytes.find does."""

from __future__ import annotations

import random
import sys

import pytest

from worker.postgres import bytesearch

END = bytes(5)  # a zero-length block, as the offsets search looks for it
HEADER = END + bytes([1, 0]) + (3245).to_bytes(4, "little")

CASES = [
    (b"abc" + HEADER, HEADER, 0),
    (HEADER + b"abc", HEADER, 0),
    (HEADER + b"abc", HEADER, 1),
    (bytes(12), END, 0),
    (bytes(12), END, 4),
    (bytes(12), END, 8),
    (bytes(12), END, 7),
    (b"x" * 100, END, 0),
    (b"ab" + HEADER + b"cd" + HEADER, HEADER, 3),
    (b"short", HEADER, 0),
    (b"abc", b"c", 2),
    (b"abc", b"c", 3),
    (b"abc", b"c", 9),
    (b"", b"a", 0),
    (b"abc", b"", 1),
    (b"abcabc", b"abc", -3),
]


@pytest.mark.parametrize(("data", "pattern", "start"), CASES)
def test_it_finds_what_bytes_find_finds(data: bytes, pattern: bytes, start: int) -> None:
    assert bytesearch.find(data, pattern, start) == data.find(pattern, start)


def test_it_agrees_with_bytes_find_on_archive_like_data_at_every_start() -> None:
    rng = random.Random(22)
    rows = []
    for _ in range(400):
        row = bytes(rng.choice(b"abc\t\n0123") for _ in range(rng.randrange(1, 40)))
        rows.append(bytes(1) + len(row).to_bytes(4, "little") + row)  # a block: sign, length
        if rng.random() < 0.02:
            rows.append(HEADER)
    data = b"".join(rows)
    assert data.count(HEADER) >= 2
    for start in range(0, len(data), 7):
        assert bytesearch.find(data, HEADER, start) == data.find(HEADER, start)


def test_a_bytearray_gets_bytes_find_answers() -> None:
    data = bytearray(b"xx" + HEADER)
    assert bytesearch.find(data, HEADER) == 2  # type: ignore[arg-type]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's memmem: Linux")
def test_on_linux_the_search_is_the_c_librarys() -> None:
    # Otherwise every test above would pass through bytes.find alone.
    assert bytesearch._memmem() is not None
