"""Run the Bot API stand-in: python -m standin --port 8081 --token T --chat -100123."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from standin import limits, link
from standin.server import BotApiStandin


def _pair(value: str) -> tuple[int, int]:
    left, sep, right = value.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected A:B, got {value!r}")
    return int(left), int(right)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", action="append", required=True, help="a bot token (repeat)")
    parser.add_argument("--chat", action="append", type=int, default=[], help="a chat id (repeat)")
    parser.add_argument(
        "--topic",
        action="append",
        type=_pair,
        default=[],
        metavar="CHAT:THREAD",
        help="a forum topic of a chat, e.g. --topic=-1001:7 (repeat)",
    )
    parser.add_argument(
        "--migrated",
        action="append",
        type=_pair,
        default=[],
        metavar="OLD:NEW",
        help="a group upgraded to a supergroup, e.g. --migrated=-5:-1005 (repeat)",
    )
    parser.add_argument("--data-dir", help="where uploaded files are kept (default: a temp dir)")
    parser.add_argument(
        "--keep-files",
        action="store_true",
        help="remember file ids in --data-dir, so a later stand-in there serves them again",
    )
    parser.add_argument(
        "--rate-limits", action="store_true", help="enforce 20 messages per minute per group"
    )
    parser.add_argument(
        "--limits",
        choices=sorted(limits.PRESETS),
        help="sending limits: telegram = per chat, per group and per bot (overrides --rate-limits)",
    )
    parser.add_argument(
        "--link",
        choices=sorted(link.PROFILES),
        help="answer as if over a link of this bandwidth and latency (standin.link)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="behave like telegram-bot-api --local (absolute file paths)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    args = _parser().parse_args(argv)
    topics: dict[int, list[int]] = {}
    for chat, thread in args.topic:
        topics.setdefault(chat, []).append(thread)
    standin = BotApiStandin(
        tokens=args.token,
        chats=args.chat,
        data_dir=args.data_dir,
        topics=topics,
        migrated=dict(args.migrated),
        rate_limits=args.rate_limits,
        limits=limits.PRESETS[args.limits] if args.limits else None,
        host=args.host,
        port=args.port,
        local_mode=args.local,
        keep_files=args.keep_files,
        link=link.PROFILES[args.link] if args.link else None,
    )
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with standin:
        print(f"standin listening on {standin.url}", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
