"""The least-privilege SQL `backup-worker roles sql` prints."""

from __future__ import annotations

import pytest

from worker import errors
from worker.postgres import privileges


def test_the_sql_grants_each_owner_and_only_asks_for_what_a_duty_needs() -> None:
    text = privileges.setup_sql("bw", ("shop", "blog"))
    statements = [line for line in text.splitlines() if line and not line.startswith("--")]
    assert statements == [
        "CREATE ROLE bw LOGIN PASSWORD 'change-me' BYPASSRLS;",
        "GRANT pg_read_all_data TO bw;",
        "ALTER ROLE bw CREATEDB CREATEROLE;",
        "GRANT pg_signal_backend TO bw;",
        "GRANT shop TO bw WITH ADMIN OPTION;",
        "GRANT blog TO bw WITH ADMIN OPTION;",
    ]
    assert "SUPERUSER" not in text


def test_a_drill_server_role_needs_no_owner() -> None:
    text = privileges.setup_sql(drills="scratch")
    assert "CREATE ROLE scratch LOGIN PASSWORD 'change-me' CREATEDB CREATEROLE BYPASSRLS;" in text
    assert "GRANT <project_owner> TO backup_worker WITH ADMIN OPTION;" in text


@pytest.mark.parametrize("name", ["Bad", "x; DROP ROLE postgres", "1st", "a" * 64, ""])
def test_a_role_name_sql_would_need_quoted_is_refused(name: str) -> None:
    with pytest.raises(errors.InputError, match="role name"):
        privileges.setup_sql(name)
