"""Acceptance tests of several source servers: registry, whole-server backups, slots."""

from __future__ import annotations
