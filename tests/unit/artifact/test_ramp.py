"""Ramped parts: a backup's first parts are small so the first upload starts early in the dump."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from worker import defaults, errors
from worker.artifact import manifest, stream


def test_the_default_part_size_starts_at_half() -> None:
    first = stream.ramp_start(20_000_000)
    sizes = [manifest.part_limit(index, 20_000_000, first) for index in range(4)]
    assert sizes == [10_000_000] + [20_000_000] * 3


def test_the_first_part_is_never_below_the_smallest_part_size() -> None:
    assert stream.ramp_start(100_000) == defaults.MIN_PART_SIZE
    assert stream.ramp_start(defaults.MIN_PART_SIZE) == defaults.MIN_PART_SIZE


def test_a_part_far_past_the_ramp_is_full_sized() -> None:
    assert manifest.part_limit(100_000, 20_000_000, 1) == 20_000_000


def data(size: int) -> bytes:
    return random.Random(5).randbytes(size)


def test_the_writer_cuts_ramped_parts_that_join_to_the_source(tmp_path: Path) -> None:
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
    assert sizes == [1000, 2000, 4000, 8000, 8000, 8000, 8000, 1000]
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
    ("size", "sizes"), [(20_000, [2000, 4000, 8000, 6000]), (14_000, [2000, 4000, 8000])]
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
