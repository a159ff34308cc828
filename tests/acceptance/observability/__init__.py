"""Acceptance tests of what operators watch and recover from: Prometheus, the catalog."""

from __future__ import annotations
