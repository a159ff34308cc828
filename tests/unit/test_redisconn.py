"""Sentinel URLs (kombu's form) and the settings that go with them."""

from __future__ import annotations

import pytest
from kombu.transport import resolve_transport

from worker import broker, errors, redisconn, settings

URL = "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://10.0.0.2:26380;sentinel://10.0.0.3"


def test_a_sentinel_url_names_every_sentinel_and_the_primary_s_password_and_db() -> None:
    found = redisconn.Sentinels.parse(URL)
    assert found.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379))
    assert found.db == 2
    assert found.password == "s3cret"


@pytest.mark.parametrize(
    "url", ["sentinel://", "sentinel://:s3cret@h:1;redis://h:2", "sentinel://h:1/zero", ";"]
)
def test_a_bad_sentinel_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(errors.ConfigError, match="sentinel") as info:
        redisconn.Sentinels.parse(url)
    assert "s3cret" not in info.value.message


@pytest.mark.parametrize(
    ("url", "redis", "sentinel"),
    [
        ("redis://h:6379/0", True, False),
        ("unix:///run/redis.sock", True, False),
        (URL, True, True),
        ("amqp://guest@h//", False, False),
    ],
)
def test_which_urls_are_redis(url: str, redis: bool, sentinel: bool) -> None:
    assert redisconn.is_redis(url) is redis
    assert redisconn.is_sentinel(url) is sentinel


def test_a_sentinel_client_needs_the_primary_s_name() -> None:
    with pytest.raises(errors.ConfigError, match="REDIS_SENTINEL_MASTER"):
        redisconn.client(URL, None)
    assert redisconn.transport_options(URL, "mymaster") == {"master_name": "mymaster"}
    assert redisconn.transport_options("redis://h/0", "mymaster") == {}


def test_settings_refuse_a_sentinel_broker_without_a_primary_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", URL)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", URL)
    with pytest.raises(errors.ConfigError, match="REDIS_SENTINEL_MASTER") as info:
        settings.load()
    assert "s3cret" not in info.value.message
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    monkeypatch.delenv("PACER_REDIS_URL", raising=False)
    loaded = settings.load()
    assert loaded.pacer_url == URL  # the pacer follows the broker through the sentinels


def test_settings_refuse_a_bad_sentinel_url_naming_no_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "sentinel://:s3cret@h:1;redis://h:2")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    with pytest.raises(errors.ConfigError, match="not a sentinel URL") as info:
        settings.load()
    assert "s3cret" not in info.value.message


def test_quorum_queues_are_rabbitmq_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_QUEUE_TYPE", "quorum")
    with pytest.raises(errors.ConfigError, match="BROKER_QUEUE_TYPE=quorum is RabbitMQ's"):
        settings.load()
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    assert settings.load().broker_queue_type == "quorum"
    monkeypatch.setenv("BROKER_QUEUE_TYPE", "mirrored")
    with pytest.raises(errors.ConfigError, match="BROKER_QUEUE_TYPE"):
        settings.load()


def test_sentinel_urls_get_the_transport_that_survives_a_lost_connection() -> None:
    broker.install()
    resolved: object = resolve_transport("sentinel")
    assert resolved is broker.SentinelTransport
    assert issubclass(broker.SentinelTransport.Channel, broker.RedisChannel)
