"""The catalog's authentication: HMAC-SHA256 with a key of the deployment's CATALOG_KEY.

The chat is untrusted (any member may post, any admin may pin), so the worker believes a catalog
only when its bytes carry a MAC made with a key it holds. There are two, each over exact bytes:
the head's (the pinned document) and the catalog document's (as it was before zstd and age),
each under a label of its own, so that one can never stand for the other.

Rotation: CATALOG_KEY lists keys, comma-separated; the first signs, every one verifies. Put the
new key first: the next publish re-signs every chat's catalog (a catalog signed with another key
than the first counts as changed); once it ran, drop the old key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Sequence

from worker import errors

HEAD = b"backup-worker-catalog-head\x00"
DOCUMENT = b"backup-worker-catalog-document\x00"
_KEY_ID = b"backup-worker-catalog-key-id\x00"


def key_id(key: bytes) -> str:
    """A short public name of a key (a hash of it), to say which key signed."""
    return hashlib.sha256(_KEY_ID + key).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Keys:
    """The configured keys: the first signs, each verifies."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise errors.ConfigError(
                "CATALOG_KEY is not set: the catalog cannot be signed or authenticated"
            )

    @classmethod
    def of(cls, keys: Sequence[bytes]) -> Keys:
        """The keys of the configuration; ConfigError when there is none."""
        return cls(tuple(keys))

    def sign(self, label: bytes, data: bytes) -> tuple[str, str]:
        """(the signing key's id, the hex MAC of `data` under `label`)."""
        key = self.keys[0]
        return key_id(key), hmac.new(key, label + data, hashlib.sha256).hexdigest()

    def verify(self, label: bytes, data: bytes, signer: object, mac: object, what: str) -> None:
        """InputError unless `mac` is the MAC of `data` with the key named `signer`."""
        by_id = {key_id(key): key for key in self.keys}
        key = by_id.get(str(signer))
        if key is None:
            raise errors.InputError(
                f"{what} cannot be authenticated: it was signed with a key that is not in "
                "CATALOG_KEY (another deployment's, or a key rotated out); refusing it"
            )
        expected = hmac.new(key, label + data, hashlib.sha256).hexdigest()
        if not isinstance(mac, str) or not hmac.compare_digest(expected, mac):
            raise errors.InputError(
                f"{what} cannot be authenticated with CATALOG_KEY: its MAC does not match "
                "(altered or forged); refusing it"
            )
