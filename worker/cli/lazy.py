"""A click group whose commands are imported only when one of them runs.

click's documented LazyGroup pattern (click.palletsprojects.com, "Lazily Loading Subcommands"),
plus one step: `--help` lists each command by a summary kept beside its import path, because
the plain pattern imports every command to ask for its help line, and the commands' modules pull
in SQLAlchemy, Celery and rich, which cost far more than the listing itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Entry:
    """Where a command lives ("package.module:attribute"), and the first paragraph of its
    docstring, which `--help` shows (a unit test keeps the two in step)."""

    target: str
    summary: str


class LazyGroup(click.Group):
    """A click.Group that imports `lazy[name].target` the first time `name` is looked up."""

    # The other arguments are click.Group's own, passed through as they come (typed Any there).
    def __init__(self, *args: Any, lazy: Mapping[str, Entry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(load(self.lazy[cmd_name].target), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, over stand-ins that carry the summaries: the same layout and
        # truncation as for the real commands, without importing them.
        listed = click.Group(self.name, commands=self.listing(ctx))
        listed.format_commands(ctx, formatter)

    def listing(self, ctx: click.Context) -> Sequence[click.Command]:
        """The commands already loaded, and a stand-in for each of the others."""
        return [
            self.commands.get(name) or click.Command(name, help=self.lazy[name].summary)
            for name in self.list_commands(ctx)
        ]


def load(target: str) -> click.Command:
    """The click command at "package.module:attribute"."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command
