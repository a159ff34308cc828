from __future__ import annotations

import uuid

import pytest

from worker import errors
from worker.contract import request

# Legal PostgreSQL names, hostile-looking: accepted as they are (a server may hold them; they
# travel as values only, tests/unit/artifact/test_pipeline.py).
HOSTILE_NAMES = [
    "db'; DROP TABLE x; --",
    'db"quoted',
    "two words",
    "a;b",
    "$(reboot)",
    "-h",
    "--file=/etc/passwd",
    "host=evil dbname=x",
]
IMPOSSIBLE_NAMES = ["x" * 10_000, "nul\x00byte", ""]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_legal_database_names_are_taken_as_they_are(name: str) -> None:
    assert request.validate("proj-1", name).database == name


@pytest.mark.parametrize("name", IMPOSSIBLE_NAMES)
def test_names_no_server_can_hold_are_refused(name: str) -> None:
    with pytest.raises(errors.InputError, match="database"):
        request.validate("proj-1", name)


@pytest.mark.parametrize("value", [None, 42, "", "a b", "x" * 200, "../etc", {"id": 1}])
def test_bad_project_ids_are_refused(value: object) -> None:
    with pytest.raises(errors.InputError, match="project id"):
        request.validate(value, "sales")


@pytest.mark.parametrize("days", [0, -1, 1.5, "7", True, 10**9])
def test_bad_expiry_is_refused(days: object) -> None:
    with pytest.raises(errors.InputError, match="expires_in_days"):
        request.validate("proj-1", "sales", expires_in_days=days)


def test_caption_that_cannot_fit_beside_the_part_details_is_refused() -> None:
    with pytest.raises(errors.InputError, match="caption is too long"):
        request.validate("proj-1", "sales", caption="x" * 1000)


def test_longest_allowed_caption_fits_telegrams_limit() -> None:
    longest = None
    for size in range(1024, 0, -1):
        try:
            longest = request.validate("p" * 128, "d" * 63, caption="c" * size)
            break
        except errors.InputError:
            continue
    assert longest is not None
    assert longest.caption is not None
    for count in (999, None):  # None: a part sent while the dump still runs
        caption = request.part_caption(
            longest.project_id, longest.database, 998, count, 10**15 - 1, "f" * 64, longest.caption
        )
        assert len(caption) <= request.CAPTION_LIMIT


def test_payload_round_trip() -> None:
    req = request.validate("proj-1", "sales", expires_in_days=7, caption="hi", filename="a.dump")
    payload = req.payload("-100123", 5)
    assert payload["chat_id"] == "-100123"
    assert request.BackupRequest.from_payload(payload) == req


def test_job_ids_must_be_uuids() -> None:
    assert request.validate_job_id(None) is None
    value = uuid.uuid4()
    assert request.validate_job_id(str(value)) == value
    for bad in ("nope", 12, "1234"):
        with pytest.raises(errors.InputError, match="job id"):
            request.validate_job_id(bad)
