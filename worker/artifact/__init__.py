"""The artifact: the one streaming pass (zstd, age, SHA-256, parts), manifest, unpack, keys.

An adapter: may import db and the bottom layer (worker.errors, worker.settings,
worker.redact); today only worker.errors. Not worker.telegram or worker.postgres (independent
siblings), nothing above.
"""

from __future__ import annotations
