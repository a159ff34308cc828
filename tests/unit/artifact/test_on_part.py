"""The hook the overlap benchmark (benchmarks/overlap.py) relies on: write_artifact's on_part."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest
import zstandard

from worker.artifact import stream

PART = 64 * 1024


def payload(size: int) -> bytes:
    """Half random, half repetitive: compresses, but not to nothing."""
    rng = random.Random(3)
    return rng.randbytes(size // 2) + b"row\tvalue\n" * (size // 20)


def test_each_part_is_announced_once_complete_in_order(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str, bytes]] = []

    def on_part(part: stream.PartFile) -> None:
        # Read it now, as a sender would: it must be closed and final already.
        data = part.path.read_bytes()
        seen.append((part.index, part.size_bytes, part.sha256, data))

    made = stream.write_artifact(
        io.BytesIO(payload(1 << 20)), tmp_path, "a.zst", part_size=PART, on_part=on_part
    )
    assert [index for index, *_ in seen] == [part.index for part in made.parts]
    for (_, size, digest, data), part in zip(seen, made.parts, strict=True):
        assert (size, digest) == (part.size_bytes, part.sha256)
        assert len(data) == size
        assert hashlib.sha256(data).hexdigest() == digest
    assert len(made.parts) > 3


def test_a_failing_consumer_aborts_and_leaves_no_part(tmp_path: Path) -> None:
    def on_part(part: stream.PartFile) -> None:
        if part.index == 1:
            raise RuntimeError("upload refused")

    with pytest.raises(RuntimeError, match="upload refused"):
        stream.write_artifact(
            io.BytesIO(payload(1 << 20)), tmp_path, "b.zst", part_size=PART, on_part=on_part
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_worker_threads_give_the_same_bytes_back(tmp_path: Path, threads: int) -> None:
    data = payload(3 << 20)
    made = stream.write_artifact(
        io.BytesIO(data), tmp_path, f"t{threads}.zst", part_size=PART, zstd_threads=threads
    )
    joined = b"".join(part.path.read_bytes() for part in made.parts)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(joined) == data
