"""Integration tests of worker.postgres: real PostgreSQL and Redis."""

from __future__ import annotations
