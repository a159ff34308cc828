"""What every backup-worker command shares: output, error handling, the runtime.

rich is imported on first use only (`out`, `err`, tables, --wait's progress bar): an enqueue
with --json prints one line of JSON and needs none of rich's ~20 ms of imports.
"""

from __future__ import annotations

import functools
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import click

from worker import errors, settings
from worker.jobs import runtime

if TYPE_CHECKING:
    from rich.console import Console

    out: Console  # stdout, for people (tables, pretty JSON)
    err: Console  # stderr: errors, progress

P = ParamSpec("P")
R = TypeVar("R")
# The exit statuses, documented in docs/getting-started.md (a unit test keeps the two equal).
EXIT_OK = 0  # done: the job completed, or was queued (without --wait)
EXIT_FAILED = 1  # the job ended failed or cancelled
EXIT_ERROR = 2  # refused: bad input or configuration, unknown id, no migrations; nothing started
EXIT_TIMEOUT = 3  # --wait gave up before the job ended; the job goes on
EXIT_UNAVAILABLE = 4  # the broker or the control plane cannot be reached: try again
EXIT_BUG = 5  # an unexpected error (a bug): `backup-worker --debug` shows the traceback
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)
# Raised by click itself (usage errors, --help, Ctrl-C at a prompt): click reports those.
_CLICKS_OWN = (click.exceptions.Exit, click.ClickException, click.Abort)


@functools.cache
def _console(name: str) -> Console:
    from rich.console import Console

    return Console(soft_wrap=True) if name == "out" else Console(stderr=True)


def __getattr__(name: str) -> Console:
    """`out` and `err`, the rich consoles, built the first time a command prints through one."""
    if name in ("out", "err"):
        return _console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def emit(payload: object, as_json: bool) -> None:
    """One JSON object with --json; for people, the same as `key  value` lines."""
    if as_json:
        click.echo(json.dumps(payload, default=str, sort_keys=True))
    else:
        from worker.cli import outcome

        for line in outcome.plain_lines(payload):
            click.echo(line)


def guard(func: Callable[P, R]) -> Callable[P, R]:
    """The CLI's one boundary: any failure becomes one line (worker.cli.failure) and its exit
    status; with --json, the object `{"error", "exit_code", "status": "error"}` on stdout."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (SystemExit, *_CLICKS_OWN):
            raise
        # Anything, Ctrl-C too: the boundary's job is that no traceback reaches the operator.
        except BaseException as exc:  # noqa: BLE001
            fail(exc, as_json=bool(kwargs.get("as_json")))

    return wrapper


def fail(exc: BaseException, *, as_json: bool) -> NoReturn:
    """Print `exc` as its one line (and, with --debug, its traceback) and exit."""
    from worker.cli import failure

    found = failure.translate(exc)
    if _debug():
        click.echo(failure.traceback_text(exc), err=True, nl=False)
    if as_json:
        payload = {"error": found.message, "exit_code": found.exit_code, "status": "error"}
        click.echo(json.dumps(payload))
    else:
        click.echo(f"{click.style('error:', fg='red')} {found.message}", err=True)
    sys.exit(found.exit_code)


def _debug() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("debug"))


def build_runtime() -> runtime.Runtime:
    return runtime.build(settings.current())


Row = dict[str, object]
Column = tuple[str, Callable[[Row], str]]


def emit_rows(key: str, rows: list[Row], columns: Sequence[Column], as_json: bool) -> None:
    """`{key: rows}` as JSON, or a table with one line per row."""
    if as_json:
        emit({key: rows}, True)
        return
    from rich.table import Table

    table = Table(*(header for header, _ in columns))
    for row in rows:
        table.add_row(*(cell(row) for _, cell in columns))
    _console("out").print(table)


def summary(job_id: uuid.UUID, state: Row, key: str) -> Row:
    """The job's outcome as `--wait --json` prints it; `key` names its result (e.g. backup)."""
    outcome: Row = {
        "job_id": str(job_id),
        "status": state["status"],
        "stage": state["stage"],
        "progress": state["progress"],
        "error": state["error"],
    }
    result = state.get("result")
    if isinstance(result, dict) and key in result:
        outcome[key] = result[key]
    return outcome


def follow(
    rt: runtime.Runtime,
    job_id: uuid.UUID,
    *,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    key: str,
) -> None:
    """Print the job (after following it with --wait) and exit with its outcome."""
    if not wait and as_json:
        emit({"job_id": str(job_id), "status": "pending"}, True)
        return
    from worker.cli import outcome

    if not wait:
        outcome.echo(outcome.queued(job_id))
        return
    from worker.cli import follow as watch

    if not as_json:
        _console("err").print(f"job {job_id}", highlight=False)
    state = watch.wait(rt.database, job_id, console=_console("err"), timeout=timeout)
    if state is None:
        raise errors.NotFoundError(f"job {job_id} disappeared")
    if as_json:
        emit(summary(job_id, state, key), True)
    else:
        outcome.echo(outcome.job_lines(state, key))
    if state["status"] != "completed":
        sys.exit(EXIT_FAILED if state["status"] in watch.FINISHED else EXIT_TIMEOUT)
