"""What the chaos run left in the chats, and what the stand-in saw of the bots and chats.

- `alert`: beat's alerts.check, sent twice: the backup whose part was forgotten must be
  alerted about exactly once (one alert per incident).
- `leftovers`: the orphan sweep with a grace of 0 (every job has ended), then every message
  still in a chat that no backup holds: each would stay in Telegram for ever.
- `count_requests`: sendDocument per bot and chat, 429s from the limits and from the faults.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from sqlalchemy import text

from worker import settings
from worker.contract import tasks
from worker.jobs import runtime
from worker.scheduling import alerts, orphans

if TYPE_CHECKING:
    from chaos.harness import Run

ALERT_WAIT = 60.0  # seconds for the alert to reach the chat
SWEEPS = 5  # orphan sweeps at most, BATCH messages each


def _alert_texts(run: Run, needle: str) -> list[str]:
    return [
        str(m["text"])
        for m in run.stack.standin.messages()
        if m.get("text") and str(m["text"]).startswith(alerts.PREFIX) and needle in str(m["text"])
    ]


def alert(run: Run) -> None:
    """Send alerts.check twice and count the alerts about the sabotaged backup."""
    backup_id = run.report.sabotaged
    if not backup_id:
        return
    deadline = time.monotonic() + ALERT_WAIT
    run.stack.publisher.send(tasks.CheckAlerts(), expires=60)
    while not _alert_texts(run, backup_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    run.stack.publisher.send(tasks.CheckAlerts(), expires=60)  # the same incident: no new alert
    time.sleep(5)
    run.report.sabotage_alerts = len(_alert_texts(run, backup_id))


def _runtime(run: Run) -> runtime.Runtime:
    stack = run.stack
    config = settings.Settings(
        _env_file=None,
        database_url=stack.control_url,
        celery_broker_url=stack.broker_url,
        telegram_bot_token=stack.token,
        telegram_chat_id=stack.chat,
        telegram_api_url=stack.standin.url,
    )
    return runtime.Runtime(settings=config, database=stack.database)


def leftovers(run: Run) -> None:
    """Sweep the orphans now, then list the messages in a chat that no backup holds."""
    rt = _runtime(run)
    swept: dict[str, int] = {"kept": 0, "deleted": 0, "undeletable": 0, "retry": 0}
    try:
        for _ in range(SWEEPS):
            found = orphans.sweep(rt, rt.telegram, grace=dt.timedelta(0))
            for key, value in found.to_json().items():
                swept[key] += value
            if not found.retry and not found.deleted and not found.kept:
                break
    finally:
        rt.close_telegram()
    run.report.orphan_sweep = swept
    with run.stack.database.engine.connect() as conn:
        held = {
            (int(chat), int(message))
            for chat, message in conn.execute(
                text("SELECT chat_id, message_id FROM control_plane.backup_parts")
            )
        }
    alive = {
        (int(str(m["chat_id"])), int(str(m["message_id"])))
        for m in run.stack.standin.messages()
        if not m["deleted"] and m.get("file_id")
    }
    run.report.telegram_leftovers = [f"{chat}/{message}" for chat, message in sorted(alive - held)]


def count_requests(run: Run) -> None:
    """sendDocument per bot and chat (all, and answered 200), and the 429s by cause."""
    report = run.report
    per_pair: dict[str, int] = {}
    ok_pair: dict[str, int] = {}
    for entry in run.stack.standin.requests("sendDocument"):
        chat = entry.get("chat_id")
        where = "? (dropped before its form was read)" if chat is None else chat
        pair = f"bot {entry.get('bot_id')} -> chat {where}"
        per_pair[pair] = per_pair.get(pair, 0) + 1
        if entry.get("status") == 200:
            ok_pair[pair] = ok_pair.get(pair, 0) + 1
    report.send_document_by_pair = {
        pair: f"{count} sent, {ok_pair.get(pair, 0)} answered 200"
        for pair, count in sorted(per_pair.items())
    }
    entries = run.stack.standin.requests()
    report.limit_429 = sum(1 for e in entries if e.get("status") == 429 and not e.get("fault"))
