"""The stand-in's store with keep=True: a later store on the same directory knows the file ids
(and their bots) an earlier one minted; without keep it knows none."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from standin.store import Store


def upload(store: Store, content: bytes, owner: int) -> str:
    digest = hashlib.sha256(content).hexdigest()
    staged = store.files_dir / "upload.tmp"
    staged.write_bytes(content)
    file_id, _ = store.put_file(staged, digest, len(content), "part.bin", owner=owner)
    return file_id


def test_kept_file_ids_survive_a_new_store(tmp_path: Path) -> None:
    first = Store(tmp_path, time.time, keep=True)
    one, two = upload(first, b"part one", owner=7), upload(first, b"part two", owner=8)
    again = Store(tmp_path, time.time, keep=True)
    found = again.file_by_id(one)
    assert found is not None
    assert found.disk_path.read_bytes() == b"part one"
    assert again.file_owner(two) == 8
    assert again.file_by_path(found.file_path) == found
    made = again.file_by_id(upload(again, b"part three", owner=7))
    assert made is not None
    assert made.file_path != found.file_path  # a download path is never reused


def test_without_keep_a_new_store_knows_no_file_id(tmp_path: Path) -> None:
    first = Store(tmp_path, time.time)
    file_id = upload(first, b"part", owner=7)
    assert Store(tmp_path, time.time).file_by_id(file_id) is None
    assert Store(tmp_path, time.time, keep=True).file_by_id(file_id) is None
