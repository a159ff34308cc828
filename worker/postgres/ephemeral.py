"""A login role per restore job that holds a project owner's rights and nothing more.

pg_restore runs the code a project's owner put in their database (CHECKs, generated columns,
index expressions, matview queries...). `pg_restore --role` alone is no boundary: SET ROLE can
be undone by any code in the session, so the session's own user must be no more than the owner.
Each restore or drill job therefore gets `bw_restore_<job8>`: LOGIN, no attribute that grants
anything, a random password that reaches pg_restore through PGPASSWORD only (the server gets its
SCRAM verifier, never the password), VALID UNTIL a bounded time, a member of the project's owner
role only (a drill: of no role; its scratch database is its own). It is dropped when the job
ends; a worker killed mid-job leaves it to `sweep`, which the next restore on that server runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterator

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import encrypt_password, make_dsn

from worker import errors
from worker.postgres import source, target

log = logging.getLogger(__name__)

PREFIX = "bw_restore_"
PATTERN = f"^{PREFIX}[0-9a-f]{{8}}$"
VALID_FOR = dt.timedelta(hours=24)  # new logins only: a running session is not cut off
CONNECTIONS = 64  # pg_restore --jobs plus its leader, with room to spare
_COMMENT = "backup-worker restore job "
_JOB = re.compile(re.escape(_COMMENT) + r"([0-9a-f-]{36})$")

_CREATE = (
    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
    "INHERIT CONNECTION LIMIT {} PASSWORD %s VALID UNTIL %s"
)
# Every database where the role owns something or holds a privilege (pg_shdepend), by name:
# renames (a switch) do not hide one.
_DATABASES = """
SELECT DISTINCT d.datname, pg_get_userbyid(d.datdba) FROM pg_shdepend s
JOIN pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = to_regrole(%s)
"""
_LEFTOVERS = """
SELECT r.rolname, shobj_description(r.oid, 'pg_authid'),
       coalesce(r.rolvaliduntil < now(), true),
       EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usename = r.rolname)
FROM pg_roles r WHERE r.rolname ~ %s ORDER BY 1
"""


@dataclasses.dataclass(frozen=True)
class Role:
    """A job's role: its name, and the server's parameters that log in as it."""

    name: str
    params: source.SourceParams = dataclasses.field(repr=False)


def name_of(job_id: uuid.UUID) -> str:
    """The role of the restore job `job_id`."""
    return f"{PREFIX}{job_id.hex[:8]}"


def role_exists(params: source.SourceParams, role: str) -> bool:
    """Whether the server has the role."""
    return bool(target.execute(params, None, "SELECT 1 FROM pg_roles WHERE rolname = %s", role))


def current_user(params: source.SourceParams) -> str:
    """The role the URL logs in as."""
    rows = target.execute(params, None, "SELECT current_user")
    return str(rows[0][0])


def is_superuser(params: source.SourceParams, role: str | None = None) -> bool:
    """Whether `role` (default: the URL's own user) is a superuser."""
    rows = target.execute(
        params,
        None,
        "SELECT rolsuper FROM pg_roles WHERE rolname = coalesce(%s, current_user)",
        role,
    )
    return bool(rows and rows[0][0])


@contextlib.contextmanager
def holding(
    params: source.SourceParams, job_id: uuid.UUID, member_of: str | None
) -> Iterator[Role]:
    """The job's role for the block, created first (replacing one an earlier attempt left)
    and dropped after it, whatever happens; a failed drop is left to `sweep`. When the owner
    is the URL's own user, that user: it has the owner's rights already."""
    if member_of is not None and member_of == current_user(params):
        yield Role(member_of, params)
        return
    role = create(params, job_id, member_of)
    try:
        yield role
    finally:
        try:
            drop(params, role.name)
        except errors.BackupWorkerError as exc:
            log.error(
                "could not drop role %s (the next restore retries): %s", role.name, exc.message
            )


def create(params: source.SourceParams, job_id: uuid.UUID, member_of: str | None) -> Role:
    """Create the job's role, a member of `member_of` (the project's owner) if given."""
    name = name_of(job_id)
    try:
        drop(params, name)  # a redelivered job's earlier attempt
    except errors.RestoreError as exc:
        raise errors.RestoreError(_cannot(params, name, exc.message)) from None
    password = secrets.token_urlsafe(32)
    until = (dt.datetime.now(dt.UTC) + VALID_FOR).isoformat()
    ident = sql.Identifier(name)
    try:
        with contextlib.closing(_connect(params)) as conn, conn.cursor() as cur:
            verifier = encrypt_password(password, name, conn, "scram-sha-256")
            cur.execute(sql.SQL(_CREATE).format(ident, sql.Literal(CONNECTIONS)), (verifier, until))
            cur.execute(sql.SQL("COMMENT ON ROLE {} IS %s").format(ident), (f"{_COMMENT}{job_id}",))
            cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cur.fetchone()
            if not (row and row[0]):
                # To create a database the role owns, and drop it: membership, not more.
                cur.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(ident))
            if member_of is not None:
                cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(member_of), ident))
    except psycopg2.Error as exc:
        with contextlib.suppress(errors.BackupWorkerError):
            drop(params, name)
        raise errors.RestoreError(
            _cannot(params, name, source.describe_libpq_error(params, str(exc)))
        ) from None
    values = dict(params.options)
    values["user"] = name
    logs_in = dataclasses.replace(params, options=tuple(sorted(values.items())), password=password)
    return Role(name, logs_in)


def _cannot(params: source.SourceParams, name: str, reason: str) -> str:
    return (
        f"cannot create the restore role {name} on {params.described}: {reason} (the user of "
        f"{params.origin} needs CREATEROLE, and the right to grant the project owner's role: "
        "backup-worker roles sql)"
    )


def drop(params: source.SourceParams, name: str) -> None:
    """End the role's sessions, hand what it owns in each database to that database's owner,
    revoke what it holds, drop it; nothing when it does not exist. RestoreError if it cannot."""
    if not re.fullmatch(PATTERN, name):
        raise ValueError(f"not a restore role: {name!r}")
    ident = sql.Identifier(name)
    target.execute(
        params,
        None,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
        name,
    )
    for database, owner in target.execute(params, None, _DATABASES, name):
        statements = [sql.SQL("DROP OWNED BY {}").format(ident)]
        if owner != name:
            # Anything it owns was made by code that undid pg_restore's SET ROLE: the owner's.
            reassign = sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                ident, sql.Identifier(str(owner))
            )
            statements.insert(0, reassign)
        for statement in statements:
            target.execute(params, str(database), statement)
    target.execute(params, None, sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def sweep(params: source.SourceParams, finished: Callable[[uuid.UUID], bool | None]) -> list[str]:
    """Drop the restore roles that workers killed mid-job left: those no session uses whose job
    `finished` says ended (True), or, for a job it does not know (None: another deployment's),
    whose VALID UNTIL has passed. The names dropped; errors are logged, not raised."""
    dropped: list[str] = []
    for name, comment, expired, busy in target.execute(params, None, _LEFTOVERS, PATTERN):
        match = _JOB.match(str(comment or ""))
        done = finished(uuid.UUID(match.group(1))) if match else None
        if busy or done is False or (done is None and not expired):
            continue
        try:
            drop(params, str(name))
        except errors.BackupWorkerError as exc:
            log.error("could not drop the leftover role %s: %s", name, exc.message)
            continue
        log.warning("dropped the restore role %s on %s, left by a job", name, params.server)
        dropped.append(str(name))
    return dropped


def _connect(params: source.SourceParams) -> psycopg2.extensions.connection:
    timeout = params.get("connect_timeout") or target.CONNECT_TIMEOUT
    dsn = make_dsn(
        params.conninfo(None),
        connect_timeout=timeout,
        options=source.SAFE_OPTIONS,
        **params.password_kw(),
    )
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn
