"""Which databases a project's restore may go into (docs/restore.md, "Which targets a project
may restore into").

A restore goes into one of:
- the backup's own database on the backup's own server (a replace's default);
- a database of the backup's own name on another server, where it does not exist yet (a
  project moved to another server keeps its name);
- a database that does not exist yet, whose name RESTORE_TARGET_NAMES allows: comma-separated
  shell patterns where `{database}` is the backup's database and `{project}` its project
  (default `{database}_*`);
- an existing database that a completed restore of the same project created (its jobs row
  says the target was new when it was accepted): the control plane knows, the database's
  name or owner would not tell.
Any other existing database belongs to someone else, whatever `clean` says. Drills go into the
scratch database their own pending row names (worker.restore.job.check_drill).
"""

from __future__ import annotations

import fnmatch
import re
import uuid

from db import models
from db.queries import scope as db_scope
from worker import errors
from worker.contract import tasks
from worker.jobs.runtime import Runtime
from worker.postgres import target
from worker.restore import job as rj

_PLACEHOLDER = re.compile(r"\{(database|project)\}")


def patterns(setting: str, backup: models.Backup) -> list[str]:
    """RESTORE_TARGET_NAMES for this backup, placeholders filled in."""
    # The names are matched literally: a database called `a*` or `[x]` (legal names) must
    # not turn the pattern into one that allows other databases.
    # One pass, so that a database called `{project}` stays itself.
    values = {"database": _literal(backup.database or ""), "project": _literal(backup.project_id)}
    return [
        _PLACEHOLDER.sub(lambda found: values[found.group(1)], item.strip())
        for item in setting.split(",")
        if item.strip()
    ]


def _literal(name: str) -> str:
    """`name` as an fnmatch pattern that matches only itself."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


def name_allowed(setting: str, name: str, backup: models.Backup) -> bool:
    """Whether a new database `name` is one RESTORE_TARGET_NAMES lets this backup create."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns(setting, backup))


def check(rt: Runtime, req: rj.RestoreRequest, backup: models.Backup, job_id: uuid.UUID) -> bool:
    """InputError unless the project of `backup` may restore into the request's target; True
    when the target is new (this job creates it), False when it exists."""
    if req.mode == tasks.MODE_DRILL:
        return False  # its name comes from the control plane's own row (check_drill)
    server = rj.server_of(rt, req, backup)
    name = req.target_database or backup.database
    assert name is not None  # load_backup() refuses a backup without a database
    if name == backup.database and server.name == backup.server:
        return False
    setting = rt.settings.restore_target_names
    where = f"database {name} on server {server.name}"
    if not target.exists(server.params(), name):
        if name == backup.database or name_allowed(setting, name, backup):
            return True
        allowed = ", ".join(patterns(setting, backup)) or "none"
        raise errors.InputError(
            f"{where} is not a restore target of project {backup.project_id}: a new database "
            f"must be named as RESTORE_TARGET_NAMES allows ({allowed})"
        )
    with rt.database.transaction() as session:
        created = db_scope.created_by_project(
            session, project_id=backup.project_id, server=server.name, database=name, job_id=job_id
        )
    if not created:
        raise errors.InputError(
            f"{where} is not a restore target of project {backup.project_id}: it exists, and "
            "only the backup's own database or one an earlier restore of this project created "
            "may be restored into; restore into a new database"
        )
    return False
