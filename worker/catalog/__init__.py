"""The catalog Telegram keeps: every active backup and its parts, pinned in each backup chat.

document (the catalog's rows as JSON, and back into rows), sign (HMAC-SHA256 with CATALOG_KEY:
the chat is untrusted), head (the small signed document that is pinned), publish (build it, send
it in parts with its head, record their ids, delete the previous catalog's recorded messages),
recover (getChat → a head one of the worker's bots pinned → its MAC → parts → the document's
MAC → rows in an empty control-plane database).

A layer of its own above backup | restore | scheduling: it downloads with worker.restore.fetch
and may import worker.jobs, worker.artifact, worker.telegram, db and the bottom layer; tasks and
the CLI call it.
"""

from __future__ import annotations
