"""The stand-in's control endpoints (/_standin/...): what a test or the chaos run asks of it over
HTTP, mapped onto BotApiStandin's methods (listed in standin.server's docstring)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from standin.api import JsonObject
from standin.limits import Limits

if TYPE_CHECKING:
    from standin.server import BotApiStandin


def answer(standin: BotApiStandin, verb: str, name: str, body: JsonObject) -> tuple[int, object]:
    """The status and JSON body for `verb /_standin/name` with `body`; 404 for what is not one."""
    if verb == "GET" and name == "requests":
        return 200, standin.requests()
    if verb == "GET" and name == "messages":
        return 200, standin.messages()
    if verb == "GET" and name == "sends":
        return 200, standin.sends()
    if verb == "GET" and name == "faults":
        return 200, standin.faults.pending()
    if verb == "GET" and name == "limits":
        return 200, standin.limiter.limits.as_json()
    if verb != "POST":
        return 404, "Not Found"
    if name == "faults":
        script = body.get("script") or []
        methods = body.get("methods")
        if not isinstance(script, list) or not (methods is None or isinstance(methods, list)):
            raise ValueError("script and methods must be lists")
        return 200, {"pending": standin.set_faults(map(str, script), methods)}
    if name == "rates":
        standin.set_fault_rates(
            rate_429=float(str(body.get("rate_429", 0))),
            rate_502=float(str(body.get("rate_502", 0))),
            rate_drop=float(str(body.get("rate_drop", 0))),
            retry_after=int(str(body.get("retry_after", 1))),
            seed=int(str(body["seed"])) if body.get("seed") is not None else None,
            methods=body.get("methods"),  # type: ignore[arg-type]
        )
        return 200, True
    if name == "limits":
        standin.set_limits(Limits.from_json(body))
        return 200, standin.limiter.limits.as_json()
    if name == "age":
        standin.age_message(
            int(str(body["chat_id"])), int(str(body["message_id"])), int(str(body["seconds"]))
        )
        return 200, True
    if name == "revoke":
        standin.revoke(str(body["token"]))
        return 200, True
    if name == "delete_chat":
        standin.delete_chat(int(str(body["chat_id"])))
        return 200, True
    if name == "forget":
        standin.forget(int(str(body["chat_id"])), int(str(body["message_id"])))
        return 200, True
    if name == "member":
        rights = body.get("rights") or {}
        if not isinstance(rights, dict):
            raise ValueError("rights must be an object")
        standin.set_member(
            int(str(body["chat_id"])),
            int(str(body["user_id"])),
            str(body.get("status", "member")),
            **{str(k): bool(v) for k, v in rights.items()},
        )
        return 200, True
    if name == "reset":
        standin.reset()
        return 200, True
    return 404, "Not Found"
