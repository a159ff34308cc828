"""Alerts: a short Telegram message when a project's backups need an operator.

A project is unhealthy when its latest backup job failed (a job ends failed only after its
last attempt), when one of its schedules has had no successful backup for twice the
schedule's period, when one of its active backups failed verification (a part gone from
Telegram or damaged; until it verifies again or expires), or when its latest restore drill
failed (until a later drill passes).
Each incident is sent once to TELEGRAM_ALERT_CHAT_ID (default: the backup chat); the state
lives in control_plane.backup_alerts, so restarts and several checkers at once do not repeat it.
The incident closes by itself once the project is healthy again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from db import schedule_models
from db.queries import alerts as db_alerts
from db.queries import drills as db_drills
from db.queries import schedules as db_schedules
from worker import errors
from worker.jobs.runtime import Runtime
from worker.scheduling import spec as schedule_spec

log = logging.getLogger(__name__)

ERROR_PREVIEW = 300  # characters of a job's error quoted in an alert
PREFIX = "backup-worker alert: "


@dataclass
class AlertResult:
    """What one check did."""

    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"opened": self.opened, "resolved": self.resolved, "sent": self.sent}


def _preview(text: str | None) -> str:
    text = " ".join((text or "no error recorded").split())
    return text if len(text) <= ERROR_PREVIEW else text[: ERROR_PREVIEW - 1] + "…"


def _ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "never"
    hours = (now - moment).total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def findings(rt: Runtime) -> dict[str, db_alerts.Finding]:
    """Every unhealthy project, with the first reason found."""
    found: dict[str, db_alerts.Finding] = {}
    with rt.database.transaction() as session:
        now = db_schedules.db_now(session)
        for project, database, error in db_alerts.failing_projects(session):
            what = f"{project} ({database})" if database else project
            found[project] = db_alerts.Finding(
                project,
                schedule_models.AlertKind.FAILED.value,
                f"the last backup of {what} failed: {_preview(error)}",
            )
        for row, last in db_alerts.overdue_schedules(session):
            # A schedule of every database has no project of its own: its incidents are filed
            # under "*@<server>", which no project id can be.
            every = row.database == schedule_models.ALL
            key = f"{schedule_models.ALL}@{row.server}" if every else row.project_id
            if key in found:
                continue
            when = schedule_spec.when_of(row).describe()
            what = (
                f"any database of server {row.server}"
                if every
                else f"{row.project_id} ({row.database})"
            )
            found[key] = db_alerts.Finding(
                key,
                schedule_models.AlertKind.OVERDUE.value,
                f"no successful backup of {what} for twice its"
                f" schedule's period; last one {_ago(last, now)}, schedule {when}",
            )
        for project, backup_id, database, error in db_alerts.failed_verifications(session):
            if project in found:
                continue
            found[project] = db_alerts.Finding(
                project,
                schedule_models.AlertKind.VERIFY.value,
                f"backup {backup_id} of {project} ({database}) failed verification:"
                f" {_preview(error)}",
            )
        for drill in db_drills.failing(session):
            if drill.project_id in found:
                continue
            found[drill.project_id] = db_alerts.Finding(
                drill.project_id,
                schedule_models.AlertKind.DRILL.value,
                f"the restore drill of backup {drill.backup_id} of {drill.project_id}"
                f" ({drill.database}) failed: {_preview(drill.detail)}",
            )
    return found


def check(rt: Runtime) -> AlertResult:
    """Open and close incidents, then send every incident not sent yet."""
    result = AlertResult()
    found = findings(rt)
    with rt.database.transaction() as session:
        result.resolved = db_alerts.resolve_healthy(session, found)
        result.opened = db_alerts.open_incidents(session, found)
    chat_id = rt.settings.alert_chat_id
    if chat_id is None or rt.settings.telegram_bot_token is None:
        if result.opened:
            log.warning(
                "alerts: no Telegram chat configured; %d incident(s) kept unsent",
                len(result.opened),
            )
        return result
    with rt.database.transaction() as session:
        pending = db_alerts.claim_unnotified(session)
    # The backup chat's forum topic applies to alerts only when they go to that chat.
    chats = rt.settings.telegram_chat_ids
    thread_id = rt.settings.telegram_thread_id if chat_id in chats else None
    sender = rt.sender()  # paced like the parts: an alert shares the chat's budget
    for alert in pending:
        try:
            sender.send_message(chat_id, PREFIX + alert.detail, thread_id=thread_id)
        except errors.TelegramError as exc:
            log.error("alerts: could not alert about %s: %s", alert.project_id, exc.message)
            with rt.database.transaction() as session:
                db_alerts.unclaim(session, alert.id)
            continue
        result.sent.append(alert.project_id)
        log.warning("alerts: %s", alert.detail)
    return result
