"""pg_restore's arguments for a restore with the owner's rights, and what a refusal says."""

from __future__ import annotations

from worker.postgres import pgrestore, source

PARAMS = source.SourceParams.from_url("postgresql://bw_restore_0123abcd:s3cret@db:5432/postgres")


def test_a_restore_sets_the_owners_role_and_no_owner_of_the_archive() -> None:
    args = pgrestore.into_database(PARAMS, "shop", "/spool/a.dump", 2, role="shop_owner")
    assert "--no-owner" in args
    assert "--role=shop_owner" in args
    assert "--no-privileges" not in args
    assert not any("s3cret" in arg for arg in args)


def test_a_drill_skips_the_archives_grants_and_sets_no_role() -> None:
    args = pgrestore.into_database(PARAMS, "shop__drill_0123abcd", "/a", 1, privileges=False)
    assert "--no-owner" in args
    assert "--no-privileges" in args
    assert not any(arg.startswith("--role") for arg in args)


def test_what_needs_superuser_rights_is_named() -> None:
    said = {
        "pg_restore: error: could not execute query: ERROR:  permission denied for language "
        "internal\nCommand was: CREATE FUNCTION public.len(text)": (
            "a function in language internal"
        ),
        "pg_restore: error: could not execute query: ERROR:  permission denied to create "
        'extension "plpython3u"\nHINT:  Must be superuser to create this extension.': (
            "extension plpython3u"
        ),
        "pg_restore: error: could not execute query: ERROR:  permission denied to create event "
        'trigger "audit"\nHINT:  Must be superuser to create an event trigger.': (
            "event trigger audit"
        ),
    }
    for stderr, what in said.items():
        message = pgrestore.describe(PARAMS, stderr)
        assert message.startswith(f"{what} needs superuser rights to restore; "), message
        assert "the worker restores with the owner's rights only" in message


def test_other_failures_are_told_as_before() -> None:
    message = pgrestore.describe(PARAMS, 'pg_restore: error: role "app" does not exist')
    assert "superuser" not in message
    assert 'role "app"' in message
