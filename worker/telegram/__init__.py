"""The Telegram Bot API client: transport, answers mapped onto errors, typed results.

An adapter: may import db and the bottom layer (worker.errors, worker.settings,
worker.redact); today only worker.errors. Not worker.artifact or worker.postgres (independent
siblings), nothing above.
"""

from __future__ import annotations
