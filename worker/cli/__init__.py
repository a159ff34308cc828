"""The `backup-worker` command: the group (main, lazy), the shared output and the progress view
(common, follow), the demo and migrate; the command groups in commands/.

The top layer: it may import everything below it (tasks, worker.app to send tasks, the domain
packages, worker.jobs, db, worker.settings, worker.errors); no package below imports it.
"""

from __future__ import annotations
