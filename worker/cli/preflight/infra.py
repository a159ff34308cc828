"""Checks of this host's services and settings: the broker, the control plane and its
migrations, encryption, the catalog's key and the spool."""

from __future__ import annotations

import math
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from worker import errors, redact, redisconn, settings
from worker.cli.preflight import Verdict, fail, ok, warn
from worker.jobs import spool

MIGRATE = "run `backup-worker migrate`"
SPOOL_PARTS = 2  # free space below this many parts (BACKUP_PART_SIZE) is a warning


def where(url: str) -> str:
    """scheme://host:port/path of a URL, for a line: never its user or password."""
    first, _, rest = url.partition(";")  # kombu's failover lists: sentinel://a;sentinel://b
    if rest.strip():
        return where(first) + f" (and {len([u for u in rest.split(';') if u.strip()])} more)"
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def broker(
    url: str,
    timeout: float,
    check: str = "broker",
    setting: str = "CELERY_BROKER_URL",
    master: str | None = None,
) -> list[Verdict]:
    """`setting` (the broker, or another Redis the fleet uses) accepts a connection (Redis,
    Redis through Sentinel with the primary `master`, or RabbitMQ, through kombu)."""
    import kombu
    import kombu.exceptions

    shown = where(url)
    # Every read bounded too: a port that accepts and never answers must not hang the check
    # (Redis: socket_timeout; RabbitMQ through py-amqp: read_timeout and write_timeout).
    limits = ("socket_timeout", "socket_connect_timeout", "read_timeout", "write_timeout")
    options: dict[str, object] = dict.fromkeys(limits, timeout)
    options.update(redisconn.transport_options(url, master))
    connection = kombu.Connection(url, connect_timeout=timeout, transport_options=options)
    # kombu re-raises its transports' connection errors as OperationalError; the rest, in case.
    down: tuple[type[BaseException], ...] = (
        kombu.exceptions.KombuError,
        OSError,
        *connection.connection_errors,
    )
    try:
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=math.ceil(timeout)
        )
    except down as exc:
        reason = redact.redact(str(exc), url).splitlines()[0] if str(exc) else type(exc).__name__
        return [
            fail(
                check,
                f"cannot connect to {shown}: {reason}",
                f"is it running, and is {setting} right?",
            )
        ]
    finally:
        connection.release()
    return [ok(check, f"{shown} answers")]


def other_redis(config: settings.Settings) -> list[tuple[str, str, str]]:
    """(check, setting, URL) of the Redis servers besides the broker the fleet needs: the
    result backend and the pacer's, when they are set apart from it."""
    found = []
    backend = config.celery_result_backend
    if backend != config.celery_broker_url and redisconn.is_redis(backend):
        found.append(("result backend", "CELERY_RESULT_BACKEND", backend))
    pacer = config.pacer_redis_url
    if pacer is not None and pacer.get_secret_value() != config.celery_broker_url:
        found.append(("pacer", "PACER_REDIS_URL", pacer.get_secret_value()))
    return found


def control_plane(url: str, timeout: float) -> list[Verdict]:
    """DATABASE_URL answers and its schema is at the migrations' head."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError
    from sqlalchemy import create_engine, exc, pool
    from sqlalchemy.engine import make_url

    from db import migrate, models

    shown = where(url)
    try:
        parsed = make_url(url)
    except exc.ArgumentError:  # its text holds the URL
        return [fail("control plane", "DATABASE_URL is not a valid database URL")]
    postgres = parsed.get_backend_name() == "postgresql"
    connect = {"connect_timeout": max(2, round(timeout))} if postgres else {}
    engine = create_engine(parsed, poolclass=pool.NullPool, connect_args=connect)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table_schema": models.SCHEMA}
            )
            current = context.get_current_revision()
    except exc.SQLAlchemyError as error:
        reason = getattr(error, "orig", None) or error  # the driver's words, not the statement
        text = redact.redact(str(reason), url).strip().splitlines()
        return [
            fail(
                "control plane",
                f"cannot connect to {shown}: {text[0] if text else type(error).__name__}",
                "is PostgreSQL running, and is DATABASE_URL right?",
            )
        ]
    finally:
        engine.dispose()
    scripts = ScriptDirectory.from_config(migrate.config(""))

    def known(name: str) -> bool:
        try:
            return scripts.get_revision(name) is not None
        except (RevisionError, CommandError):  # not one of ours
            return False

    return [revision("control plane", shown, current, scripts.get_current_head(), known)]


def revision(
    check: str, shown: str, current: str | None, head: str | None, known: Callable[[str], bool]
) -> Verdict:
    """The verdict on a database at `current` when the code's newest migration is `head`;
    `known` tells whether the code has a revision (an older one) or not (a newer worker's)."""
    if current is None:
        return fail(check, f"{shown} is not migrated (no revision recorded)", MIGRATE)
    if current == head:
        return ok(check, f"{shown} at revision {current} (head)")
    if not known(current):
        return fail(
            check,
            f"{shown} is at revision {current}, which this version does not know",
            "a newer backup-worker migrated it: upgrade this one",
        )
    return fail(check, f"{shown} is at revision {current}, the code needs {head}", MIGRATE)


def encryption(config: settings.Settings) -> list[Verdict]:
    """Backups encrypted (BACKUP_ENCRYPTION=age with recipients), or explicitly not (off), and
    the identity file readable if set."""
    found: list[Verdict] = []
    recipients = len(config.backup_age_recipients)
    if config.encryption_missing is not None:
        found.append(
            fail(
                "encryption",
                "BACKUP_AGE_RECIPIENTS is not set: the worker refuses to start",
                settings.ENCRYPTION_FIX,
            )
        )
    elif config.backup_encryption == "off":
        found.append(
            warn(
                "encryption",
                "BACKUP_ENCRYPTION=off: backups go to Telegram unencrypted",
                "set BACKUP_AGE_RECIPIENTS to an age public key (age1...) and drop "
                "BACKUP_ENCRYPTION=off",
            )
        )
    else:
        found.append(ok("encryption", f"backups are encrypted to {recipients} age recipient(s)"))
    identity = config.backup_age_identity_file
    if identity is not None and not os.access(identity, os.R_OK):
        found.append(
            fail(
                "encryption",
                f"BACKUP_AGE_IDENTITY_FILE={identity} cannot be read: restores cannot decrypt",
                "check the path and that the worker's user may read it",
            )
        )
    return found


def catalog_key(config: settings.Settings) -> list[Verdict]:
    """CATALOG_KEY set: without it no catalog is published (an unsigned one could be forged)."""
    if config.catalog_keys:
        return [ok("catalog key", "CATALOG_KEY is set: the catalog is signed and published")]
    return [
        warn(
            "catalog key",
            "CATALOG_KEY is not set: no catalog of the backups is published in the chats",
            "set CATALOG_KEY to a long random secret (e.g. `openssl rand -hex 32`)",
        )
    ]


def spool_dir(root: Path, part_size: int) -> list[Verdict]:
    """BACKUP_SPOOL_DIR private (as the worker's start requires) with room for parts."""
    named = f"BACKUP_SPOOL_DIR={root}"
    try:
        found = root.lstat()
    except FileNotFoundError:
        return [_missing(root, named)]
    except OSError as exc:
        return [fail("spool", f"{named} cannot be read: {exc.strerror}")]
    try:
        spool.refuse_unsafe(root, found)
    except errors.ConfigError as exc:
        return [fail("spool", exc.message)]
    except OSError as exc:
        return [fail("spool", f"{named}: {exc.strerror}")]
    verdicts = []
    if stat.S_IMODE(found.st_mode) & 0o077:
        verdicts.append(
            warn("spool", f"{named} is readable by others", f"chmod 700 {root} (the worker does)")
        )
    return [*verdicts, space(root, named, shutil.disk_usage(root).free, part_size)]


def space(root: Path, named: str, free: int, part_size: int) -> Verdict:
    """The verdict on `free` bytes in the spool, against BACKUP_PART_SIZE."""
    shown = f"{free / 1e9:.1f} GB free in {root}"
    if free < SPOOL_PARTS * part_size:
        return warn(
            "spool",
            f"{shown}, less than {SPOOL_PARTS} parts of BACKUP_PART_SIZE={part_size}",
            "free space there, or choose another BACKUP_SPOOL_DIR",
        )
    return ok("spool", f"{named} is private; {shown}")


def _missing(root: Path, named: str) -> Verdict:
    # The worker creates the spool at start (0700): only a parent it cannot write to is a failure.
    parent = next((p for p in root.absolute().parents if p.exists()), Path("/"))
    if os.access(parent, os.W_OK | os.X_OK):
        return warn(
            "spool",
            f"{named} does not exist yet: the worker creates it (0700) when it starts",
            f"or create it now: install -d -m 700 {root}",
        )
    return fail(
        "spool",
        f"{named} does not exist and {parent} is not writable: the worker cannot create it",
        f"create it as the worker's user: install -d -m 700 {root}",
    )
