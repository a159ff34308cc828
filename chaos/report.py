"""What a chaos run found: the figures, and the checks that must hold."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Report:
    """Figures of one chaos run; `problems` lists every check that failed."""

    jobs: int = 0
    completed: int = 0
    failed: int = 0
    unfinished: int = 0
    failed_without_reason: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)
    backups: int = 0
    backups_by_server: dict[str, int] = field(default_factory=dict)
    jobs_with_two_backups: int = 0
    parts: int = 0
    parts_recorded_twice: int = 0
    spool_leftovers: list[str] = field(default_factory=list)
    verified_ok: int = 0
    verify_failed: list[str] = field(default_factory=list)
    restored_ok: int = 0
    restore_failed: list[str] = field(default_factory=list)
    send_document_requests: int = 0
    telegram_requests: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    reaper: dict[str, int] = field(default_factory=dict)
    spool_full: dict[str, int] = field(default_factory=dict)
    spool_fills_meant_to_hit: int = 0  # fills injected; each must be hit (harness.hold_full)
    sabotaged: str = ""  # the backup whose part was forgotten in Telegram (sabotage.forget_part)
    sabotaged_project: str = ""
    sabotage_caught: str = ""  # the failed verification's error, when it failed as it must
    sabotage_alerts: int = 0  # alerts sent about it (exactly one: one per incident)
    record_outages_missed: int = 0  # record outages whose record step never came
    telegram_leftovers: list[str] = field(default_factory=list)  # chat/message no backup holds
    orphan_sweep: dict[str, int] = field(default_factory=dict)
    send_document_by_pair: dict[str, str] = field(default_factory=dict)
    limit_429: int = 0  # 429s of the stand-in's limits (the injected ones are in faults)
    spool: str = ""
    seconds: float = 0.0
    leak_texts: int = 0
    leaks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self) -> list[str]:
        """Fill and return `problems`."""
        found = []
        if self.unfinished:
            found.append(f"{self.unfinished} job(s) never finished")
        if self.failed_without_reason:
            found.append(f"{self.failed_without_reason} failed job(s) without a reason")
        if self.jobs_with_two_backups:
            found.append(f"{self.jobs_with_two_backups} job(s) with two backups")
        if self.parts_recorded_twice:
            found.append(f"{self.parts_recorded_twice} part(s) recorded twice")
        if self.spool_leftovers:
            found.append(f"spool leftovers: {self.spool_leftovers[:5]}")
        if self.verify_failed:
            found.append(f"verify failed: {self.verify_failed[:5]}")
        if self.restore_failed:
            found.append(f"restore failed: {self.restore_failed[:5]}")
        caught = 1 if self.sabotage_caught else 0
        if self.verified_ok + caught != self.backups:
            found.append(f"{self.verified_ok} of {self.backups} backups verified")
        if self.sabotaged and not self.sabotage_caught:
            found.append(f"backup {self.sabotaged} lost a part but its verification passed")
        if self.sabotaged and self.sabotage_alerts != 1:
            found.append(f"{self.sabotage_alerts} alert(s) about backup {self.sabotaged}, not 1")
        if self.record_outages_missed:
            found.append(f"{self.record_outages_missed} record outage(s) caught no record step")
        if self.telegram_leftovers:
            found.append(f"Telegram leftovers: {self.telegram_leftovers[:5]}")
        if self.spool_fills_meant_to_hit and not sum(self.spool_full.values()):
            found.append("the spool was filled but no dump hit it (neither retried nor failed)")
        if self.leaks:
            found.append(f"secrets found: {self.leaks[:5]}")
        self.problems = found
        return found

    def per_backup(self, count: int) -> str:
        return f"{count / self.backups:.2f}" if self.backups else "-"

    def render(self) -> str:
        """A human summary."""
        lines = [
            f"chaos run: {self.jobs} jobs in {self.seconds:.0f} s (spool: {self.spool})",
            f"  completed {self.completed}, failed {self.failed} (all with a reason: "
            f"{'yes' if not self.failed_without_reason else 'NO'}), unfinished {self.unfinished}",
        ]
        for reason, count in sorted(self.failure_reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {count} x {reason}")
        lines += [
            f"  backups {self.backups}, jobs with two backups {self.jobs_with_two_backups}, "
            f"parts {self.parts}, parts recorded twice {self.parts_recorded_twice}; "
            f"backups per server {self.backups_by_server}",
            f"  verified ok {self.verified_ok}/{self.backups}; restored ok {self.restored_ok} "
            f"(failed: {len(self.restore_failed)})",
            f"  sabotaged backup {self.sabotaged or '-'} ({self.sabotaged_project or '-'}): "
            f"caught by verify: {'yes' if self.sabotage_caught else 'NO'}"
            f" ({self.sabotage_caught[:160]}); alerts sent {self.sabotage_alerts}",
            f"  spool leftovers {len(self.spool_leftovers)}; Telegram messages no backup holds "
            f"{len(self.telegram_leftovers)} (orphan sweep, grace 0: {self.orphan_sweep})",
            f"  Telegram: {self.send_document_requests} sendDocument "
            f"({self.per_backup(self.send_document_requests)} per backup, "
            f"{self.per_backup(self.parts)} parts per backup), "
            f"{self.telegram_requests} requests in all",
            *(f"    {pair}: {count}" for pair, count in self.send_document_by_pair.items()),
            f"  faults: {self.faults_injected}; 429 from the limits: {self.limit_429}",
            f"  reaper: {self.reaper}",
            f"  spool full: {self.spool_full}",
            "  events: " + "; ".join(self.events),
            f"  leak scan: {self.leak_texts} texts read, {len(self.leaks)} secrets found",
            "  RESULT: " + ("OK" if not self.problems else "PROBLEMS: " + "; ".join(self.problems)),
        ]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)
