"""The `backup-worker` command: one module per command group, the progress view, the demo.

The top layer: it may import everything below it (tasks, worker.app to send tasks, the domain
packages, worker.jobs, db, worker.settings, worker.errors); no package below imports it.
"""

from __future__ import annotations
