"""Acceptance tests of fleet-scale Telegram: shared budgets, several bots and chats, queues."""

from __future__ import annotations
