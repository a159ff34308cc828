"""One backup's parts into one group: the pacer before issue 22, with a margin, and now.

    python -m benchmarks.pacer_spacing                   # 5 rounds, 7 parts of 2 MB, 100 Mbit/s
    python -m benchmarks.pacer_spacing --link 1gbit --parts 7 --part-mb 5

Both send through the stand-in enforcing Telegram's limits over a link (standin.link), with the
worker's own client and pacer, in-process, interleaved in rounds (old, new, old, new, ...):

- old: every window widened by 2 s (the margin then), the slot taken for the upload's start,
  the body sent at once (Pacer.acquire, then sendDocument): main before issue 22;
- margin: the shipped margin (0.3 s) widening every window, the slot taken for the upload's
  end, the last block held until then (worker.telegram.sender.Sender), each next slot one
  window and the margin after the slot before (the pacer told nothing of answers);
- new: as margin, and an answered message counts from its answer (Pacer.landed): the next slot
  is one window after the answer before.

Each variant and round has a group of its own, so no message shares a budget with another
run's. Reported per round: seconds from the first request to the last message the stand-in
counted, the smallest gap between two counted messages, and the 429 answers.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from benchmarks import report
from standin import limits, link
from standin.server import BotApiStandin
from tests.support import scratch
from worker import defaults
from worker.telegram import client as telegram
from worker.telegram import pacer as fleetpacer
from worker.telegram import sender as fleetsender

TOKEN = "434343:pacer-spacing-not-a-real-bot-000000"  # noqa: S105 - stand-in only
CHAT_BASE = -1004343000000  # each round and variant sends into a group of its own
OLD_MARGIN = 2.0  # seconds: TELEGRAM_PACER_MARGIN's default before issue 22


VARIANTS = ("old", "margin", "new")


class _Unanswered(fleetpacer.Pacer):
    """The pacer before Pacer.landed: an answer moves nothing."""

    def landed(self, reservation: fleetpacer.Reservation) -> None:
        return None


def _pacer(
    client: redis.Redis, margin: float, kind: type[fleetpacer.Pacer] = fleetpacer.Pacer
) -> fleetpacer.Pacer:
    return kind(client, margin=margin, key_prefix=f"bench-spacing-{uuid.uuid4().hex[:8]}")


def _round(
    standin: BotApiStandin, chat: str, send: Callable[[Path], None], parts: list[Path]
) -> dict[str, float]:
    mark = len(standin.sends())
    refused = len([r for r in standin.requests("sendDocument") if r["status"] == 429])
    started = time.time()
    for path in parts:
        send(path)
    counted = sorted(
        float(str(s["time"])) for s in standin.sends()[mark:] if str(s["chat_id"]) == chat
    )
    gaps = [later - earlier for earlier, later in itertools.pairwise(counted)]
    now_refused = len([r for r in standin.requests("sendDocument") if r["status"] == 429])
    return {
        "seconds": round(counted[-1] - started, 3),
        "min_gap": round(min(gaps), 3) if gaps else 0.0,
        "refused_429": now_refused - refused,
    }


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Run the rounds, print them, return the JSON document."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pacer_spacing", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", type=int, default=7)
    parser.add_argument("--part-mb", type=float, default=2.0)
    parser.add_argument("--link", choices=sorted(link.PROFILES), default="100mbit")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    load_before = report.load_average()
    rows: list[dict[str, object]] = []
    bot = fleetpacer.bot_id(TOKEN)
    with (
        tempfile.TemporaryDirectory(prefix="bwbench-spacing-") as tmp,
        scratch.redis_database() as number,
        BotApiStandin(
            tokens=[TOKEN],
            chats=[CHAT_BASE - n for n in range(len(VARIANTS) * args.rounds)],
            limits=limits.TELEGRAM,
            link=link.PROFILES[args.link],
            data_dir=Path(tmp) / "standin",
        ) as standin,
        telegram.TelegramClient(TOKEN, standin.url) as client,
    ):
        parts = []
        for index in range(args.parts):
            path = Path(tmp) / f"part-{index}"
            path.write_bytes(os.urandom(int(args.part_mb * 1_000_000)))
            parts.append(path)
        connection = redis.Redis.from_url(scratch.redis_url(number))
        old = _pacer(connection, OLD_MARGIN)
        senders = {
            name: fleetsender.Sender(
                lambda _: client,
                bots=[bot],
                pacer=_pacer(connection, defaults.DEFAULT_PACER_MARGIN, kind),
                max_attempts=8,
            )
            for name, kind in (("margin", _Unanswered), ("new", fleetpacer.Pacer))
        }

        def send_old(chat: str) -> Callable[[Path], None]:
            def send(path: Path) -> None:
                slot = old.acquire([(bot, chat)])
                client.send_document(int(slot.chat_id), path)

            return send

        def sending(name: str) -> Callable[[str], Callable[[Path], None]]:
            def make(chat: str) -> Callable[[Path], None]:
                def send(path: Path) -> None:
                    senders[name].send_document([chat], path)

                return send

            return make

        for number_ in range(1, args.rounds + 1):
            report.line(f"round {number_} of {args.rounds} (load average {report.load_average()})")
            chats = {
                name: str(CHAT_BASE - len(VARIANTS) * (number_ - 1) - offset)
                for offset, name in enumerate(VARIANTS)
            }
            variants = (("old", send_old), ("margin", sending("margin")), ("new", sending("new")))
            for name, make in variants:
                chat = chats[name]
                row = {"round": number_, "pacer": name, **_round(standin, chat, make(chat), parts)}
                report.line(f"  {row}")
                rows.append(row)
        connection.close()
    document: dict[str, object] = {
        "benchmark": "pacer_spacing",
        "environment": report.environment(),
        "load_average_before": load_before,
        "load_average_after": report.load_average(),
        "link": args.link,
        "parts": args.parts,
        "part_bytes": int(args.part_mb * 1_000_000),
        "rounds": rows,
        "median_seconds": {
            name: report.median([float(str(r["seconds"])) for r in rows if r["pacer"] == name])
            for name in VARIANTS
        },
        "refused_429": {
            name: sum(int(str(r["refused_429"])) for r in rows if r["pacer"] == name)
            for name in VARIANTS
        },
    }
    report.emit(document, args.json_out)
    return document


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
