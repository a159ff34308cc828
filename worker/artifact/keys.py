"""age identities (private keys) for decrypting backups, read from BACKUP_AGE_IDENTITY_FILE.

The file is the one `age -d -i FILE` reads: `AGE-SECRET-KEY-1...` lines (comments with `#`),
as `age-keygen` writes it, or one unencrypted OpenSSH private key. No message ever shows a key.
"""

from __future__ import annotations

from pathlib import Path

import pyrage

from worker import errors

SETTING = "BACKUP_AGE_IDENTITY_FILE"
MAX_FILE_BYTES = 1 << 20  # an identity file is a few hundred bytes; refuse anything absurd
_SSH_BEGIN = b"-----BEGIN "


def load(path: Path | None) -> list[object]:
    """The pyrage identities in `path`; ConfigError naming the setting when unusable."""
    if path is None:
        raise errors.ConfigError(
            f"{SETTING} is not set: this backup is encrypted, so restoring or verifying it "
            "needs the age private key of one of its recipients"
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise errors.ConfigError(
            f"{SETTING}: cannot read {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise errors.ConfigError(f"{SETTING}: {path} is too large to be an age identity file")
    identities = parse(data, str(path))
    if not identities:
        raise errors.ConfigError(f"{SETTING}: {path} holds no age identity (AGE-SECRET-KEY-1...)")
    return identities


def parse(data: bytes, where: str = "the identity file") -> list[object]:
    """Identities from the bytes of an identity file; ConfigError without echoing a key."""
    if data.lstrip().startswith(_SSH_BEGIN):
        try:
            return [pyrage.ssh.Identity.from_buffer(data)]
        except (pyrage.IdentityError, ValueError, TypeError):
            raise errors.ConfigError(
                f"{SETTING}: {where} is not an unencrypted OpenSSH private key "
                "(passphrase-protected keys are not supported)"
            ) from None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{SETTING}: {where} is not a text file of age keys") from None
    identities: list[object] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("AGE-PLUGIN-"):
            raise errors.ConfigError(
                f"{SETTING}: line {number} of {where} is an age plugin identity; "
                "plugins are not supported, use an X25519 key from age-keygen"
            )
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except (pyrage.IdentityError, ValueError, TypeError):
            hint = " (a public key: put the matching secret key here)" if line[:4] == "age1" else ""
            raise errors.ConfigError(
                f"{SETTING}: line {number} of {where} is not an age secret key{hint}; "
                "the value is not shown"
            ) from None
    return identities
