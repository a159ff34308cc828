"""A small, size-limited spool directory, and filling it to the brim on purpose."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024  # bytes written per step while filling


@dataclass
class SmallSpool:
    """A tmpfs of `size_mb` mounted at `path` when possible (root), else a plain directory."""

    path: Path
    size_mb: int
    mounted: bool = False
    note: str = ""

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.size_mb}m,mode=0700",  # a private spool (worker.jobs.spool)
                "tmpfs",
                str(self.path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        self.mounted = done.returncode == 0
        self.note = (
            f"tmpfs of {self.size_mb} MB"
            if self.mounted
            else f"plain directory (mount failed: {done.stderr.strip()}); disk-full is simulated "
            "by filling the filesystem it is on, which may be large"
        )

    def fill(self, *, top_up: bool = False) -> int:
        """Write a ballast file until the filesystem is full; returns the bytes written.

        `top_up` appends to the ballast instead: space freed since (a job's spool directory
        removed after its upload) is taken back, so the spool stays full while it is held.
        """
        if top_up and not self.mounted:
            return 0  # a plain directory is never full: adding ballast would only grow it
        written = 0
        block = b"\0" * CHUNK
        with (self.path / "ballast").open("ab" if top_up else "wb", buffering=0) as sink:
            try:
                while True:
                    sink.write(block)
                    written += CHUNK
                    if not self.mounted and written >= self.size_mb * CHUNK:
                        break
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            with contextlib.suppress(OSError):
                os.fsync(sink.fileno())
        return written

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / "ballast").unlink()

    def leftovers(self) -> list[Path]:
        """Every file or directory left in the spool (the ballast aside)."""
        return sorted(p for p in self.path.rglob("*") if p.name != "ballast")

    def destroy(self) -> None:
        self.release()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
            self.mounted = False
