"""Unit tests of worker.postgres."""

from __future__ import annotations
