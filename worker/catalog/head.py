"""The catalog's head: the small JSON document that is pinned, naming the catalog's parts.

The catalog itself (zstd, age when recipients are set) may be larger than one Telegram part, so
it is sent as parts like a backup; the head lists their file ids and checksums and is the one
message pinned. It holds no backup data: file ids, sizes, checksums, the recipients' public keys.
"""

from __future__ import annotations

import dataclasses
import json

from worker import errors
from worker.artifact import manifest
from worker.restore import fetch
from worker.telegram import results

FORMAT = "backup-worker-catalog-head"
VERSION = 1
NAME_PREFIX = "backup-worker-catalog-"  # + fingerprint + ".json": the head's file name


@dataclasses.dataclass(frozen=True)
class Head:
    """What the pinned document says."""

    fingerprint: str
    backups: int
    compression: str
    encrypted: bool
    recipients: tuple[str, ...]
    size_bytes: int
    sha256: str
    parts: tuple[fetch.RemotePart, ...]
    message_ids: tuple[int, ...]  # of the parts, to delete them once superseded

    @classmethod
    def of(
        cls,
        fingerprint: str,
        backups: int,
        artifact: manifest.Artifact,
        sent: list[results.SentDocument],
    ) -> Head:
        """The head of a catalog artifact whose parts were sent as `sent`, in order."""
        parts = tuple(
            fetch.RemotePart(part.index, doc.file_id, part.size_bytes, part.sha256)
            for part, doc in zip(artifact.parts, sent, strict=True)
        )
        return cls(
            fingerprint=fingerprint,
            backups=backups,
            compression=artifact.compression,
            encrypted=artifact.encrypted,
            recipients=artifact.recipients,
            size_bytes=artifact.size_bytes,
            sha256=artifact.sha256,
            parts=parts,
            message_ids=tuple(doc.message_id for doc in sent),
        )

    def remote(self) -> fetch.RemoteArtifact:
        """The catalog artifact, for worker.restore.fetch."""
        return fetch.RemoteArtifact("the catalog", self.size_bytes, self.sha256, self.parts)

    def dumps(self) -> bytes:
        """The head as JSON."""
        body = dataclasses.asdict(self)
        body["parts"] = [dataclasses.asdict(part) for part in self.parts]
        return json.dumps({"format": FORMAT, "version": VERSION, **body}, indent=1).encode()

    @classmethod
    def loads(cls, data: bytes) -> Head:
        """A head read back; InputError when the document is not one."""
        try:
            body = json.loads(data)
        except ValueError:
            raise errors.InputError("the pinned document is not a catalog head") from None
        if not isinstance(body, dict) or body.pop("format", None) != FORMAT:
            raise errors.InputError("the pinned document is not a backup-worker catalog")
        if body.pop("version", None) != VERSION:
            raise errors.InputError("the catalog head's version is not understood")
        try:
            body["parts"] = tuple(fetch.RemotePart(**part) for part in body["parts"])
            body["recipients"] = tuple(body["recipients"])
            body["message_ids"] = tuple(body["message_ids"])
            return cls(**body)
        except (KeyError, TypeError) as exc:
            raise errors.InputError(f"the catalog head is incomplete: {exc}") from None
