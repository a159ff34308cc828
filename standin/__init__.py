"""A local stand-in for the Telegram Bot API, for tests and demos: see standin.server."""

from __future__ import annotations
