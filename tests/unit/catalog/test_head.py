"""The catalog's signed head: its envelope round-trips, and anything altered or foreign fails."""

from __future__ import annotations

import json

import pytest

from worker import errors
from worker.catalog import sign
from worker.catalog.head import Head
from worker.restore import fetch

KEY = b"unit-catalog-key-0123456789abcdef0123456789"
OTHER = b"unit-catalog-key-of-someone-else-0123456789"
KEYS = sign.Keys.of([KEY])
DOCUMENT = b'{"backups":[],"format":"backup-worker-catalog","version":1}'


def head(keys: sign.Keys = KEYS) -> Head:
    return Head(
        fingerprint="0123456789abcdef",
        chat_id="-1001234567890",
        backups=0,
        compression="zstd",
        encrypted=False,
        recipients=(),
        size_bytes=10,
        sha256="a" * 64,
        parts=(fetch.RemotePart(0, "BQAC-file", 10, "a" * 64),),
        document_key_id=keys.sign(sign.DOCUMENT, DOCUMENT)[0],
        document_mac=keys.sign(sign.DOCUMENT, DOCUMENT)[1],
    )


def test_a_signed_head_round_trips_and_vouches_for_its_document() -> None:
    data = head().dumps(KEYS)
    read = Head.loads(data, KEYS)
    assert read == head()
    read.verify_document(KEYS, DOCUMENT)
    with pytest.raises(errors.InputError, match="MAC does not match"):
        read.verify_document(KEYS, DOCUMENT.replace(b"[]", b"[{}]"))


def test_rotation_the_first_key_signs_every_key_verifies() -> None:
    old = head(sign.Keys.of([OTHER])).dumps(sign.Keys.of([OTHER]))
    rotated = sign.Keys.of([KEY, OTHER])
    assert Head.loads(old, rotated).document_key_id == sign.key_id(OTHER)
    assert rotated.sign(sign.HEAD, b"x")[0] == sign.key_id(KEY)


def test_a_head_signed_with_another_key_is_refused() -> None:
    data = head().dumps(sign.Keys.of([OTHER]))
    with pytest.raises(errors.InputError, match="not in CATALOG_KEY"):
        Head.loads(data, KEYS)


def test_an_altered_head_is_refused() -> None:
    envelope = json.loads(head().dumps(KEYS))
    envelope["head"] = envelope["head"].replace('"backups": 0', '"backups": 1')
    with pytest.raises(errors.InputError, match="MAC does not match"):
        Head.loads(json.dumps(envelope).encode(), KEYS)
    envelope = json.loads(head().dumps(KEYS))
    envelope["mac"] = KEYS.sign(sign.DOCUMENT, envelope["head"].encode())[1]  # the other label
    with pytest.raises(errors.InputError, match="MAC does not match"):
        Head.loads(json.dumps(envelope).encode(), KEYS)


@pytest.mark.parametrize(
    "data",
    [
        b'{"format": "backup-worker-catalog-head", "version": 1, "message_ids": [1, 2, 3]}',
        b'{"format": "backup-worker-catalog-head", "version": 2, "head": {"parts": []}}',
    ],
)
def test_an_unsigned_head_is_refused(data: bytes) -> None:
    with pytest.raises(errors.InputError, match="not signed"):
        Head.loads(data, KEYS)


def test_no_key_is_a_configuration_error() -> None:
    with pytest.raises(errors.ConfigError, match="CATALOG_KEY is not set"):
        sign.Keys.of([])
