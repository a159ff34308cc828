"""Least-privilege roles for a deployment: the SQL that creates them (`backup-worker roles
sql`), and whether a server's URL connects as a superuser (the warning at worker start).

The worker uses one URL per server for every duty there (SOURCE_DATABASE_URL, the registry's
entries), so the SQL makes one role per kind of server: one for the servers whose databases
are backed up and restored, one for a scratch server that only takes drills (DRILL_SERVER).
Why each line is needed is said next to it; docs/servers.md has the same text.
"""

from __future__ import annotations

import contextlib
import re

import psycopg2
from psycopg2.extensions import make_dsn

from worker import errors
from worker.postgres import source

DEFAULT_ROLE = "backup_worker"
DEFAULT_DRILL_ROLE = "backup_worker_drills"
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # no quoting needed in the SQL printed

_SERVER = """\
-- backup-worker: least-privilege roles (PostgreSQL 15 and newer). Run as a superuser on each
-- server, set the password, and put the role in that server's URL (SOURCE_DATABASE_URL or the
-- registry entry). The worker creates a login role per restore job, bw_restore_<job8>, that
-- holds the project owner's rights only: pg_hba.conf must let those roles in from the worker
-- hosts with a password (scram-sha-256), e.g. `host all all <worker-net> scram-sha-256`.

-- Backups (pg_dump and the row counts): every table's rows, row-level security skipped (pg_dump
-- sets row_security off, and a policy that applies is then an error: BYPASSRLS, which only a
-- superuser can grant). pg_read_all_data does not cover large objects on PostgreSQL 15: the
-- membership in each owner below does.
CREATE ROLE {role} LOGIN PASSWORD 'change-me' BYPASSRLS;
GRANT pg_read_all_data TO {role};

-- Restores: CREATEDB for the new, staging and undo databases; CREATEROLE for the per-job roles
-- (created, granted the owner's role, dropped); pg_signal_backend to end the sessions on a
-- project's database before a replace switches it.
ALTER ROLE {role} CREATEDB CREATEROLE;
GRANT pg_signal_backend TO {role};

-- For each project's owner role: the restore role grants it to the job's role (ADMIN OPTION,
-- which PostgreSQL 16 requires: its CREATEROLE reaches only roles it made or administers) and
-- creates and drops databases that role owns (membership, with SET on PostgreSQL 16).
-- On PostgreSQL 15, CREATEROLE alone may grant any role that is no superuser, pg_read_server_files
-- and pg_execute_server_program included: there the restore role is as trusted as a superuser,
-- keep its password as you would one. PostgreSQL 16 removed that.
GRANT {owner} TO {role} WITH ADMIN OPTION;
"""

_DRILLS = """
-- A scratch server for drills only (DRILL_SERVER): the drill's job role owns the scratch
-- database, so no owner's role is needed; BYPASSRLS for the row counts of tables with
-- row-level security.
CREATE ROLE {drills} LOGIN PASSWORD 'change-me' CREATEDB CREATEROLE BYPASSRLS;
"""


def setup_sql(
    role: str = DEFAULT_ROLE, owners: tuple[str, ...] = (), drills: str | None = None
) -> str:
    """The SQL that creates the worker's role (and the drill server's, with `drills`)."""
    names = [validate_role(name) for name in (role, *owners)]
    text = _SERVER.format(role=names[0], owner="<project_owner>")
    if owners:
        grants = "".join(f"GRANT {owner} TO {names[0]} WITH ADMIN OPTION;\n" for owner in names[1:])
        text = text.replace(f"GRANT <project_owner> TO {names[0]} WITH ADMIN OPTION;\n", grants)
    if drills is not None:
        text += _DRILLS.format(drills=validate_role(drills))
    return text


def validate_role(name: str) -> str:
    """`name` if it is a role name SQL takes unquoted; InputError otherwise."""
    if not _ROLE.fullmatch(name):
        raise errors.InputError(
            f"role name {name[:64]!r}: 1 to 63 lower-case letters, digits and _, not starting "
            "with a digit"
        )
    return name


def superuser_name(params: source.SourceParams) -> str | None:
    """The URL's user when it is a superuser; None when it is not, or the server cannot say."""
    timeout = params.get("connect_timeout") or str(source.DEFAULT_CONNECT_TIMEOUT)
    dsn = make_dsn(
        params.conninfo(None),
        connect_timeout=timeout,
        options=source.SAFE_OPTIONS,
        **params.password_kw(),
    )
    try:
        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cur.fetchone()
    except psycopg2.Error:
        return None  # unreachable now: the jobs that need it will say so
    return str(row[0]) if row and row[1] else None
