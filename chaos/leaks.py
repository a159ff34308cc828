"""Scan every place a secret could land: Redis, the tables, worker logs, Flower's answers."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import redis
import requests

TABLES = ("jobs", "backups", "backup_parts")
FLOWER_PATHS = ("/api/workers", "/api/tasks", "/api/task/types", "/metrics", "/api/queues/length")


@dataclass(frozen=True)
class Finding:
    """A secret found somewhere it must not be."""

    secret: str
    where: str


def _texts_of(raw: bytes | str) -> list[str]:
    """The value as text, plus any base64 message body it carries, decoded."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    found = [text]
    try:
        message = json.loads(text)
    except ValueError:
        return found
    if isinstance(message, list) and message:
        message = message[0] if isinstance(message[0], str) else message
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return found
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        with contextlib.suppress(binascii.Error, ValueError):
            found.append(base64.b64decode(message["body"]).decode("utf-8", "replace"))
    return found


def redis_texts(host: str, port: int, dbs: Iterable[int]) -> Iterable[tuple[str, str]]:
    """(where, text) for every key and value of the given Redis databases."""
    for db in dbs:
        client = redis.Redis(host=host, port=port, db=db)
        try:
            for key in client.scan_iter(count=500):
                kind = _texts_of(client.type(key))[0]
                values: list[bytes | str] = [key]
                if kind == "string":
                    values.append(client.get(key) or b"")
                elif kind == "list":
                    values += client.lrange(key, 0, -1)
                elif kind == "hash":
                    for field, value in client.hgetall(key).items():
                        values += [field, value]
                elif kind == "set":
                    values += list(client.smembers(key))
                elif kind == "zset":
                    values += [str(member) for member in client.zrange(key, 0, -1)]
                where = f"redis db {db} key {_texts_of(key)[0][:80]}"
                for value in values:
                    for text in _texts_of(value):
                        yield where, text
        finally:
            client.close()


def table_texts(dsn: str) -> Iterable[tuple[str, str]]:
    """(where, text) for every row of the control-plane tables, as JSON."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"SELECT row_to_json(t)::text FROM control_plane.{table} t")
                for (row,) in cur.fetchall():
                    yield f"table {table}", str(row)
    finally:
        conn.close()


def log_texts(paths: Iterable[Path]) -> Iterable[tuple[str, str]]:
    for path in paths:
        yield f"log {path.name}", path.read_text(errors="replace")


def flower_texts(url: str, auth: tuple[str, str]) -> Iterable[tuple[str, str]]:
    """Flower's API answers, and each task's detail page."""
    tasks: dict[str, object] = {}
    for path in FLOWER_PATHS:
        answer = requests.get(url + path, auth=auth, timeout=30)
        yield f"flower {path} ({answer.status_code})", answer.text
        if path == "/api/tasks" and answer.ok:
            tasks = answer.json()
    for task_id in list(tasks)[:200]:
        answer = requests.get(f"{url}/api/task/info/{task_id}", auth=auth, timeout=30)
        yield f"flower /api/task/info/{task_id}", answer.text


def scan(
    secrets: Mapping[str, str], sources: Iterable[tuple[str, str]]
) -> tuple[int, list[Finding]]:
    """How many texts were read, and every (secret, place) found; `secrets` maps name to value."""
    wanted = {name: value for name, value in secrets.items() if value}
    findings: dict[tuple[str, str], Finding] = {}
    count = 0
    for where, text in sources:
        count += 1
        for name, value in wanted.items():
            if value in text:
                findings.setdefault((name, where), Finding(name, where))
    return count, list(findings.values())
