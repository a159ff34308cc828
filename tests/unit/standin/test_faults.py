"""The stand-in's fault injection and control endpoints, and its multipart parser."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
from requests_toolbelt import MultipartEncoder

from standin import multipart
from standin.faults import parse_fault
from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN


def _control(standin: BotApiStandin, name: str, body: object = None) -> Any:
    if body is None:
        response = requests.get(f"{standin.url}/_standin/{name}", timeout=5)
    else:
        response = requests.post(f"{standin.url}/_standin/{name}", json=body, timeout=5)
    payload = response.json()
    assert payload["ok"] is True, payload
    return payload["result"]


def _send(standin: BotApiStandin, method: str = "sendMessage") -> requests.Response:
    return requests.post(
        f"{standin.url}/bot{TOKEN}/{method}", data={"chat_id": CHAT, "text": "x"}, timeout=5
    )


def test_scripted_faults_are_consumed_in_order_by_matching_methods(standin: BotApiStandin) -> None:
    script = {"script": ["429:3", "502", "drop", "500"], "methods": ["sendMessage"]}
    assert _control(standin, "faults", script) == {"pending": 4}
    assert requests.get(f"{standin.url}/bot{TOKEN}/getMe", timeout=5).status_code == 200
    flood = _send(standin)
    assert (flood.status_code, flood.json()) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    gateway = _send(standin)
    assert gateway.status_code == 502
    assert gateway.headers["Content-Type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in gateway.text
    assert _control(standin, "faults") == ["drop", "500"]
    with pytest.raises(requests.ConnectionError):
        _send(standin)
    assert _send(standin).json()["description"] == "Internal Server Error"
    assert _send(standin).status_code == 200
    log = _control(standin, "requests")
    assert isinstance(log, list)
    assert [(e["method"], e["status"], e["fault"]) for e in log] == [
        ("getMe", 200, None),
        ("sendMessage", 429, "429:3"),
        ("sendMessage", 502, "502"),
        ("sendMessage", None, "drop"),
        ("sendMessage", 500, "500"),
        ("sendMessage", 200, None),
    ]
    assert all(e["chat_id"] == CHAT for e in log[1:])
    assert all(isinstance(e["bytes"], int) and isinstance(e["time"], float) for e in log)


def test_a_cut_answer_breaks_off_mid_body(standin: BotApiStandin) -> None:
    standin.set_faults(["cut"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{standin.url}/bot{TOKEN}/getMe", timeout=5)


def test_random_faults_are_reproducible_with_a_seed(standin: BotApiStandin) -> None:
    def run() -> list[int]:
        _control(
            standin,
            "rates",
            {"rate_429": 0.3, "rate_502": 0.3, "retry_after": 2, "seed": 42, "methods": ["getMe"]},
        )
        return [
            requests.get(f"{standin.url}/bot{TOKEN}/getMe", timeout=5).status_code
            for _ in range(30)
        ]

    first, second = run(), run()
    assert first == second
    assert {200, 429, 502} <= set(first)
    assert _send(standin).status_code == 200  # other methods are untouched


def test_random_drops(standin: BotApiStandin) -> None:
    standin.set_fault_rates(rate_drop=1.0)
    with pytest.raises(requests.ConnectionError):
        _send(standin)


def test_messages_age_and_reset_endpoints(standin: BotApiStandin) -> None:
    message_id = _send(standin).json()["result"]["message_id"]
    [message] = _control(standin, "messages")
    assert (message["chat_id"], message["message_id"], message["deleted"]) == (
        CHAT,
        message_id,
        False,
    )
    date = message["date"]
    _control(standin, "age", {"chat_id": CHAT, "message_id": message_id, "seconds": 100})
    assert _control(standin, "messages")[0]["date"] == date - 100
    standin.set_faults(["502"])
    assert _control(standin, "reset", {}) is True
    assert _control(standin, "messages") == []
    assert _control(standin, "requests") == []
    assert _control(standin, "faults") == []
    assert _send(standin).json()["result"]["message_id"] == 1


def test_control_endpoints_refuse_nonsense(standin: BotApiStandin) -> None:
    bad = requests.post(f"{standin.url}/_standin/faults", json={"script": ["417"]}, timeout=5)
    assert bad.status_code == 400
    assert "unsupported fault status" in bad.json()["description"]
    assert requests.post(f"{standin.url}/_standin/age", json={}, timeout=5).status_code == 400
    assert requests.get(f"{standin.url}/_standin/nope", timeout=5).status_code == 404


@pytest.mark.parametrize("word", ["429:x", "drop:1", "200", "cut:2", "delay", ""])
def test_fault_words_are_checked(word: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        parse_fault(word)


def test_multipart_parses_what_requests_toolbelt_sends(tmp_path: Path) -> None:
    payload = b"\r\n--not-the-boundary\r\n" + bytes(range(256)) * 10
    encoder = MultipartEncoder(
        fields={
            "chat_id": "-100",
            "caption": "naïve café",
            "document": ("dump.zst", payload, "x/y"),
        }
    )
    body = encoder.to_string()
    form = _parse(body, multipart.boundary_of(encoder.content_type), tmp_path)
    assert form.fields == {"chat_id": "-100", "caption": "naïve café"}
    assert form.document is not None
    assert form.document.filename == "dump.zst"
    assert form.document.content_type == "x/y"
    assert form.document.path.read_bytes() == payload
    assert form.document.size == len(payload)
    assert form.document.sha256 == hashlib.sha256(payload).hexdigest()


def _parse(body: bytes, boundary: bytes, spool: Path, limit: int = 1 << 30) -> multipart.Form:
    # Small reads: boundaries fall across chunk edges, as they do on a socket.
    with mock.patch.object(multipart, "CHUNK", 7):
        return multipart.parse(io.BytesIO(body), len(body), boundary, spool, file_limit=limit)


def test_multipart_counts_but_does_not_keep_a_document_over_the_limit(tmp_path: Path) -> None:
    encoder = MultipartEncoder(fields={"chat_id": "1", "document": ("d", bytes(1000), "x/y")})
    form = _parse(encoder.to_string(), multipart.boundary_of(encoder.content_type), tmp_path, 999)
    assert form.document is not None
    assert form.document.size == 1000
    assert list(tmp_path.iterdir()) == []


def test_multipart_reads_quoted_boundaries_and_rfc5987_names(tmp_path: Path) -> None:
    body = (
        b'--a b\r\nContent-Disposition: form-data; name="document"; '
        b"filename*=utf-8''r%C3%A9sum%C3%A9.bin\r\n\r\nDATA\r\n--a b--\r\n"
    )
    form = _parse(body, multipart.boundary_of('multipart/form-data; boundary="a b"'), tmp_path)
    assert form.document is not None
    assert (form.document.filename, form.document.path.read_bytes()) == ("résumé.bin", b"DATA")


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary here",
        b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nunterminated",
        b"--b\r\nBroken header\r\n\r\nx\r\n--b--",
        b"--b\r\nContent-Disposition: attachment\r\n\r\nx\r\n--b--",
        b"--bXX",
    ],
)
def test_multipart_refuses_malformed_bodies(body: bytes, tmp_path: Path) -> None:
    with pytest.raises(multipart.MultipartError):
        _parse(body, b"b", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_upload_is_a_bad_request(standin: BotApiStandin) -> None:
    answer = requests.post(
        f"{standin.url}/bot{TOKEN}/sendDocument",
        data=b"--b\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["description"].startswith("Bad Request: can't parse request")
