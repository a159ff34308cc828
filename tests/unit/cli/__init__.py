"""Unit tests of worker.cli: lazy commands, fast exit."""

from __future__ import annotations
