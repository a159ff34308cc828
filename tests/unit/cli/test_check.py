"""`backup-worker check`: each verdict, the runner's deadline, the lines, the exit status."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from standin.server import BotApiStandin
from worker import settings
from worker.cli import common, preflight
from worker.cli.commands import check
from worker.cli.preflight import bots, infra, sources
from worker.postgres import servers, source

HEAD = "0042_head"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()
    for sock in held:
        sock.close()


def config(**values: object) -> settings.Settings:
    return settings.Settings(**values)  # type: ignore[arg-type]


def test_the_runner_keeps_the_order_and_bounds_a_hung_check() -> None:
    stuck = threading.Event()
    groups = [
        preflight.Group("slow", lambda: [preflight.ok("slow", "late")] if stuck.wait(5) else []),
        preflight.Group("quick", lambda: [preflight.ok("quick", "fine")]),
        preflight.Group("broken", lambda: [preflight.ok("x", str(1 / 0))]),
    ]
    verdicts = preflight.run(groups, deadline=0.3)
    stuck.set()
    assert [(v.check, v.status) for v in verdicts] == [
        ("slow", "fail"),
        ("quick", "ok"),
        ("broken", "fail"),
    ]
    assert "did not answer within" in verdicts[0].detail
    assert verdicts[2].detail.startswith("ZeroDivisionError")
    assert preflight.worst(verdicts) == "fail"
    assert preflight.worst([]) == "ok"


def test_an_error_inside_a_check_is_one_line_without_its_secrets() -> None:
    def leak() -> list[preflight.Verdict]:
        raise RuntimeError("cannot use 123456:SECRET-token-ABCdefGHIjklMNOpq\nsecond line")

    (verdict,) = preflight.run([preflight.Group("bot", leak)], 2, secrets=["SECRET-token"])
    assert verdict.status == "fail"
    assert "SECRET" not in verdict.detail
    assert "second line" not in verdict.detail


@pytest.mark.parametrize(
    ("current", "known", "status", "said"),
    [
        (None, True, "fail", "backup-worker migrate"),
        (HEAD, True, "ok", "(head)"),
        ("0041_older", True, "fail", "backup-worker migrate"),
        ("9999_newer", False, "fail", "upgrade this one"),
    ],
)
def test_the_control_plane_must_be_at_head(
    current: str | None, known: bool, status: str, said: str
) -> None:
    verdict = infra.revision("control plane", "db", current, HEAD, lambda _: known)
    assert verdict.status == status
    assert said in verdict.detail + verdict.fix


def test_a_broker_that_is_down_fails_naming_it() -> None:
    (verdict,) = infra.broker(f"redis://:pw-secret@127.0.0.1:{closed_port()}/0", 2)
    assert (verdict.status, verdict.check) == ("fail", "broker")
    assert "CELERY_BROKER_URL" in verdict.fix
    assert "pw-secret" not in verdict.detail


def test_a_separate_result_backend_and_pacer_are_checked_too() -> None:
    down = f"redis://127.0.0.1:{closed_port()}/1"
    separate = config(celery_result_backend=down, pacer_redis_url=SecretStr(down))
    names = [group.name for group in check.plan(separate, None, 1)]
    assert names[:4] == ["broker", "result backend", "pacer", "control plane"]
    (verdict,) = check.plan(separate, None, 1)[1].run()
    assert (verdict.check, verdict.status) == ("result backend", "fail")
    assert "CELERY_RESULT_BACKEND" in verdict.fix
    same = config(celery_broker_url=down, celery_result_backend=down, pacer_redis_url=None)
    assert [group.name for group in check.plan(same, None, 1)][:2] == ["broker", "control plane"]


def test_a_control_plane_that_is_down_fails_naming_it() -> None:
    url = f"postgresql+psycopg2://postgres:pw-secret@127.0.0.1:{closed_port()}/x"
    (verdict,) = infra.control_plane(url, 2)
    assert (verdict.status, verdict.check) == ("fail", "control plane")
    assert "DATABASE_URL" in verdict.fix
    assert "pw-secret" not in verdict.detail


def test_a_service_that_never_answers_costs_one_bounded_failure(silent_port: int) -> None:
    checks: dict[str, Callable[[], list[preflight.Verdict]]] = {
        "broker": lambda: infra.broker(f"redis://127.0.0.1:{silent_port}/0", 2),
        "control plane": lambda: infra.control_plane(
            f"postgresql+psycopg2://u@127.0.0.1:{silent_port}/x", 2
        ),
        "server s": lambda: sources.check(
            servers.Server("s", f"postgresql://u@127.0.0.1:{silent_port}/x", 1), 2
        ),
        "bot 123456": lambda: bots.me(
            config(telegram_api_url=f"http://127.0.0.1:{silent_port}"), "123456:" + "a" * 30, 2
        ),
    }
    for name, run in checks.items():
        started = time.monotonic()
        (verdict,) = run()
        assert time.monotonic() - started < 4, name
        assert (verdict.check, verdict.status) == (name, "fail")


def test_urls_are_shown_without_their_credentials() -> None:
    assert infra.where("redis://user:pw@host:6380/2") == "redis://host:6380/2"


def test_encryption_fails_unset_warns_off_and_catalog_key_warns_unset() -> None:
    (missing,) = infra.encryption(config(backup_age_recipients=()))
    assert missing.status == "fail"
    assert "the worker refuses to start" in missing.detail
    assert "BACKUP_ENCRYPTION=off" in missing.fix
    (plain,) = infra.encryption(config(backup_encryption="off"))
    assert plain.status == "warn"
    assert "BACKUP_ENCRYPTION=off: backups go to Telegram unencrypted" in plain.detail
    recipient = "age1" + "q" * 58
    (encrypted,) = infra.encryption(config(backup_age_recipients=(recipient,)))
    assert encrypted.status == "ok"
    (no_key,) = infra.catalog_key(config(catalog_key=None))
    assert no_key.status == "warn"
    assert "CATALOG_KEY" in no_key.detail
    (key,) = infra.catalog_key(config(catalog_key=SecretStr("k" * 40)))
    assert key.status == "ok"


def test_an_unreadable_identity_file_fails(tmp_path: Path) -> None:
    verdicts = infra.encryption(
        config(backup_encryption="off", backup_age_identity_file=tmp_path / "missing")
    )
    assert [v.status for v in verdicts] == ["warn", "fail"]


def test_the_spool_must_be_private_and_roomy(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    (missing,) = infra.spool_dir(root, 1000)
    assert missing.status == "warn"
    assert "does not exist yet" in missing.detail
    assert not root.exists()  # check mode creates nothing
    root.mkdir(mode=0o700)
    (fine,) = infra.spool_dir(root, 1000)
    assert fine.status == "ok"
    root.chmod(0o750)
    readable, _ = infra.spool_dir(root, 1000)
    assert readable.status == "warn"
    root.chmod(0o770)
    (shared,) = infra.spool_dir(root, 1000)
    assert shared.status == "fail"
    assert "writable by its group" in shared.detail
    assert infra.space(root, "S", 1999, 1000).status == "warn"
    assert infra.space(root, "S", 2000, 1000).status == "ok"


def test_a_symlinked_spool_fails(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    (verdict,) = infra.spool_dir(tmp_path / "link", 1000)
    assert verdict.status == "fail"
    assert "symbolic link" in verdict.detail


def test_connections_get_a_bounded_timeout() -> None:
    def timeout_of(url: str) -> str | None:
        return sources.with_timeout(source.SourceParams.from_url(url), 5).get("connect_timeout")

    assert timeout_of("postgresql://u@h/db") == "5"
    assert timeout_of("postgresql://u@h/db?connect_timeout=3") == "3"
    assert timeout_of("postgresql://u@h/db?connect_timeout=60") == "5"
    assert timeout_of("postgresql://u@h/db?connect_timeout=0") == "5"  # 0: libpq waits forever


def test_clients_too_old_for_a_server_fail_naming_the_package() -> None:
    verdict = sources.program("server s: pg_dump", "pg_dump", 990000)
    assert verdict.status == "fail"
    assert "postgresql-client-99" in verdict.detail


def test_a_superuser_role_warns_pointing_at_roles_sql() -> None:
    params = source.SourceParams.from_url("postgresql://postgres@h/db")
    assert sources.superuser("r", None, params).status == "ok"
    warned = sources.superuser("r", "postgres", params)
    assert warned.status == "warn"
    assert "backup-worker roles sql" in warned.fix


def test_unknown_servers_are_refused_before_anything_runs() -> None:
    from worker import errors

    with pytest.raises(errors.InputError, match="unknown source server 'nosuch'"):
        check.plan(config(), "nosuch", 1)


NEEDS = bots.Needs(delete=True, pin=True, catalog=True)
ADMIN = {"status": "administrator", "can_delete_messages": True, "can_pin_messages": True}


@pytest.mark.parametrize(
    ("kind", "member", "needs", "status", "said"),
    [
        ("supergroup", ADMIN, NEEDS, "ok", "administrator"),
        ("supergroup", {"status": "creator"}, NEEDS, "ok", "creator"),
        ("supergroup", {"status": "member"}, NEEDS, "fail", "can_delete_messages"),
        ("group", {"status": "restricted"}, NEEDS, "fail", "can_delete_messages"),
        ("supergroup", {"status": "left"}, NEEDS, "fail", "not in the chat"),
        ("supergroup", {**ADMIN, "can_delete_messages": False}, NEEDS, "fail", "can_delete"),
        ("supergroup", {**ADMIN, "can_pin_messages": False}, NEEDS, "fail", "can_pin_messages"),
        (
            "supergroup",
            {**ADMIN, "can_pin_messages": False},
            bots.Needs(delete=True, pin=True),
            "warn",
            "can_pin_messages",
        ),
        ("channel", ADMIN, NEEDS, "fail", "can_edit_messages"),
        ("channel", {**ADMIN, "can_edit_messages": True}, NEEDS, "ok", "administrator"),
        ("supergroup", {**ADMIN, "can_pin_messages": False}, bots.Needs(delete=True), "ok", ""),
        ("private", {}, NEEDS, "warn", "48 hours"),
        ("private", {}, bots.Needs(), "ok", "private"),  # an alert chat only receives
        ("supergroup", {"status": "member"}, bots.Needs(), "ok", "member"),  # the alert chat
    ],
)
def test_a_bot_needs_the_rights_retention_needs(
    kind: str, member: dict[str, object], needs: bots.Needs, status: str, said: str
) -> None:
    verdict = bots.rights("chat", kind, member, needs)
    assert verdict.status == status
    assert said in verdict.detail


def test_no_token_or_chat_is_one_failure() -> None:
    (group,) = bots.groups(config(telegram_bot_token=None, telegram_chat_id=None), 1)
    (verdict,) = group.run()
    assert verdict.status == "fail"
    assert "TELEGRAM_BOT_TOKEN" in verdict.detail


def test_lines_and_exit_status() -> None:
    failed = preflight.fail("broker", "cannot connect", "start it")
    warned = preflight.warn("spool", "small")
    assert check.line(failed) == "FAIL  broker: cannot connect -> start it"
    assert check.line(preflight.ok("x", "fine")) == "ok    x: fine"
    assert check.exit_status([warned], strict=False) == check.EXIT_OK
    assert check.exit_status([warned], strict=True) == common.EXIT_FAILED
    assert check.exit_status([warned, failed], strict=False) == common.EXIT_FAILED


def test_bots_and_chats_through_the_client_and_the_stand_in(tmp_path: Path) -> None:
    token, group, private = "123456:" + "b" * 30, -1001234567890, 4242
    with BotApiStandin(tokens=[token], chats=[group, private], data_dir=tmp_path) as server:
        values = {"telegram_api_url": server.url, "telegram_bot_token": SecretStr(token)}
        chats = f"{group},{private},-100777"
        planned = bots.groups(config(**values, telegram_chat_id=chats, catalog_key=None), 2)
        verdicts = preflight.run(planned, 10)
        assert [(v.check, v.status) for v in verdicts] == [
            ("bot 123456", "ok"),
            (f"chat {group} (bot 123456)", "ok"),
            (f"chat {private} (bot 123456)", "warn"),
            ("chat -100777 (bot 123456)", "fail"),
        ]
        assert "chat -100777 not found" in verdicts[3].detail
        server.set_member(group, 123456, "administrator", can_pin_messages=False)
        keyed = config(**values, telegram_chat_id=str(group), catalog_key=SecretStr("k" * 40))
        (_, pin) = preflight.run(bots.groups(keyed, 2), 10)
        assert pin.status == "fail"
        assert "can_pin_messages" in pin.detail
        retired = config(
            **values, telegram_chat_id=f"{group},{private}", telegram_retired_chat_ids=(str(group),)
        )
        (_, old, _) = preflight.run(bots.groups(retired, 2), 10)
        assert old.status == "warn"  # a retired chat gets its catalog too (no key: a warning)
        server.set_member(group, 123456, "member")
        alerting = config(
            **values, telegram_chat_id=str(private), telegram_alert_chat_id=str(group)
        )
        (_, _, alerts) = preflight.run(bots.groups(alerting, 2), 10)
        assert (alerts.check, alerts.status) == (f"alert chat {group} (bot 123456)", "ok")


def test_only_the_first_bot_needs_the_pin_right(tmp_path: Path) -> None:
    first, second = "123456:" + "b" * 30, "654321:" + "c" * 30
    group = -1001234567890
    with BotApiStandin(tokens=[first, second], chats=[group], data_dir=tmp_path) as server:
        server.set_member(group, 654321, "administrator", can_pin_messages=False)
        both = config(
            telegram_api_url=server.url,
            telegram_bot_token=SecretStr(f"{first},{second}"),
            telegram_chat_id=str(group),
            catalog_key=SecretStr("k" * 40),
        )
        verdicts = preflight.run(bots.groups(both, 2), 10)
        assert [(v.check, v.status) for v in verdicts] == [
            ("bot 123456", "ok"),
            (f"chat {group} (bot 123456)", "ok"),
            ("bot 654321", "ok"),
            (f"chat {group} (bot 654321)", "ok"),  # it never pins: the first bot does
        ]
        server.set_member(group, 654321, "administrator", can_delete_messages=False)
        (*_, deleting) = preflight.run(bots.groups(both, 2), 10)
        assert deleting.status == "fail"


def test_servers_of_a_registry_file(tmp_path: Path) -> None:
    registry = tmp_path / "servers.toml"
    registry.write_text(
        '[servers.alpha]\nurl = "postgresql://u@127.0.0.1:1/a"\n'
        '[servers.beta]\nurl = "postgresql://u@127.0.0.1:1/b"\n'
    )
    names = [g.name for g in sources.groups(config(source_servers_file=registry), None, 1)]
    assert names == ["server alpha", "server beta", "server default"]
    only = sources.groups(config(source_servers_file=registry), "beta", 1)
    assert [g.name for g in only] == ["server beta"]
    drill = sources.groups(config(source_servers_file=registry, drill_server="gamma"), None, 1)
    (verdict,) = drill[-1].run()
    assert verdict.status == "fail"
    assert "DRILL_SERVER=gamma" in verdict.detail
    registry.write_text("[servers.alpha]\nport = 5\n")
    (broken,) = sources.groups(config(source_servers_file=registry), None, 1)
    (verdict,) = broken.run()
    assert (verdict.check, verdict.status) == ("servers", "fail")
    assert "unknown key(s) port" in verdict.detail
