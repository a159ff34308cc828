"""getChatMember and the bots' rights in each chat, as the Bot API documents them.

Every bot is an administrator of every configured chat by default, with the rights the worker
uses (can_delete_messages, can_pin_messages; in channels can_post_messages and
can_edit_messages): what the stand-in always allowed. `set_member` makes a bot a plain member,
or an administrator with fewer rights, so a preflight check can be tested against it; a bot
without can_pin_messages is then refused pinChatMessage, as Telegram refuses it.
"""

from __future__ import annotations

import threading

from standin import api as botapi

JsonObject = dict[str, object]

STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
# ChatMemberAdministrator's rights (Bot API 7.x/8.x); True for the default administrator.
RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_post_messages",
    "can_edit_messages",
    "can_manage_topics",
)
_CHANNEL_ONLY = frozenset({"can_post_messages", "can_edit_messages"})
_GROUP_ONLY = frozenset({"can_pin_messages", "can_manage_topics"})


class Members:
    """Who each bot is in each chat: overrides of the default administrator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[tuple[int, int], JsonObject] = {}

    def set(self, chat_id: int, user_id: int, status: str, rights: dict[str, bool]) -> None:
        """Make bot `user_id` a `status` of `chat_id`; an administrator gets every right but
        those `rights` turns off (unknown rights are refused)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}: one of {', '.join(sorted(STATUSES))}")
        unknown = set(rights) - set(RIGHTS)
        if unknown:
            raise ValueError(f"unknown right(s) {', '.join(sorted(unknown))}")
        with self._lock:
            self._members[(chat_id, user_id)] = {"status": status, **rights}

    def of(self, chat_id: int, user_id: int) -> JsonObject:
        with self._lock:
            return dict(self._members.get((chat_id, user_id), {"status": "administrator"}))

    def reset(self) -> None:
        with self._lock:
            self._members.clear()


def member_json(bot: botapi.BotApi, chat_id: int, user_id: int) -> JsonObject:
    """The ChatMember of bot `user_id` in `chat_id`."""
    user = bot.bot_user_of(user_id)
    member: JsonObject = {"user": {k: user[k] for k in ("id", "is_bot", "first_name", "username")}}
    if chat_id > 0:  # a private chat: the bot is just the other party
        member["status"] = "member"
        return member
    found = bot.members.of(chat_id, user_id)
    member["status"] = found["status"]
    if found["status"] != "administrator":
        return member
    channel = bool(bot.chat_json(chat_id).get("type") == "channel")
    member.update(can_be_edited=False, is_anonymous=False)
    for right in RIGHTS:
        if (right in _CHANNEL_ONLY and not channel) or (right in _GROUP_ONLY and channel):
            continue
        member[right] = bool(found.get(right, True))
    return member


def get_chat_member(bot: botapi.BotApi, token: str, params: JsonObject) -> JsonObject:
    """getChatMember(chat_id, user_id): only the stand-in's bots are known users."""
    chat_id = bot.chat(params)
    try:
        user_id = botapi._int(params.get("user_id"))
    except ValueError:
        user_id = None
    known = {botapi.bot_id(one) for one in bot.config.tokens}
    if user_id is None or user_id not in known:
        raise botapi.bad_request("user not found" if user_id is not None else "invalid user_id")
    return member_json(bot, chat_id, user_id)


def may_pin(bot: botapi.BotApi, token: str, chat_id: int) -> bool:
    """Whether the bot of `token` may pin in `chat_id` (always in a private chat)."""
    if chat_id > 0:
        return True
    member = member_json(bot, chat_id, botapi.bot_id(token))
    if member["status"] == "creator":
        return True
    return member["status"] == "administrator" and bool(
        member.get("can_pin_messages", member.get("can_edit_messages"))
    )


METHODS = {"getchatmember": get_chat_member}
