"""Whether each Telegram repository still answers: backup_worker_repository_up{repository}.

A repository (docs/fleet.md, "Copies") is up when each of its bots answers getMe and each of
its chats answers getChat through its first bot. An answer that says the store is gone (401
revoked, 403 kicked, 400 "chat not found") makes it down; one that says nothing about the store
(a network error, 5xx, 429) keeps the last verdict (no series before the first one). The
exporter probes at most every PROBE_INTERVAL seconds, not at each scrape: a probe costs each
bot a Bot API call per chat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from worker import errors
from worker.telegram import client as telegram
from worker.telegram import repositories

PROBE_INTERVAL = 60.0  # seconds between two probes of the repositories
PROBE_TIMEOUT = 10.0  # seconds per Bot API call of a probe

Connect = Callable[[str], telegram.TelegramClient]  # a token -> a client of its bot


class Probe:
    """Each repository's last verdict, refreshed when older than `every` seconds."""

    def __init__(
        self,
        repos: repositories.Repositories,
        connect: Connect,
        *,
        every: float = PROBE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repos = repos
        self._connect = connect
        self._every = every
        self._clock = clock
        self._at: float | None = None
        self._up: dict[str, bool] = {}
        self._lock = threading.Lock()  # scrapes may overlap: one probe at a time

    def states(self) -> dict[str, bool]:
        """Repository name -> up, probing first when the last probe is too old."""
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self._every:
                for repo in self._repos:
                    verdict = self._probe(repo)
                    if verdict is not None:
                        self._up[repo.name] = verdict
                self._at = now
            return dict(self._up)

    def _probe(self, repo: repositories.Repository) -> bool | None:
        tokens = [token.get_secret_value() for token in repo.bot_tokens]
        try:
            for token in tokens:
                with self._connect(token) as client:
                    client.get_me()
                    if token != tokens[0]:
                        continue
                    for chat in repo.chat_ids:
                        client.call("getChat", {"chat_id": chat}, chat_id=chat)
        except errors.TelegramRejected:
            return False
        except errors.TelegramError:
            return None
        return True


def connector(api_url: str, timeout: float = PROBE_TIMEOUT) -> Connect:
    """Clients for a probe: one attempt each (a retry would hide nothing a probe should see)."""

    def connect(token: str) -> telegram.TelegramClient:
        return telegram.TelegramClient(
            token, api_url, timeout=timeout, connect_timeout=timeout, max_attempts=1
        )

    return connect
