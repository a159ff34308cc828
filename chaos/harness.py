"""The chaos run: 50 backups on 3 workers, 2 source servers, 2 bots x 2 chats under Telegram's
limits, while workers die, Redis and PostgreSQL restart, the spool fills, the control plane goes
down during a record, and a part disappears from Telegram."""

from __future__ import annotations

import collections
import logging
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text

from chaos import checks, leaks, messages, sabotage
from chaos.report import Report
from chaos.stack import ChaosStack, Options, open_stack
from worker.contract import tasks

log = logging.getLogger("chaos")

FILL_SECONDS = 5.0  # the spool stays full at least this long
FILL_MAX_SECONDS = 60.0  # and at most this long, waiting for a dump to hit it


@dataclass
class Config:
    """What to run and which faults to inject."""

    jobs: int = 50
    workers: int = 3
    concurrency: int = 2
    kills: int = 2
    redis_restarts: int = 1
    pg_restarts: int = 1
    spool_fills: int = 1
    record_outages: int = 1  # the control plane down while a record step runs
    forgets: int = 1  # a completed backup's part gone from Telegram; verify must catch it
    rate_429: float = 0.2
    rate_502: float = 0.1
    rate_drop: float = 0.05
    reap_every: float = 5.0  # seconds: the harness plays beat's jobs.reap
    restore_sample: int = 5
    timeout: float = 900.0  # seconds for the backups, and again for verification
    seed: int = 7
    options: Options = field(default_factory=Options)


def fault_plan(config: Config) -> list[tuple[int, str]]:
    """(finished jobs before it, fault) in order, spread over the run."""
    names = (
        ["kill"] * config.kills
        + ["redis"] * config.redis_restarts
        + ["pg"] * config.pg_restarts
        + ["fill"] * config.spool_fills
        + ["record"] * config.record_outages
        + ["forget"] * config.forgets
    )
    # Interleave kinds: kill, redis, pg, fill, record, forget, kill...
    order = [
        n for i, n in sorted(enumerate(names), key=lambda p: (names[: p[0]].count(p[1]), p[0]))
    ]
    step = config.jobs * 0.8 / (len(order) + 1)
    return [(int(step * (i + 1)), name) for i, name in enumerate(order)]


class Run:
    """One chaos run on a ChaosStack."""

    def __init__(self, stack: ChaosStack, config: Config) -> None:
        self.stack = stack
        self.config = config
        self.report = Report(jobs=config.jobs, spool=stack.spool.note)
        self.jobs: list[str] = []
        self._last_reap = 0.0

    def start_worker(self) -> None:
        """One more worker: the Procfile's `worker` (queue celery: the run enqueues asked-for
        work, as the gateway and the CLI do), plus what the run needs of it.

        -n: a node name of its own, so that a kill picks the worker whose host a running job
        records (jobs.worker_hostname) and the killed worker's jobs are a dead host's to the
        reaper, not the replacement's; and several workers on one host need distinct names, or
        Celery's mingle and each worker's own queue (<node>.dq2) would be shared.
        --concurrency: the pool size the run is sized for.
        """
        self.stack.start_worker(
            "-n",
            f"chaos-{uuid.uuid4().hex[:8]}@%h",
            f"--concurrency={self.config.concurrency}",
        )

    def event(self, message: str) -> None:
        self.report.events.append(message)
        self.report.faults_injected[message.split(maxsplit=1)[0]] = (
            self.report.faults_injected.get(message.split(maxsplit=1)[0], 0) + 1
        )
        log.info("chaos: %s", message)

    def reap(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_reap < self.config.reap_every:
            return
        self._last_reap = time.monotonic()
        try:
            self.stack.publisher.send(tasks.ReapJobs(), expires=60)
        except Exception as exc:  # noqa: BLE001 - Redis may be down right now
            log.info("chaos: %s not sent (%s)", tasks.REAP, type(exc).__name__)

    def finished(self, ids: list[str]) -> int:
        try:
            with self.stack.database.engine.connect() as conn:
                return int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM control_plane.jobs"
                            " WHERE id = ANY(CAST(:ids AS uuid[]))"
                            " AND status IN ('completed', 'failed', 'cancelled')"
                        ),
                        {"ids": ids},
                    ).scalar_one()
                )
        except Exception:  # noqa: BLE001 - PostgreSQL may be restarting
            return -1

    def busy_hosts(self, stages: tuple[str, ...]) -> set[str]:
        """Hosts with a job running in one of `stages` now."""
        try:
            with self.stack.database.engine.connect() as conn:
                return set(
                    conn.execute(
                        text(
                            "SELECT worker_hostname FROM control_plane.jobs"
                            " WHERE status = 'running' AND stage = ANY(:stages)"
                        ),
                        {"stages": list(stages)},
                    ).scalars()
                )
        except Exception:  # noqa: BLE001 - PostgreSQL may be restarting
            return set()

    def inject(self, name: str, *, late: bool = False) -> bool:
        """Inject one fault; False when its moment has not come (no job running to kill).

        A kill waits for a job in dump or upload, a spool fill for one in dump; `late` (every
        job already ended) injects them anyway: the kill hits an idle worker, and hold_full
        makes sure a dump hits the fill.
        """
        stack = self.stack
        busy = self.busy_hosts(("dump", "upload") if name == "kill" else ("dump",))
        if name in ("kill", "fill") and not late and not busy:
            return False
        if name == "record":
            return sabotage.record_outage(self, late=late)
        if name == "forget":
            return sabotage.forget_part(self, late=late)
        if name == "kill":
            # Late, every job has ended: an idle worker dies instead, so the run still ends.
            victims = [w for w in stack.workers if (late or w.hostname in busy) and w.alive()]
            if not victims:
                return False
            victim = victims[0]
            victim.kill()
            stack.workers.remove(victim)
            stack.dead.append(victim)
            self.start_worker()
            how = "idle, every job had ended" if late else "mid-job"
            self.event(f"kill SIGKILL {victim.name} {how} (a new worker started)")
        elif name == "redis":
            stack.redis.restart(down_for=2.0)
            self.event("redis restarted (no persistence: queued messages lost)")
        elif name == "pg":
            # The control plane and source server `default` together: every session is cut.
            stack.control.stop("fast")
            stack.pg.stop("fast")
            time.sleep(2.0)
            stack.pg.start()
            stack.control.start()
            self.event("pg restarted, control plane and server default (every session cut)")
        elif name == "fill":
            written = stack.spool.fill()
            held = self.hold_full()
            stack.spool.release()
            self.event(
                f"fill spool full ({written // 1_000_000} MB ballast for {held:.0f} s, "
                f"{len(busy)} host(s) dumping)"
            )
            self.report.spool_fills_meant_to_hit += 1
        return True

    def hold_full(self) -> float:
        """Keep the spool full for FILL_SECONDS, and on until a dump has hit it (a retry or a
        failure); returns the seconds it was held.

        The ballast is topped up as finished jobs free their spool directories. Whether a
        running dump writes while the spool is full is timing (a small dump may end just as the
        ballast lands, and the other jobs may be anywhere but in a dump), so once FILL_SECONDS
        have passed without a hit, one more backup (a probe, counted with the others) is
        enqueued: its dump must hit.
        """
        started = time.monotonic()
        probe = False
        while time.monotonic() - started < FILL_SECONDS or not checks.spool_full_hits(self):
            held = time.monotonic() - started
            if held > FILL_MAX_SECONDS:
                break
            self.stack.spool.fill(top_up=True)
            if not probe and held >= FILL_SECONDS:
                probe_db = self.stack.sources[0].database
                self.jobs.append(str(self.stack.enqueue("proj-probe", probe_db)))
                self.report.jobs += 1
                probe = True
                log.info("chaos: no dump hit the full spool; probe backup %s", self.jobs[-1])
            self.reap()
            time.sleep(0.5)
        return time.monotonic() - started

    def wait(self, ids: list[str], plan: list[tuple[int, str]], deadline: float) -> None:
        while time.monotonic() < deadline:
            self.reap()
            done = self.finished(ids)
            late = done == len(ids)
            if plan and done >= plan[0][0] and self.inject(plan[0][1], late=late):
                plan.pop(0)
            if done == len(ids) and not plan:
                return
            time.sleep(0.5)

    def run(self) -> Report:
        started = time.monotonic()
        stack, config = self.stack, self.config
        for _ in range(config.workers):
            self.start_worker()
        stack.standin.set_fault_rates(
            rate_429=config.rate_429,
            rate_502=config.rate_502,
            rate_drop=config.rate_drop,
            retry_after=1,
            seed=config.seed,
        )
        for index in range(config.jobs):
            server, database = stack.sources[index % len(stack.sources)]
            self.jobs.append(str(stack.enqueue(f"proj-{index % 7}", database, server)))
        self.wait(self.jobs, fault_plan(config), started + config.timeout)
        checks.verify_and_restore(self, started + 2 * config.timeout)
        messages.alert(self)
        checks.collect(self)
        messages.leftovers(self)
        messages.count_requests(self)
        self.report.seconds = time.monotonic() - started
        self.report.check()
        return self.report


def run(config: Config, *, scan_leaks: bool = False) -> Report:
    """Build the stack, run, (scan for secrets,) tear down; the report says what failed."""
    stack = open_stack(config.options)
    try:
        report = Run(stack, config).run()
        if scan_leaks:
            sources = [
                *leaks.redis_texts("127.0.0.1", config.options.redis_port, range(16)),
                *leaks.table_texts(stack.control.dsn("control")),
                *leaks.log_texts(stack.logs()),
            ]
            report.leak_texts, found = leaks.scan(stack.secrets(), sources)
            report.leaks = [f"{f.secret} in {f.where}" for f in found]
            report.check()
        return report
    finally:
        stack.close()


def reasons(rows: list[str | None]) -> dict[str, int]:
    """Failure reasons with ids and numbers blurred, counted."""
    return dict(collections.Counter((r or "")[:90] for r in rows))
