"""The stand-in's sending limits: per chat, per group and per bot, switchable and scalable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from standin import limits
from standin.limits import Limiter, Limits, Rate
from standin.server import BotApiStandin

BOT, OTHER_BOT = "111111:first-secret", "222222:second-secret"
GROUP, OTHER_GROUP, PRIVATE = -1001, -1002, 42
START = 1_700_000_000.0


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def standin(clock: Clock) -> Iterator[BotApiStandin]:
    with BotApiStandin(
        tokens=[BOT, OTHER_BOT], chats=[GROUP, OTHER_GROUP, PRIVATE], clock=clock
    ) as server:
        yield server


def _send(standin: BotApiStandin, chat: int, token: str = BOT) -> tuple[int, object]:
    """The HTTP status and retry_after (None when sent) of one sendMessage."""
    response = requests.post(
        f"{standin.url}/bot{token}/sendMessage", data={"chat_id": chat, "text": "x"}, timeout=10
    )
    body = response.json()
    return response.status_code, body.get("parameters", {}).get("retry_after")


def test_limits_are_off_by_default(standin: BotApiStandin) -> None:
    assert all(_send(standin, GROUP) == (200, None) for _ in range(40))
    assert requests.get(f"{standin.url}/_standin/limits", timeout=10).json()["result"] == {
        "chat": None,
        "group": None,
        "bot": None,
    }


def test_one_message_per_second_in_a_chat(standin: BotApiStandin, clock: Clock) -> None:
    standin.set_limits(limits.TELEGRAM)
    assert _send(standin, PRIVATE) == (200, None)
    assert _send(standin, PRIVATE) == (429, 1)
    # Another bot draws on the same chat's budget; another chat has its own.
    assert _send(standin, PRIVATE, OTHER_BOT) == (429, 1)
    assert _send(standin, OTHER_GROUP) == (200, None)
    clock.now += 1
    assert _send(standin, PRIVATE) == (200, None)


def test_twenty_per_minute_in_a_group_only(standin: BotApiStandin, clock: Clock) -> None:
    standin.set_limits(limits.TELEGRAM)
    for n in range(20):
        assert _send(standin, GROUP, (BOT, OTHER_BOT)[n % 2]) == (200, None)
        clock.now += 1
    # The first of the 20 left the window at START + 60: 40 s to go.
    clock.now = START + 20
    assert _send(standin, GROUP) == (429, 40)
    for _ in range(25):
        assert _send(standin, PRIVATE) == (200, None)
        clock.now += 1
    clock.now = START + 60
    assert _send(standin, GROUP) == (200, None)


def test_thirty_per_second_per_bot(standin: BotApiStandin) -> None:
    chats = [-(2000 + n) for n in range(31)]
    with BotApiStandin(tokens=[BOT, OTHER_BOT], chats=chats, limits=limits.TELEGRAM) as server:
        # A real clock: 31 requests well within one second on this machine.
        answers = [_send(server, chat) for chat in chats]
        assert answers[:30] == [(200, None)] * 30
        assert answers[30] == (429, 1)
        assert _send(server, chats[30], OTHER_BOT) == (200, None)


def test_windows_are_configurable_over_http(standin: BotApiStandin, clock: Clock) -> None:
    body = {"chat": None, "group": {"count": 3, "window": 0.5}, "bot": {"count": 100, "window": 1}}
    answer = requests.post(f"{standin.url}/_standin/limits", json=body, timeout=10).json()
    assert answer["result"] == {**body, "bot": {"count": 100, "window": 1.0}}
    assert [_send(standin, GROUP)[0] for _ in range(4)] == [200, 200, 200, 429]
    clock.now += 0.5
    assert _send(standin, GROUP) == (200, None)
    preset = requests.post(f"{standin.url}/_standin/limits", json={"preset": "off"}, timeout=10)
    assert preset.json()["result"] == Limits().as_json()
    bad = requests.post(f"{standin.url}/_standin/limits", json={"chats": None}, timeout=10)
    assert bad.status_code == 400


def test_rate_limits_true_keeps_the_group_limit_alone(clock: Clock) -> None:
    with BotApiStandin(tokens=[BOT], chats=[GROUP, PRIVATE], rate_limits=True, clock=clock) as s:
        assert s.limiter.limits == limits.GROUPS
        assert all(_send(s, PRIVATE) == (200, None) for _ in range(5))


def test_a_refused_message_is_not_counted(clock: Clock) -> None:
    limiter = Limiter(clock, Limits(group=Rate(2, 10.0)))
    assert limiter.admit(1, GROUP) is None
    clock.now += 5
    assert limiter.admit(1, GROUP) is None
    for _ in range(10):
        assert limiter.admit(1, GROUP) == 5
    clock.now += 5
    assert limiter.admit(1, GROUP) is None
    assert limiter.admit(1, GROUP) == 5


def test_reset_forgets_send_times(standin: BotApiStandin) -> None:
    standin.set_limits(limits.TELEGRAM)
    assert _send(standin, PRIVATE) == (200, None)
    standin.reset()
    assert _send(standin, PRIVATE) == (200, None)


@pytest.mark.parametrize(("count", "window"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_rates_are_checked(count: int, window: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        Rate(count, window)
