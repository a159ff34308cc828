"""The subcommands of `backup-worker`, one module per command group, each imported only
when its command runs (worker.cli.lazy).

May import worker.cli's own helpers (common, follow), tasks' layers below and db.
"""

from __future__ import annotations
