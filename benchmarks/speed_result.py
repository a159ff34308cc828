"""What benchmarks.backup_speed measured on one database: the rounds of C, B and A, their
per-round ratios, and the in-process measurements that sit in the same report."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks import baseline, compression, datagen, jobrun, overlap, pipeline, report
from worker import defaults
from worker.contract import tasks

CHAT_INTERVAL = 1.0  # seconds between two messages into one chat (Bots FAQ)


@dataclass
class SizeResult:
    """Everything measured on one database."""

    database: datagen.SourceDatabase
    link_rate: float | None = None  # bytes/s between worker and stand-in; None: loopback
    part_size: int = defaults.CLOUD_DOWNLOAD_LIMIT  # the worker's BACKUP_PART_SIZE
    worker_refused: int | None = None  # 429s to the worker, all rounds (over a link only)
    floors: list[baseline.FloorRun] = field(default_factory=list)
    naives: list[baseline.NaiveRun] = field(default_factory=list)
    workers: list[jobrun.WorkerRun] = field(default_factory=list)
    levels: list[compression.Measurement] = field(default_factory=list)
    recommendation: dict[str, object] = field(default_factory=dict)
    overlap_run: overlap.Comparison | None = None  # the PartSender, in-process
    pipelines: list[tuple[float, pipeline.PipelineRun]] = field(default_factory=list)  # (C, run)

    @property
    def a(self) -> float:
        return report.median([run.seconds for run in self.workers])

    @property
    def b(self) -> float:
        return report.median([run.seconds for run in self.naives])

    @property
    def c(self) -> float:
        return report.median([run.seconds for run in self.floors])

    @property
    def a_over_b(self) -> list[float]:
        """A / B, round by round."""
        return report.per_round(
            [run.seconds for run in self.workers], [n.seconds for n in self.naives]
        )

    @property
    def a_over_c(self) -> list[float]:
        """A / C, round by round."""
        return report.per_round(
            [run.seconds for run in self.workers], [run.seconds for run in self.floors]
        )

    @property
    def first_part_dumps(self) -> list[float]:
        """Per round, the seconds pg_dump alone (C's run) took to write the raw dump of the
        smallest first part that keeps the worker's part count: the artifact's bytes past its
        other parts, full, at the artifact's average compression."""
        seconds: list[float] = []
        for floor, worker in zip(self.floors, self.workers, strict=True):
            past = max(worker.size_bytes - (worker.parts - 1) * self.part_size, 0)
            raw = past * worker.raw_bytes // worker.size_bytes if worker.size_bytes else 0
            seconds.append(floor.seconds_to(raw))
        return seconds

    @property
    def physical_floors(self) -> list[float]:
        """Per round, the least time any backup could take: the largest of the dump (C), the
        worker's artifact over the link, and Telegram's chain of 1 message per second into one
        chat, which begins with the first message, once pg_dump has written its part."""
        return [
            max(floor.seconds, self._over_link(worker), first + self._chain(worker))
            for floor, worker, first in zip(
                self.floors, self.workers, self.first_part_dumps, strict=True
            )
        ]

    @property
    def issue_floors(self) -> list[float]:
        """Per round, the floor as issue 22 wrote it: the chain counted from the enqueue, as if
        the first part existed at once (docs/benchmarks.md, "The floor")."""
        return [
            max(floor.seconds, self._over_link(worker), self._chain(worker))
            for floor, worker in zip(self.floors, self.workers, strict=True)
        ]

    def _over_link(self, worker: jobrun.WorkerRun) -> float:
        return worker.size_bytes / self.link_rate if self.link_rate else 0.0

    @staticmethod
    def _chain(worker: jobrun.WorkerRun) -> float:
        return (worker.parts - 1) * CHAT_INTERVAL

    @property
    def a_over_floor(self) -> list[float]:
        """A / the physical floor, round by round."""
        return report.per_round([run.seconds for run in self.workers], self.physical_floors)

    @property
    def a_over_issue_floor(self) -> list[float]:
        """A / issue 22's floor, round by round."""
        return report.per_round([run.seconds for run in self.workers], self.issue_floors)

    def rounds(self) -> list[dict[str, object]]:
        """Every round: the three wall times, their CPU times and the two ratios."""
        return [
            {
                "round": number,
                "c_seconds": round(floor.seconds, 3),
                "b_seconds": round(naive.seconds, 3),
                "a_seconds": round(worker.seconds, 3),
                "a_over_b": round(ab, 4),
                "a_over_c": round(ac, 4),
                "floor_seconds": round(physical, 3),
                "a_over_floor": round(physical and worker.seconds / physical, 4),
                "first_part_dump_seconds": round(first, 3),
                "issue_floor_seconds": round(issued, 3),
                "a_over_issue_floor": round(issued and worker.seconds / issued, 4),
                "b_refused_429": naive.refused,
                "c_cpu_seconds": round(floor.cpu_seconds, 3),
                "b_cpu_seconds": round(naive.cpu_seconds, 3),
                "a_cpu_seconds": round(worker.cpu_seconds, 3),
                "a_dump_seconds": round(worker.tasks.get(tasks.DUMP, 0.0), 3),
                "load_average_before": floor.load_before,
            }
            for number, (floor, naive, worker, ab, ac, physical, first, issued) in enumerate(
                zip(
                    self.floors,
                    self.naives,
                    self.workers,
                    self.a_over_b,
                    self.a_over_c,
                    self.physical_floors,
                    self.first_part_dumps,
                    self.issue_floors,
                    strict=True,
                ),
                1,
            )
        ]

    @property
    def peak_rss(self) -> int:
        return max(run.peak.rss_bytes for run in self.workers)

    @property
    def peak_pss(self) -> int:
        return max(run.peak.pss_bytes for run in self.workers)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict: every run, the medians and the ratios."""
        return {
            "database": self.database.to_json(),
            "rounds": len(self.workers),
            "a_worker_seconds": round(self.a, 3),
            "b_naive_seconds": round(self.b, 3),
            "c_floor_seconds": round(self.c, 3),
            # Medians of the per-round ratios, not ratios of the medians.
            "a_over_b": report.spread(self.a_over_b)["median"],
            "a_over_c": report.spread(self.a_over_c)["median"],
            "a_over_b_spread": report.spread(self.a_over_b),
            "a_over_c_spread": report.spread(self.a_over_c),
            "link_bytes_per_second": self.link_rate,
            "a_refused_429": self.worker_refused,
            "a_over_floor_spread": report.spread(self.a_over_floor),
            "a_over_issue_floor_spread": report.spread(self.a_over_issue_floor),
            "part_size": self.part_size,
            "seconds_spread": {
                "a": report.spread([run.seconds for run in self.workers]),
                "b": report.spread([run.seconds for run in self.naives]),
                "c": report.spread([run.seconds for run in self.floors]),
            },
            "cpu_seconds_median": {
                "a_worker_tree": report.median([run.cpu_seconds for run in self.workers]),
                "b_tools": report.median([run.cpu_seconds for run in self.naives]),
                "c_pg_dump": report.median([run.cpu_seconds for run in self.floors]),
            },
            "artifact_bytes": self.workers[-1].size_bytes,
            "pg_dump_fc_bytes": self.naives[-1].size_bytes,
            "raw_dump_bytes": self.workers[-1].raw_bytes,
            "peak_rss_bytes": self.peak_rss,
            "peak_pss_bytes": self.peak_pss,
            "per_round": self.rounds(),
            "runs": {
                "floor": [run.to_json() for run in self.floors],
                "naive": [run.to_json() for run in self.naives],
                "worker": [run.to_json() for run in self.workers],
            },
            "compression_table": [m.to_json() for m in self.levels],
            "compression_recommendation": self.recommendation,
            "overlap": None if self.overlap_run is None else self.overlap_run.to_json(),
            "pipeline_by_threads": [
                {"floor_seconds": round(floor, 3), **run.to_json()} for floor, run in self.pipelines
            ],
        }
