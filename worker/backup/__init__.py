"""TODO package docstring."""

from __future__ import annotations
