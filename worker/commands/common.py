"""What every backup-worker command shares: output, error handling, the runtime."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from worker import errors, runtime, settings

P = ParamSpec("P")
R = TypeVar("R")
EXIT_FAILED = 1  # the job ended failed or cancelled
EXIT_ERROR = 2  # bad input or configuration: nothing was started
EXIT_TIMEOUT = 3  # --wait gave up before the job ended

out = Console(soft_wrap=True)
err = Console(stderr=True)


def emit(payload: object, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(payload, default=str, sort_keys=True))
    else:
        out.print_json(data=payload, default=str)


def guard(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into a clear message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except errors.BackupWorkerError as exc:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": exc.message, "status": "error"}))
            else:
                err.print(f"[red]error:[/red] {exc.message}", highlight=False)
            sys.exit(EXIT_ERROR)

    return wrapper


def build_runtime() -> runtime.Runtime:
    return runtime.build(settings.current())
