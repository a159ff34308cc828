"""The catalog Telegram keeps: every active backup and its parts, pinned in each backup chat.

document (the catalog's rows as JSON, and back into rows), publish (build it, send it in parts
with a small pinned head, drop the previous one), recover (getChat → pinned head → parts →
rows in an empty control-plane database).

A layer of its own above backup | restore | scheduling: it downloads with worker.restore.fetch
and may import worker.jobs, worker.artifact, worker.telegram, db and the bottom layer; tasks and
the CLI call it.
"""

from __future__ import annotations
