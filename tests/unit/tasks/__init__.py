"""Unit tests of tasks/: the Celery glue."""

from __future__ import annotations
