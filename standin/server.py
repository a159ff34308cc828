"""A local stand-in for the Telegram Bot API, for tests: real limits, real error envelope.

    with BotApiStandin(tokens=["123:ABC"], chats=[-1001234567890]) as standin:
        client = TelegramClient("123:ABC", api_url=standin.url)

Control endpoints (JSON, no token): GET /_standin/requests, GET /_standin/messages,
GET /_standin/faults, POST /_standin/faults {"script": [...], "methods": [...]},
POST /_standin/rates {"rate_429": 0.2, "rate_502": 0.1, "rate_drop": 0.05, "retry_after": 1,
"seed": 42, "methods": [...]}, POST /_standin/age {"chat_id", "message_id", "seconds"},
POST /_standin/forget {"chat_id", "message_id"} (the message and its file removed, as if deleted
by hand in the chat),
GET /_standin/limits, POST /_standin/limits {"preset": "telegram"} or {"chat": {"count": 1,
"window": 1.0}, "group": ..., "bot": ...} (null or absent: off; see standin.limits),
POST /_standin/member {"chat_id", "user_id", "status", "rights": {"can_pin_messages": false, ...}}
(a bot's status and rights in a chat, standin.members; every bot is a full administrator by
default), GET /_standin/sends (messages counted, with times), POST /_standin/reset. Fault
words are listed in standin.faults. `link=`: a link's bandwidth and latency (standin.link).

Several tokens are several bots, each with the id of its token's prefix; a file_id works only for
the bot that received it.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from standin import control, pins
from standin.api import (
    CLOUD_DOWNLOAD_LIMIT,
    CLOUD_UPLOAD_LIMIT,
    LOCAL_UPLOAD_LIMIT,
    BotApi,
    Config,
    JsonObject,
    bot_id,
)
from standin.faults import FaultPlan, FaultRates
from standin.httpserver import StandinHTTPServer
from standin.limits import GROUPS, OFF, Limiter, Limits
from standin.link import Link
from standin.store import Store

MEMBER_ID = 777000111  # a person in the chat, as member_posts' sender


class BotApiStandin:
    """The stand-in server; start() serves from a background thread."""

    def __init__(
        self,
        tokens: Iterable[str],
        chats: Iterable[int],
        data_dir: Path | str | None = None,
        *,
        topics: Mapping[int, Iterable[int]] | None = None,
        migrated: Mapping[int, int] | None = None,
        rate_limits: bool = False,
        limits: Limits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        local_mode: bool = False,
        local_root: Path | str | None = None,
        keep_files: bool = False,
        clock: Callable[[], float] = time.time,
        link: Link | None = None,
    ) -> None:
        tokens = frozenset(tokens)
        if len({bot_id(token) for token in tokens}) != len(tokens):
            raise ValueError("two tokens name the same bot: each needs its own numeric prefix")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="standin-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        migrated = dict(migrated or {})
        self.config = Config(
            tokens=tokens,
            chats=frozenset(chats) | frozenset(migrated.values()),
            topics={chat: frozenset(ids) for chat, ids in (topics or {}).items()},
            migrated=migrated,
            upload_limit=LOCAL_UPLOAD_LIMIT if local_mode else CLOUD_UPLOAD_LIMIT,
            download_limit=None if local_mode else CLOUD_DOWNLOAD_LIMIT,
        )
        root = None
        if local_mode:
            # telegram-bot-api --local answers getFile with an absolute path on its own disk.
            root = Path(local_root) if local_root is not None else self.data_dir / "files"
        self.store = Store(self.data_dir, clock, local_root=root, keep=keep_files)
        # rate_limits=True keeps the one limit the stand-in always had: 20 per minute per group.
        self.limiter = Limiter(clock, limits or (GROUPS if rate_limits else OFF))
        self.api = BotApi(self.config, self.store, self.limiter)
        self.faults = FaultPlan()
        self._log: list[JsonObject] = []
        self._log_lock = threading.Lock()
        self._address = (host, port)
        self.link = link
        self._server: StandinHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotApiStandin:
        """Bind (port 0 picks a free port) and serve in a daemon thread."""
        if self._server is None:
            self._server = StandinHTTPServer(
                self._address, self.api, self.faults, self._record, self._control, self.link
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},  # stop() waits at most this long
                name="standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, break open connections and remove the temporary data directory."""
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BotApiStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the client as api_url, e.g. http://127.0.0.1:PORT."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def set_faults(self, script: Iterable[str], methods: Iterable[str] | None = None) -> int:
        """Queue faults such as "429:3", "502", "drop"; returns how many are now pending."""
        return self.faults.script(list(script), list(methods) if methods else None)

    def set_fault_rates(
        self,
        *,
        rate_429: float = 0.0,
        rate_502: float = 0.0,
        rate_drop: float = 0.0,
        retry_after: int = 1,
        seed: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Fail matching requests at random with these probabilities."""
        wanted = frozenset(m.lower() for m in methods) if methods else None
        rates = FaultRates(rate_429, rate_502, rate_drop, retry_after, wanted)
        self.faults.set_rates(rates, seed)

    def set_limits(self, limits: Limits) -> None:
        """Enforce these sending limits from now on (standin.limits.TELEGRAM: all of Telegram's)."""
        self.limiter.set(limits)

    def requests(self, method: str | None = None) -> list[JsonObject]:
        """Every Bot API request answered so far (optionally of one method), oldest first."""
        with self._log_lock:
            entries = list(self._log)
        if method is None:
            return entries
        return [entry for entry in entries if str(entry["method"]).lower() == method.lower()]

    def sends(self) -> list[JsonObject]:
        """Every message the limits counted (on or off), with the time it was counted."""
        return [send.as_json() for send in self.limiter.admitted()]

    def messages(self) -> list[JsonObject]:
        """Every message sent, deleted ones included (flag `deleted`)."""
        return [message.as_json() for message in self.store.messages()]

    def age_message(self, chat_id: int, message_id: int, seconds: int) -> None:
        """Make a message `seconds` older (to test the 48-hour delete window)."""
        message = self.store.message(chat_id, message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        self.store.update(replace(message, date=message.date - seconds))

    def forget(self, chat_id: int, message_id: int) -> None:
        """Remove a message and its file as if someone deleted it by hand in the chat: it is no
        longer listed, and its file_id no longer downloads (a part gone from Telegram)."""
        if not self.store.forget(chat_id, message_id):
            raise KeyError(f"no message {message_id} in chat {chat_id}")

    def revoke(self, token: str) -> None:
        """Revoke a bot's token as BotFather does: every call and download with it answers 401."""
        self._set_config(replace(self.config, tokens=self.config.tokens - {token}))

    def reinstate(self, token: str) -> None:
        """Accept a revoked token again (as a bot given a new token, written back)."""
        self._set_config(replace(self.config, tokens=self.config.tokens | {token}))

    def delete_chat(self, chat_id: int) -> None:
        """Delete a chat as its admin does: sending to it answers 400 "chat not found", and its
        messages and their files are gone."""
        self._set_config(replace(self.config, chats=self.config.chats - {chat_id}))
        for message in self.store.messages():
            if message.chat_id == chat_id:
                self.store.forget(chat_id, message.message_id)

    def _set_config(self, config: Config) -> None:
        self.config = config
        self.api.config = config

    def member_posts(
        self,
        chat_id: int,
        content: bytes,
        file_name: str,
        *,
        member_id: int = MEMBER_ID,
        pin: bool = True,
        channel_post: bool = False,
    ) -> int:
        """A chat member (not a bot) posts a document, and pins it unless `pin` is False; the
        stand-in's bot of the lowest id can download it. `channel_post`: posted as the channel
        (no `from`). Returns its message id."""
        reader = min(bot_id(token) for token in self.config.tokens)
        message = pins.member_document(
            self.api,
            chat_id,
            content,
            file_name,
            member_id=member_id,
            reader=reader,
            pin=pin,
            channel_post=channel_post,
        )
        return message.message_id

    def set_member(
        self, chat_id: int, user_id: int, status: str = "member", **rights: bool
    ) -> None:
        """Make bot `user_id` a `status` of `chat_id` (getChatMember), e.g. a plain "member",
        or an "administrator" with can_delete_messages=False."""
        self.api.members.set(chat_id, user_id, status, rights)

    def reset(self) -> None:
        """Forget messages, files, faults, send times, members and the request log; keep the
        settings."""
        self.faults.clear()
        self.api.members.reset()
        self.store.reset()
        self.limiter.reset()
        with self._log_lock:
            self._log.clear()

    def _record(self, entry: JsonObject) -> None:
        with self._log_lock:
            self._log.append(entry)

    def _control(self, verb: str, name: str, body: JsonObject) -> tuple[int, object]:
        return control.answer(self, verb, name, body)
