"""`backup-worker wal stream --server S`: one server's WAL into Telegram, for as long as it runs.

The loop: hold the server's lease (or wait for it), start pg_receivewal at the last recorded
position, and every poll compare what pg_receivewal wrote with what is recorded. A bundle goes
out when WAL_BUNDLE_BYTES are waiting, or when anything is waiting and WAL_FLUSH_SECONDS passed
since the last one (the RPO). After the bundle's row is committed, the retention slot moves to
its end and the spool's whole segments before it are removed. When the server is quiet, the
newest bundle's `covered_until` still moves on, so a target after the last write is restorable.

What is guaranteed: every WAL byte up to the newest recorded `end_lsn` is in Telegram; the
server keeps every byte after it (the slot) however many streamers die, so a takeover resumes
with no gap. What is not: bytes written since the last bundle (at most WAL_FLUSH_SECONDS plus a
poll when the streamer or its host dies, longer only if the server itself is lost).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from db import session as db_session
from db.queries import wal as db_wal
from worker import errors
from worker.wal import bundles, lease, receiver, schedule, spool, store, timeline

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def _epoch() -> dt.datetime:
    """What a server's first bundle claims to cover when no clock reading shows more."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class Config:
    """One server's stream."""

    server: str
    conninfo: str  # the replication role's libpq URL, to a database it may connect to
    spool_dir: Path
    flush_seconds: float = 60.0
    bundle_bytes: int = 64 << 20
    lease_seconds: float = 30.0
    password: str | None = field(default=None, repr=False)


@dataclass
class Streamer:
    """The loop's state; `run` until `stop` is set or the lease is lost."""

    config: Config
    database: db_session.Database
    target: store.Store
    lease: lease.Lease
    stop: threading.Event = field(default_factory=threading.Event)
    # Base backups on a schedule, taken while this host holds the lease (worker.wal.schedule).
    basebackups: schedule.BaseBackups | None = None
    bundles_sent: int = 0
    covered: dt.datetime = field(default_factory=_epoch)

    def run(self) -> None:
        """Wait for the lease, then stream until stopped; the lease is released on the way out."""
        while not self.stop.is_set() and not self.lease.acquire():
            self.stop.wait(POLL_SECONDS)
        if self.stop.is_set():
            return
        log.info("wal: streaming server %s (lease %s)", self.config.server, self.lease.token)
        try:
            self._stream()
        finally:
            self.lease.release()

    def _stream(self) -> None:
        config = self.config
        connection = receiver.connect(config.conninfo, config.password)
        identity = receiver.identify(connection)
        slot = receiver.slot_name(config.server)
        slot_start = receiver.ensure_slot(connection, slot)
        with self.database.transaction() as session:
            recorded = db_wal.recorded_end(session, config.server, identity.system_identifier)
        position, streaming, switches, history = self._resume(identity, recorded)
        if position == 0:
            position = _segment_start(slot_start, identity.segment_size)
        elif slot_start > position:
            # The slot was dropped and made again: the WAL between is gone from the server.
            # `wal verify` shows the gap; streaming goes on from what the server still has.
            log.error(
                "wal: server %s lost WAL %X..%X (its slot %s was recreated)",
                config.server,
                position,
                slot_start,
                slot,
            )
            position = max(position, _segment_start(slot_start, identity.segment_size))
            streaming, switches = identity.timeline, []
        spool.prepare(config.spool_dir)
        spool.seed(config.spool_dir, streaming, position, identity.segment_size)
        application = f"bw_wal_{slot}"
        log_path = config.spool_dir.parent / f"{config.spool_dir.name}.receivewal.log"
        process = receiver.start_receiver(
            config.conninfo, config.spool_dir, application, log_path, config.password
        )
        samples: list[tuple[dt.datetime, int]] = []
        with self.database.transaction() as session:
            # Before the first sample shows a flush at or before a bundle's end, the bundle
            # claims what the newest recorded one did (never more).
            self.covered = db_wal.newest_covered(session, config.server) or _epoch()
        last_sent = time.monotonic()
        try:
            while not self.stop.is_set():
                if not self.lease.renew():
                    log.warning("wal: lost the lease of server %s; stopping", config.server)
                    return
                if self.basebackups is not None:
                    self.basebackups.poll()
                if process.poll() is not None:
                    process = receiver.start_receiver(
                        config.conninfo, config.spool_dir, application, log_path, config.password
                    )
                while switches and position >= switches[0].position:
                    # The older timeline is all recorded: its child goes on from here.
                    streaming = self._switch(identity, switches.pop(0), history)
                on = dataclasses.replace(identity, timeline=streaming)
                clock, flushed, written = receiver.sample(connection, application)
                samples.append((clock, flushed))
                waiting = 0 if written is None else written - position
                due = time.monotonic() - last_sent >= config.flush_seconds
                if waiting >= config.bundle_bytes or (waiting > 0 and due):
                    assert written is not None
                    end = min(written, position + config.bundle_bytes)
                    if switches:
                        end = min(end, switches[0].position)
                    self.covered = max(self.covered, _covered(samples, end) or self.covered)
                    self._send(on, position, end, self.covered)
                    receiver.advance_slot(connection, slot, end)
                    spool.drop_before(config.spool_dir, on.timeline, end, on.segment_size)
                    position = end
                    samples = [s for s in samples if s[1] > end]
                    last_sent = time.monotonic()
                elif due and written is not None and written == position:
                    self._quiet(identity, position, _covered(samples, position))
                    last_sent = time.monotonic()
                self.stop.wait(POLL_SECONDS)
        except psycopg2.Error as exc:
            # The server went away (a failover, a restart): the caller starts over.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise errors.WalError(f"server {config.server}: {first}") from None
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
            connection.close()

    def _resume(
        self, identity: receiver.Identity, recorded: tuple[int, int] | None
    ) -> tuple[int, int, list[timeline.Switch], str]:
        """Where streaming starts: (position, its timeline, the switches still ahead, the
        current timeline's history file). A position of 0 means "at the slot"."""
        if recorded is None or recorded[0] > identity.timeline:
            return 0, identity.timeline, [], ""
        if recorded[0] == identity.timeline:
            return recorded[1], identity.timeline, [], ""
        # The server was promoted (or is a promoted replica) since the last bundle.
        content = timeline.fetch(self.config.conninfo, self.config.password, identity.timeline)
        ahead = [s for s in timeline.parse(content, identity.timeline) if s.child > recorded[0]]
        if not ahead or ahead[0].parent != recorded[0] or ahead[0].position < recorded[1]:
            # The recorded WAL goes past where this server's history left that timeline:
            # it is another branch. What follows is streamed from the slot; verify shows it.
            log.error(
                "wal: server %s: the recorded WAL of timeline %d ends at %X, past this "
                "server's history of it: starting again at its slot",
                self.config.server,
                recorded[0],
                recorded[1],
            )
            return 0, identity.timeline, [], ""
        log.info(
            "wal: server %s is on timeline %d: following it from timeline %d at %X",
            self.config.server,
            identity.timeline,
            recorded[0],
            recorded[1],
        )
        return recorded[1], recorded[0], ahead, content

    def _switch(self, identity: receiver.Identity, switch: timeline.Switch, history: str) -> int:
        """Record the child timeline's history file (once); the timeline streamed from now."""
        with self.database.transaction() as session:
            known = {
                h.timeline
                for h in db_wal.histories(session, self.config.server, identity.system_identifier)
            }
        if switch.child not in known:
            content = timeline.content_of(history, switch.child)
            with _renewing(self.lease, self.config.lease_seconds / 3):
                row = timeline.record(
                    self.config.server, identity.system_identifier, switch, content, self.target
                )
            with self.database.transaction() as session:
                db_wal.add_history(session, row)
        log.info(
            "wal: server %s: timeline %d ends at %X, timeline %d goes on",
            self.config.server,
            switch.parent,
            switch.position,
            switch.child,
        )
        return switch.child

    def _send(
        self, identity: receiver.Identity, start: int, end: int, covered: dt.datetime
    ) -> None:
        where = bundles.Range(self.config.server, identity, start, end)
        with _renewing(self.lease, self.config.lease_seconds / 3):
            row = bundles.make(where, self.config.spool_dir, self.target, covered)
        if not self.lease.renew():
            raise errors.WalError(
                f"the lease of server {self.config.server} lapsed while a bundle was sent: "
                "another streamer owns it now; this bundle is not recorded"
            )
        with self.database.transaction() as session:
            db_wal.add_bundle(session, row)
        self.bundles_sent += 1
        log.info("wal: server %s bundle %X..%X recorded", self.config.server, start, end)

    def _quiet(
        self, identity: receiver.Identity, position: int, covered: dt.datetime | None
    ) -> None:
        if covered is None:
            return
        with self.database.transaction() as session:
            db_wal.extend_coverage(
                session, self.config.server, identity.system_identifier, position, covered
            )


@contextlib.contextmanager
def _renewing(held: lease.Lease, every: float) -> Iterator[None]:
    """Keep the lease renewed while a long upload runs (the poll loop is not renewing it)."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(every) and held.renew():
            pass

    thread = threading.Thread(target=renew, name="wal-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _segment_start(position: int, segment_size: int) -> int:
    """Where a stream with nothing recorded before it starts: the start of the segment holding
    `position` (the server keeps that segment whole, and pg_receivewal streams it from its
    start). A replay reads a segment's first page before any record in it: a first bundle that
    began mid-segment left zeros there, and a base backup taken in that segment could not be
    recovered ("could not locate required checkpoint record")."""
    return position // segment_size * segment_size


def _covered(samples: list[tuple[dt.datetime, int]], end: int) -> dt.datetime | None:
    """The latest clock read at which the server had flushed no further than `end`."""
    clocks = [clock for clock, flushed in samples if flushed <= end]
    return max(clocks) - bundles.MARGIN if clocks else None
