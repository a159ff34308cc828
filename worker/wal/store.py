"""Artifacts to and from Telegram for the WAL side: the backups' own stream, upload and fetch.

Bundles and base backups go through worker.artifact (zstd, age, SHA-256, parts) and
worker.backup.upload (the fleet pacer), and come back through worker.restore.fetch (each part's
size and SHA-256 checked, then the whole artifact's) and worker.artifact.unpack.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from db.columns import JSONObject
from worker.artifact import keys as identity
from worker.artifact import stream as artifact
from worker.artifact import unpack
from worker.backup import upload
from worker.jobs.runtime import Runtime
from worker.restore import fetch
from worker.telegram import sender as fleetsender


@dataclass(frozen=True)
class Stored:
    """An artifact in Telegram, as its record keeps it."""

    size_bytes: int
    sha256: str
    compression: str
    encrypted: bool
    parts: list[JSONObject]


@dataclass
class Store:
    """Where WAL artifacts go and come from."""

    sender: fleetsender.Sender
    where: upload.Destination
    clients: fetch.Clients
    spool_dir: Path
    part_size: int
    recipients: Sequence[str] = ()
    identity_file: Path | None = None
    zstd_level: int = 3

    @classmethod
    def from_runtime(cls, rt: Runtime, server: str) -> Store:
        """The configured bots, chats, keys and spool."""
        config = rt.settings
        where = upload.Destination(
            chat_id=rt.chat_id(),
            thread_id=config.telegram_thread_id,
            project_id="wal",
            label=server,
            chats=rt.chat_ids(),
        )
        return cls(
            sender=rt.sender(),
            where=where,
            clients=rt.telegram,
            spool_dir=config.backup_spool_dir,
            part_size=config.backup_part_size,
            recipients=config.backup_age_recipients,
            identity_file=config.backup_age_identity_file,
            zstd_level=config.backup_zstd_level,
        )

    def put(self, source: BinaryIO, filename: str) -> Stored:
        """Compress, encrypt, split and send `source`; its parts are removed afterwards."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="wal-", dir=self.spool_dir))
        try:
            suffix = ".zst" + (".age" if self.recipients else "")
            art = artifact.write_artifact(
                source,
                directory,
                filename + suffix,
                part_size=self.part_size,
                zstd_level=self.zstd_level,
                recipients=self.recipients,
            )
            sent: list[JSONObject] = []
            upload.send_parts(
                self.sender, art, self.where, on_sent=lambda part, _moved: sent.append(dict(part))
            )
            return Stored(art.size_bytes, art.sha256, art.compression, art.encrypted, sent)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def get(self, stored: Stored, label: str, sink: unpack.Sink, work: Path) -> None:
        """Download, check, decrypt and decompress `stored` into `sink` (`work`: scratch space)."""
        remote = fetch.RemoteArtifact(
            label,
            stored.size_bytes,
            stored.sha256,
            tuple(
                fetch.RemotePart(
                    int(part["index"]),
                    str(part["file_id"]),
                    int(part["size_bytes"]),
                    str(part["sha256"]),
                    None if part.get("bot_id") is None else str(part["bot_id"]),
                )
                for part in stored.parts
            ),
        )
        path = work / f"{label.replace(' ', '_')}.artifact"
        try:
            fetch.fetch(self.clients, remote, path)
            keys = identity.load(self.identity_file) if stored.encrypted else None
            unpack.decode(path, sink, compression=stored.compression, identities=keys)
        finally:
            path.unlink(missing_ok=True)
