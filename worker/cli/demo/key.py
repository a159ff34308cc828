"""The demo's age key: created once under .demo/, readable by its owner only, used to encrypt
the demo's backups and to decrypt them on restore."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
from rich.console import Console

from worker import errors

KEY_NAME = "age-key.txt"


def ensure(directory: Path, console: Console) -> Path:
    """The key file in `directory`, created (mode 0600) when missing; the worker's settings
    point at it through the environment (BACKUP_AGE_RECIPIENTS, BACKUP_AGE_IDENTITY_FILE)."""
    path = directory / KEY_NAME
    directory.mkdir(exist_ok=True)
    if not path.exists():
        identity = pyrage.x25519.Identity.generate()
        text = f"# public key: {identity.to_public()}\n{identity}\n"
        # O_EXCL and the mode at creation: the secret is never readable by others, not even
        # for the moment between a write and a chmod.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        console.print(f"created the demo's age key {path}")
    recipient = public_key(path)
    console.print(
        f"backups are encrypted to {recipient}; keep a copy of {path} somewhere safe "
        "(a password manager): without it they cannot be restored"
    )
    # Over .env too: an operator's BACKUP_ENCRYPTION=off there is not the demo's.
    os.environ.update(
        BACKUP_ENCRYPTION="age",
        BACKUP_AGE_RECIPIENTS=recipient,
        BACKUP_AGE_IDENTITY_FILE=str(path.resolve()),
    )
    return path


def public_key(path: Path) -> str:
    """The recipient (age1...) of the identity in the key file."""
    for line in path.read_text().splitlines():
        if line.startswith("AGE-SECRET-KEY-"):
            return str(pyrage.x25519.Identity.from_str(line.strip()).to_public())
    raise errors.ConfigError(f"{path} holds no age identity (AGE-SECRET-KEY-...): remove it")
