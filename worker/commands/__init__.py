"""The subcommands of `backup-worker`, one module per concern."""

from __future__ import annotations
