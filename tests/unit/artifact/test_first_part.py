"""The first part: sized alone, so the first message comes early without one more part."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import pytest

from worker import defaults, errors
from worker.artifact import manifest, stream

PART = 20_000_000


def test_without_an_earlier_backup_the_first_part_is_half_a_part() -> None:
    first = stream.first_part_size(PART)
    sizes = [manifest.part_limit(index, PART, first) for index in range(4)]
    assert sizes == [10_000_000] + [PART] * 3


def test_the_first_part_is_never_below_the_smallest_part_size() -> None:
    assert stream.first_part_size(100_000) == defaults.MIN_PART_SIZE
    assert stream.first_part_size(defaults.MIN_PART_SIZE) == defaults.MIN_PART_SIZE
    assert stream.first_part_size(PART, 1) == 1 + defaults.MIN_PART_SIZE  # 1 byte, room to grow


def test_every_part_after_the_first_is_full_sized() -> None:
    assert [manifest.part_limit(index, PART, 1000) for index in (0, 1, 2, 100_000)] == [
        1000,
        PART,
        PART,
        PART,
    ]


def parts(total: int, first: int) -> int:
    return 1 if total <= first else 1 + math.ceil((total - first) / PART)


@pytest.mark.parametrize("previous", [84_782_356, 80_500_000, 79_900_000, 100_000_000, 5_000_000])
def test_after_a_backup_the_first_part_is_what_its_full_parts_left(previous: int) -> None:
    first = stream.first_part_size(PART, previous)
    assert parts(previous, first) == math.ceil(previous / PART)  # no more parts than needed
    room = max(round(previous * stream.FIRST_PART_ROOM), defaults.MIN_PART_SIZE)
    # ... as small as that allows, with room for the artifact to grow by 1 %.
    assert first == min(PART, (previous % PART or PART) + room)
    if first < PART:  # else its last part was (nearly) full: growing takes one more anyway
        assert parts(previous + room, first) == math.ceil(previous / PART)


def test_the_benchmark_database_starts_with_a_part_of_under_6_mb() -> None:
    # The 400 MB database's artifact, 84.8 MB: 5 parts either way, the first 5.6 MB, not 10.
    first = stream.first_part_size(PART, 84_782_356)
    assert 5_600_000 < first < 5_700_000
    assert parts(84_782_356, first) == parts(84_782_356, stream.first_part_size(PART)) == 5


def data(size: int) -> bytes:
    return random.Random(5).randbytes(size)


def test_the_writer_cuts_a_small_first_part_then_full_ones_that_join_up(tmp_path: Path) -> None:
    source = data(40_000)
    announced: list[int] = []
    made = stream.write_artifact(
        io.BytesIO(source),
        tmp_path,
        "r.pgdump",
        part_size=8000,
        first_part_size=1000,
        compression="none",
        chunk_size=3000,  # pieces that straddle the part boundaries
        on_part=lambda part: announced.append(part.size_bytes),
    )
    sizes = [part.size_bytes for part in made.parts]
    assert sizes == [1000, 8000, 8000, 8000, 8000, 7000]
    assert announced == sizes
    assert b"".join(part.path.read_bytes() for part in made.parts) == source
    assert manifest.Artifact.from_json(made.to_json()) == made


@pytest.mark.parametrize("first", [None, 8000, 50_000])
def test_without_a_smaller_first_part_every_part_but_the_last_is_full(
    tmp_path: Path, first: int | None
) -> None:
    made = stream.write_artifact(
        io.BytesIO(data(20_000)),
        tmp_path,
        "f.pgdump",
        part_size=8000,
        first_part_size=first,
        compression="none",
    )
    assert [part.size_bytes for part in made.parts] == [8000, 8000, 4000]


def test_a_first_part_size_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.InputError, match="first_part_size"):
        stream.write_artifact(
            io.BytesIO(b"x"), tmp_path, "z.pgdump", part_size=8000, first_part_size=0
        )


@pytest.mark.parametrize(
    ("size", "sizes"), [(20_000, [2000, 8000, 8000, 2000]), (18_000, [2000, 8000, 8000])]
)
def test_without_the_last_announced_every_other_part_is(
    tmp_path: Path, size: int, sizes: list[int]
) -> None:
    announced: list[int] = []
    made = stream.write_artifact(
        io.BytesIO(data(size)),
        tmp_path,
        "n.pgdump",
        part_size=8000,
        first_part_size=2000,
        compression="none",
        on_part=lambda part: announced.append(part.index),
        announce_last=False,
    )
    # Ending on a part's boundary too: a part is announced once the next one has bytes.
    assert [part.size_bytes for part in made.parts] == sizes
    assert announced == list(range(len(sizes) - 1))
