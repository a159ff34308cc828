"""How far a pg_restore is: its --verbose lines and its COPYs' bytes against the tables' sizes."""

from __future__ import annotations

import pytest

from worker import errors
from worker.postgres import advance, pgrestore, source, toc

TABLES = [toc.Table(3349, "public.a", 1000), toc.Table(3350, "public.b", 100)]
TABLES += [toc.Table(3351, "s.c", 10)]

# What pg_restore 15 -v -j2 printed for a database of these three tables (the dump ids are its).
PARALLEL = """\
pg_restore: connecting to database for restore
pg_restore: processing item 3357 DATABASE progress_src
pg_restore: processing item 215 TABLE a
pg_restore: creating TABLE "public.a"
pg_restore: entering main parallel loop
pg_restore: launching item 3349 TABLE DATA a
pg_restore: launching item 3350 TABLE DATA b
pg_restore: processing data for table "public.b"
pg_restore: processing data for table "public.a"
pg_restore: finished item 3350 TABLE DATA b
pg_restore: launching item 3351 TABLE DATA c
pg_restore: processing data for table "s.c"
pg_restore: finished item 3351 TABLE DATA c
pg_restore: finished item 3349 TABLE DATA a
pg_restore: launching item 3206 CONSTRAINT a a_pkey
pg_restore: creating CONSTRAINT "public.a a_pkey"
pg_restore: finished item 3206 CONSTRAINT a a_pkey
pg_restore: finished main parallel loop""".splitlines()

# The same with -j1: no dump ids, and nothing said when a table's data ends.
SERIAL = """\
pg_restore: connecting to database for restore
pg_restore: creating TABLE "s.c"
pg_restore: processing data for table "public.a"
pg_restore: processing data for table "public.b"
pg_restore: processing data for table "s.c"
pg_restore: creating CONSTRAINT "public.a a_pkey\"""".splitlines()


def fed(lines: list[str]) -> list[int]:
    """The bytes done after each line."""
    measure = advance.Advance(TABLES)
    done = []
    for line in lines:
        measure.line(line)
        done.append(measure.done())
    return done


def test_parallel_tables_count_once_finished() -> None:
    done = fed(PARALLEL)
    assert done[PARALLEL.index("pg_restore: finished item 3350 TABLE DATA b")] == 100
    assert done[PARALLEL.index("pg_restore: finished item 3351 TABLE DATA c")] == 110
    assert done[-1] == 1110
    assert done == sorted(done)


def test_serial_tables_count_once_the_next_line_comes() -> None:
    done = fed(SERIAL)
    assert done == [0, 0, 0, 1000, 1100, 1110]


def test_running_copies_count_up_to_the_size_of_the_tables_being_loaded() -> None:
    measure = advance.Advance(TABLES)
    for line in PARALLEL[: PARALLEL.index("pg_restore: processing data for table " + '"public.a"')]:
        measure.line(line)
    measure.copying(550)
    assert measure.done() == 550  # a and b are loading: 1,100 bytes at most
    measure.copying(5000)
    assert measure.done() == 1100
    measure.line("pg_restore: finished item 3350 TABLE DATA b")
    measure.copying(0)  # b's COPY is gone, a's ended before its line came
    assert measure.done() == 1100  # never backwards
    measure.finish()
    assert measure.done() == measure.total == 1110


def test_an_unknown_table_or_no_tables_at_all_measure_nothing() -> None:
    measure = advance.Advance([])
    measure.line('pg_restore: processing data for table "public.gone"')
    measure.copying(10)
    measure.finish()
    assert (measure.done(), measure.total) == (0, 0)


@pytest.mark.parametrize("line", [*PARALLEL, *SERIAL])
def test_verbose_lines_are_chatter(line: str) -> None:
    assert advance.Advance(TABLES).line(line)


@pytest.mark.parametrize(
    "line",
    [
        "pg_restore: error: could not execute query: ERROR:  must be owner of table a",
        "pg_restore: from TOC entry 3349; 0 21712 TABLE DATA a postgres",
        "pg_restore: warning: errors ignored on restore: 6",
        "DETAIL:  Key (i)=(1) already exists.",
    ],
)
def test_errors_are_not_chatter(line: str) -> None:
    assert not advance.Advance(TABLES).line(line)


def test_a_failure_message_leaves_the_chatter_out() -> None:
    params = source.SourceParams.from_url("postgresql://u:pw@127.0.0.1:5432/postgres")
    script = (
        "for i in $(seq 3000); do echo 'pg_restore: processing item 1 TABLE t' >&2; done; "
        "echo 'pg_restore: error: could not execute query: ERROR:  boom' >&2; exit 1"
    )
    seen: list[str] = []

    def on_line(line: str) -> bool:
        seen.append(line)
        return advance.Advance(TABLES).line(line)

    with (
        pytest.raises(errors.RestoreError, match="boom") as failed,
        pgrestore.running(params, ["-c", script], program="/bin/sh", on_line=on_line),
    ):
        pass
    assert "processing item" not in str(failed.value)
    assert len(seen) == 3001
