"""The restore step tests' fixtures (a runtime with a Bot API stand-in, a source, targets)."""

from __future__ import annotations

from tests.integration.restore.test_steps import env, source_db, targets

__all__ = ["env", "source_db", "targets"]
