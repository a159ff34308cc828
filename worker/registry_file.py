"""Registry files: TOML documents of named tables of one kind, as SOURCE_SERVERS_FILE
(`[servers.NAME]`) and TELEGRAM_REPOSITORIES_FILE (`[repositories.NAME]`) are.

The checks both share live here once: the file read and parsed, no other top-level key, at
least one table, each name plain and each key known. What a table's values mean is its
reader's (worker.postgres.servers, worker.telegram.repositories).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from worker import errors

# Names travel in task messages, Redis keys, CLI flags and columns: keep them plain.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def name_rule(noun: str) -> str:
    """What a good name is, for messages."""
    return (
        f'{noun} names are 1 to 63 lower-case letters, digits, "_" and "-", starting with a letter'
    )


@dataclass(frozen=True)
class Kind:
    """One kind of registry file: its setting, its tables' key, what a table holds."""

    setting: str  # the variable naming the file, e.g. SOURCE_SERVERS_FILE
    key: str  # the top-level key, e.g. "servers" for [servers.NAME]
    noun: str  # one entry, e.g. "server"
    keys: Collection[str]  # the keys a table may have
    shape: str  # what a table must look like, for messages: "a table with url = ..."


def read(path: Path, kind: Kind) -> dict[str, dict[str, object]]:
    """Each table of `path` by name, checked; ConfigError naming the file, table and key."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise errors.ConfigError(
            f"{kind.setting}: cannot read {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message gives line and column, never the text (which may hold a secret).
        raise errors.ConfigError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {kind.key})
    if extra:
        raise errors.ConfigError(
            f"{path}: unknown top-level key(s) {', '.join(extra)}: only [{kind.key}.NAME] tables"
        )
    tables = document.get(kind.key, {})
    if not isinstance(tables, dict) or not tables:
        raise errors.ConfigError(f"{path}: no [{kind.key}.NAME] table")
    return {name: _table(path, kind, name, table) for name, table in tables.items()}


def _table(path: Path, kind: Kind, name: str, table: object) -> dict[str, object]:
    where = f"{path}: [{kind.key}.{name}]"
    if not NAME.fullmatch(name):
        raise errors.ConfigError(f"{where}: bad {kind.noun} name: {name_rule(kind.noun)}")
    if not isinstance(table, dict):
        raise errors.ConfigError(f"{where}: must be {kind.shape}")
    unknown = sorted(set(table) - set(kind.keys))
    if unknown:
        raise errors.ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}: allowed are "
            + ", ".join(sorted(kind.keys))
        )
    return table
