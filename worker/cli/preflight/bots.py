"""Checks of the bots and chats: each token valid (getMe), each chat reachable by each bot
(getChat), with the rights retention needs (getChatMember of the bot itself).

Telegram lets a bot delete a message only within 48 hours of sending it, unless it is an
administrator with can_delete_messages (in a basic group: any administrator): retention deletes
backups after days, so without that right expired parts stay in the chat. The catalog is pinned:
can_pin_messages (in channels can_edit_messages). Calls go through the worker's own client.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from worker import errors, settings
from worker.cli.preflight import Group, Verdict, fail, ok, warn
from worker.telegram import client as telegram
from worker.telegram import pacer, repositories

ADMIN = "make the bot an administrator of the chat with the right to delete messages"
PIN = "give the bot the right to pin messages (the catalog is pinned)"
PRIVATE = (
    "a private chat: the bot can delete its messages only within 48 hours of sending them, so "
    "expired backups stay in the chat"
)


def groups(config: settings.Settings, timeout: float) -> list[Group]:
    """A group per bot (getMe) and per bot and chat (getChat, getChatMember)."""
    tokens = [token.get_secret_value() for token in config.telegram_bot_tokens]
    if not tokens or not config.telegram_chat_ids:
        missing = "TELEGRAM_BOT_TOKEN" if not tokens else "TELEGRAM_CHAT_ID"
        message = f"{missing} is not set: backups have nowhere to go"
        return [Group("telegram", lambda: [fail("telegram", message)])]
    keyed = bool(config.catalog_keys)
    found: list[Group] = []
    for token in tokens:
        bot = pacer.bot_id(token)
        found.append(Group(f"bot {bot}", functools.partial(me, config, token, timeout)))
        for chat in config.telegram_chat_ids:
            # The first bot publishes and pins the catalog in every chat, retired ones too
            # (worker.catalog.publish); every bot deletes what it sent.
            needs = Needs(delete=True, pin=token == tokens[0], catalog=keyed)
            run = functools.partial(chat_check, config, token, chat, needs, timeout)
            found.append(Group(f"chat {chat} (bot {bot})", run))
    found += repository_groups(config, timeout)
    alerts = config.alert_chat_id
    if alerts is not None and alerts not in config.telegram_chat_ids:
        label = f"alert chat {alerts} (bot {pacer.bot_id(tokens[0])})"
        run = functools.partial(chat_check, config, tokens[0], alerts, Needs(), timeout, label)
        found.append(Group(label, run))
    return found


def repository_groups(config: settings.Settings, timeout: float) -> list[Group]:
    """The further repositories (TELEGRAM_REPOSITORIES_FILE): each bot and chat, as above, named
    by its repository, so that a lost repository shows as one (docs/fleet.md, "Copies")."""
    if config.telegram_repositories_file is None:
        return []
    try:
        loaded = repositories.Repositories.load(config)
    except errors.ConfigError as exc:
        message = exc.message
        return [Group("repositories", lambda: [fail("repositories", message)])]
    found: list[Group] = []
    for repo in loaded:
        if repo.name == repositories.DEFAULT_REPOSITORY and config.telegram_configured:
            continue  # TELEGRAM_BOT_TOKEN's, checked above
        tokens = [token.get_secret_value() for token in repo.bot_tokens]
        for token in tokens:
            bot = pacer.bot_id(token)
            run = functools.partial(me, config, token, timeout)
            found.append(Group(f"repository {repo.name}: bot {bot}", run))
            for chat in repo.chat_ids:
                label = f"repository {repo.name}: chat {chat} (bot {bot})"
                needs = Needs(delete=True)
                run = functools.partial(chat_check, config, token, chat, needs, timeout, label)
                found.append(Group(label, run))
    return found


def _client(config: settings.Settings, token: str, timeout: float) -> telegram.TelegramClient:
    return telegram.TelegramClient(
        token, config.telegram_api_url, timeout=timeout, connect_timeout=timeout, max_attempts=1
    )


def me(config: settings.Settings, token: str, timeout: float) -> list[Verdict]:
    """getMe: the token is valid and the API URL answers."""
    label = f"bot {pacer.bot_id(token)}"
    with _client(config, token, timeout) as client:
        try:
            user = client.get_me()
        except errors.TelegramUnauthorized:
            return [
                fail(
                    label,
                    "the token was refused (401 Unauthorized): revoked or mistyped",
                    "take the bot's current token from @BotFather into TELEGRAM_BOT_TOKEN",
                )
            ]
        except errors.TelegramError as exc:
            return [
                fail(
                    label,
                    f"getMe failed: {exc.message}",
                    f"check TELEGRAM_API_URL={config.telegram_api_url}",
                )
            ]
    return [ok(label, f"@{user.username or user.first_name} answers")]


@dataclass(frozen=True)
class Needs:
    """What a chat needs of its bot: delete (retention); pin (the catalog), a failure when
    `catalog` (CATALOG_KEY set), a warning otherwise. Neither: reachable is enough (alerts)."""

    delete: bool = False
    pin: bool = False
    catalog: bool = False


def chat_check(
    config: settings.Settings,
    token: str,
    chat: str,
    needs: Needs,
    timeout: float,
    label: str | None = None,
) -> list[Verdict]:
    """getChat, then getChatMember of the bot itself: reachable, with the rights needed."""
    bot = pacer.bot_id(token)
    label = label or f"chat {chat} (bot {bot})"
    with _client(config, token, timeout) as client:
        try:
            found = client.call("getChat", {"chat_id": chat}, chat_id=chat)
            kind = str(found.get("type", "")) if isinstance(found, dict) else ""
            member: object = {}
            if kind != "private":
                member = client.call(
                    "getChatMember", {"chat_id": chat, "user_id": int(bot)}, chat_id=chat
                )
        except errors.TelegramMigrateToChat as exc:
            return [
                fail(label, "the group became a supergroup", f"use its new id {exc.new_chat_id}")
            ]
        except errors.TelegramError as exc:
            return [
                fail(
                    label,
                    f"the bot cannot reach the chat: {exc.message}",
                    "add the bot to the chat and check its id",
                )
            ]
    return [rights(label, kind, member if isinstance(member, dict) else {}, needs)]


def rights(label: str, kind: str, member: dict[str, object], needs: Needs) -> Verdict:
    """The verdict on a bot's ChatMember (`member`) in a chat of type `kind`."""
    if kind == "private" and needs.delete:
        return warn(label, PRIVATE, "use a group or channel with the bot as an administrator")
    if kind == "private":
        return ok(label, "a private chat, reachable")
    status = str(member.get("status", "unknown"))
    if status in ("left", "kicked"):
        return fail(label, f"the bot is not in the chat (status {status})", "add it: " + ADMIN)
    if status == "creator" or not needs.delete:
        return ok(label, f"reachable; the bot is {status}")
    if status != "administrator":
        return fail(
            label,
            f"the bot is not an administrator (status {status}): retention cannot delete "
            "backups older than 48 hours (can_delete_messages)",
            ADMIN,
        )
    if not member.get("can_delete_messages"):
        return fail(
            label,
            "the bot is an administrator without can_delete_messages: retention cannot delete "
            "backups older than 48 hours",
            ADMIN,
        )
    right = "can_edit_messages" if kind == "channel" else "can_pin_messages"
    if needs.pin and not member.get(right):
        missing = f"the bot is an administrator without {right}"
        if needs.catalog:
            return fail(label, f"{missing}: the catalog cannot be pinned", PIN)
        return warn(
            label, f"{missing}: the catalog (once CATALOG_KEY is set) cannot be pinned", PIN
        )
    return ok(label, f"{kind} chat; the bot is an administrator with the rights retention needs")
