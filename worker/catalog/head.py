"""The catalog's head: the small signed JSON document that is pinned, naming the catalog's parts.

The catalog itself (zstd, age when recipients are set) may be larger than one Telegram part, so
it is sent as parts like a backup; the head lists their file ids and checksums and is the one
message pinned. It holds no backup data: file ids, sizes, checksums, the recipients' public keys.

The pinned file is an envelope: {"format", "version", "key_id", "mac", "head"}, where "head" is
the head's JSON as a string and "mac" the HMAC of exactly those bytes (worker.catalog.sign). The
head carries the chat it was published in and the MAC of the catalog document, so a head and its
catalog authenticate together, and only in their own chat.
"""

from __future__ import annotations

import dataclasses
import json

from worker import errors
from worker.artifact import manifest
from worker.catalog import sign
from worker.restore import fetch
from worker.telegram import results

FORMAT = "backup-worker-catalog-head"
VERSION = 2  # 1: unsigned, refused
NAME_PREFIX = "backup-worker-catalog-"  # + fingerprint + ".json": the head's file name
MAX_BYTES = 1 << 20  # a head names a few parts: a larger pinned document is not one
WHAT = "the pinned catalog"


@dataclasses.dataclass(frozen=True)
class Head:
    """What the pinned document says, once authenticated."""

    fingerprint: str
    chat_id: str
    backups: int
    compression: str
    encrypted: bool
    recipients: tuple[str, ...]
    size_bytes: int
    sha256: str
    parts: tuple[fetch.RemotePart, ...]
    document_key_id: str
    document_mac: str  # of the catalog document's bytes (before zstd and age)

    @classmethod
    def of(
        cls,
        chat_id: str,
        fingerprint: str,
        backups: int,
        artifact: manifest.Artifact,
        sent: list[results.SentDocument],
        mac: tuple[str, str],
    ) -> Head:
        """The head of a catalog artifact whose parts were sent as `sent`, in order; `mac` is
        (key id, MAC) of the catalog document."""
        parts = tuple(
            fetch.RemotePart(part.index, doc.file_id, part.size_bytes, part.sha256)
            for part, doc in zip(artifact.parts, sent, strict=True)
        )
        return cls(
            fingerprint=fingerprint,
            chat_id=chat_id,
            backups=backups,
            compression=artifact.compression,
            encrypted=artifact.encrypted,
            recipients=artifact.recipients,
            size_bytes=artifact.size_bytes,
            sha256=artifact.sha256,
            parts=parts,
            document_key_id=mac[0],
            document_mac=mac[1],
        )

    def remote(self) -> fetch.RemoteArtifact:
        """The catalog artifact, for worker.restore.fetch."""
        return fetch.RemoteArtifact("the catalog", self.size_bytes, self.sha256, self.parts)

    def verify_document(self, keys: sign.Keys, data: bytes) -> None:
        """InputError unless `data` is the catalog document this head signed."""
        keys.verify(sign.DOCUMENT, data, self.document_key_id, self.document_mac, "the catalog")

    def dumps(self, keys: sign.Keys) -> bytes:
        """The signed envelope, as pinned."""
        body = dataclasses.asdict(self)
        # The catalog's own parts have one copy (its chat's): the head keeps the format that
        # workers before copies read.
        body["parts"] = [
            {key: value for key, value in dataclasses.asdict(part).items() if key != "copies"}
            for part in self.parts
        ]
        signed = json.dumps(body, indent=1, sort_keys=True)  # ASCII: its bytes survive JSON
        key_id, mac = keys.sign(sign.HEAD, signed.encode())
        envelope = {"format": FORMAT, "version": VERSION, "key_id": key_id, "mac": mac}
        return json.dumps({**envelope, "head": signed}, indent=1).encode()

    @classmethod
    def loads(cls, data: bytes, keys: sign.Keys) -> Head:
        """An authenticated head; InputError when it is not one, unsigned, or not ours."""
        try:
            envelope = json.loads(data)
        except ValueError:
            raise errors.InputError("the pinned document is not a catalog head") from None
        if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
            raise errors.InputError("the pinned document is not a backup-worker catalog")
        signed = envelope.get("head")
        if envelope.get("version") != VERSION or not isinstance(signed, str):
            raise errors.InputError(
                f"{WHAT} is not signed (version {envelope.get('version')}: published before "
                "CATALOG_KEY, or forged); refusing it: publish again with CATALOG_KEY set"
            )
        keys.verify(sign.HEAD, signed.encode(), envelope.get("key_id"), envelope.get("mac"), WHAT)
        try:  # authenticated, so written by this worker: only another version differs
            body = json.loads(signed)
            body["parts"] = tuple(fetch.RemotePart(**part) for part in body["parts"])
            body["recipients"] = tuple(body["recipients"])
            return cls(**body)
        except (ValueError, KeyError, TypeError) as exc:
            raise errors.InputError(f"{WHAT} is not one this version reads: {exc}") from None
