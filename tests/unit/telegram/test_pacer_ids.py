"""The pacer's ids and arguments: checked before anything reaches Redis (nothing listens here)."""

from __future__ import annotations

import pytest
import redis

from worker.telegram import pacer


@pytest.fixture
def offline() -> pacer.Pacer:
    # Port 1: any command would fail, so these tests prove the checks come first.
    return pacer.Pacer(redis.Redis(port=1, socket_connect_timeout=0.1))


def test_bot_id_is_the_tokens_public_prefix() -> None:
    assert pacer.bot_id("123456:ABC-secret") == "123456"
    for token in ("ABC-secret", "123456", ":secret", "12a:secret"):
        with pytest.raises(ValueError, match="digits before the ':'") as caught:
            pacer.bot_id(token)
        assert "secret" not in str(caught.value)


def test_a_token_never_becomes_a_key(offline: pacer.Pacer) -> None:
    with pytest.raises(ValueError, match="bot id"):
        offline.take([("123456:ABC-secret", "-1001")])
    with pytest.raises(ValueError, match="bot id"):
        offline.close_bot("123456:ABC-secret", 1)
    with pytest.raises(ValueError, match="not a chat id"):
        offline.close_chat("-1001 x", 1)


def test_groups_and_channels_get_the_per_minute_budget() -> None:
    assert pacer.is_group("-1001234567890")
    assert pacer.is_group("-42")
    assert pacer.is_group("@backups")
    assert not pacer.is_group("42")


@pytest.mark.parametrize(
    "budgets",
    [{"chat_per_second": -1}, {"group_window": 0}, {"bot_window": -1.0}],
)
def test_budgets_are_checked(budgets: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="budget"):
        pacer.Pacer(redis.Redis(port=1), **budgets)  # type: ignore[arg-type]


def test_take_needs_a_pair_and_closures_a_length(offline: pacer.Pacer) -> None:
    with pytest.raises(ValueError, match="at least one"):
        offline.take([])
    for seconds in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive, finite"):
            offline.close_chat("-1001", seconds)
