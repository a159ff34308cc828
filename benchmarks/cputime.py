"""CPU time (user + system) of processes, which a busy machine inflates less than wall time.

A benchmark on a shared 2-core machine cannot get a quiet wall clock, but the CPU seconds a
command burns move little with the load: they show where the time goes and what a change saves.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def children() -> float:
    """CPU seconds of this process's reaped children so far (RUSAGE_CHILDREN)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def process(pid: int) -> float:
    """CPU seconds of `pid` (all its threads) and of the children it has reaped (a worker's
    pg_dump); 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name, which may hold spaces: utime, stime, cutime, cstime are
    # fields 14-17 of proc(5), positions 11-14 here.
    fields = text.rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / _TICKS
