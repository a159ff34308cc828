"""copies.repair by beat: every part of an active backup back to BACKUP_COPIES copies.

`copies repair --from R1 --to R2` repairs one repository from another by hand; this is the
same repair (worker.backup.repair's read and store: SHA-256 checked, paced through the
repository's sender, recorded part by part with its ledger line) chosen per part: a part held
by fewer than BACKUP_COPIES live repositories is read from the first of them, in the
repositories' order, and sent into the first ones that hold none, never into one that holds
it already. A repository is not live when the probe (worker.metrics.repositories) says its
store is gone, or once this run met an answer that says so (401, 403, 400 "... not found").
At most `limit` parts a run, so a run never holds a pool slot for long: the next run goes on
with what is still short, and finds nothing to do once every part is whole.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from db.queries import copies as db_copies
from worker import errors
from worker.backup import repair
from worker.jobs import runner
from worker.jobs.runtime import Runtime
from worker.metrics import repositories as probing
from worker.telegram import repositories

log = logging.getLogger(__name__)
_CHAT_NOT_FOUND = re.compile(r"\bchat\b.* not found \(400\)")


@dataclass
class Refilled:
    """What one run did."""

    created: int = 0
    short: int = 0  # parts still short of BACKUP_COPIES when the run ended
    failed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # repositories skipped as gone

    def to_json(self) -> dict[str, object]:
        return {
            "created": self.created,
            "short": self.short,
            "failed": list(self.failed),
            "gone": list(self.gone),
        }


def gone(exc: errors.TelegramError) -> bool:
    """Whether an answer says the repository's store is gone, not just this request refused."""
    if isinstance(exc, errors.TelegramUnauthorized | errors.TelegramForbidden):
        return True
    # As worker.telegram.answers words Telegram's 400 "chat not found".
    return isinstance(exc, errors.TelegramBadRequest) and bool(_CHAT_NOT_FOUND.search(exc.message))


def refill(rt: Runtime, *, limit: int, up: Mapping[str, bool] | None = None) -> Refilled:
    """Re-create at most `limit` missing copies; `up`: the probe's verdict per repository
    (a repository it does not name counts as live until an answer says otherwise)."""
    repos = rt.repositories()
    done = Refilled(gone=[name for name, ok in (up or {}).items() if not ok])
    if repos.copies < 2:
        return done
    order = [repo.name for repo in repos]
    with rt.database.transaction() as session:
        parts = db_copies.held(session, default=repositories.DEFAULT_REPOSITORY)
    rt.settings.backup_spool_dir.mkdir(parents=True, exist_ok=True)
    tried = 0
    with tempfile.TemporaryDirectory(prefix="refill-", dir=rt.settings.backup_spool_dir) as tmp:
        for held in parts:
            live = [name for name in order if name not in done.gone]
            holders = [name for name in live if name in held.where]
            # Copy 0 always lives in `default`: a repair never writes into it.
            targets = [
                name
                for name in live
                if name not in held.where and name != repositories.DEFAULT_REPOSITORY
            ]
            wanted = min(repos.copies - len(holders), len(targets))
            if wanted <= 0 or not holders:
                done.short += repos.copies > len(holders)
                continue
            if tried >= limit:
                done.short += 1
                continue
            tried += 1
            where = f"backup {held.part.backup_id} part {held.part.index + 1}"
            path = Path(tmp) / f"part-{held.part.index + 1:03d}"
            if not _read(rt, held, holders, path, done, where):
                done.short += 1
                continue
            stored = sum(
                _store(rt, repos.get(name), held.part, path, done, where)
                for name in targets[:wanted]
            )
            done.short += len(holders) + stored < repos.copies
            path.unlink(missing_ok=True)
    log.info(
        "copies.repair: %d copies re-created, %d parts still short, %d failed, gone: %s",
        done.created,
        done.short,
        len(done.failed),
        ", ".join(done.gone) or "none",
    )
    return done


def _read(
    rt: Runtime,
    held: db_copies.Held,
    holders: list[str],
    path: Path,
    done: Refilled,
    where: str,
) -> bool:
    """The part into `path` from the first holder that gives it intact."""
    for name in holders:
        try:
            repair.read(rt, held.read_from(name), path)
            return True
        except (errors.TelegramRejected, errors.IntegrityError, errors.ConfigError) as exc:
            done.failed.append(f"{where} from repository {name}: {exc}")
            if isinstance(exc, errors.TelegramError) and gone(exc):
                _lost(done, name, exc)
    return False


def _store(
    rt: Runtime,
    into: repositories.Repository,
    part: db_copies.Missing,
    path: Path,
    done: Refilled,
    where: str,
) -> bool:
    """Whether the part in `path` is now stored in `into`."""
    if into.name in done.gone:
        return False
    try:
        repair.store(rt, rt.sender(into), into, part, path)
    except (errors.TelegramRejected, errors.ConfigError) as exc:
        done.failed.append(f"{where} into repository {into.name}: {exc}")
        if isinstance(exc, errors.TelegramError) and gone(exc):
            _lost(done, into.name, exc)
        return False
    done.created += 1
    log.info("copies.repair: %s copied into repository %s", where, into.name)
    return True


def _lost(done: Refilled, name: str, exc: errors.TelegramError) -> None:
    if name not in done.gone:
        done.gone.append(name)
        log.warning("copies.repair: repository %s skipped from now on: %s", name, exc)


# The advisory lock's key (worker.jobs.runner.exclusive): one run at a time, fleet-wide, so
# two runs never send the same part into one repository.
_ONE_RUN = uuid.UUID("c0b1e5ed-0000-4000-8000-000000000025")


def run(rt: Runtime) -> dict[str, object]:
    """One beat run: probe the repositories, then refill COPIES_REPAIR_PARTS parts at most."""
    with runner.exclusive(rt, _ONE_RUN) as alone:
        if not alone:
            log.info("copies.repair: another run is under way; this one does nothing")
            return {"skipped": "another run is under way"}
        probe = probing.Probe(rt.repositories(), probing.connector(rt.settings.telegram_api_url))
        return refill(rt, limit=rt.settings.copies_repair_parts, up=probe.states()).to_json()
