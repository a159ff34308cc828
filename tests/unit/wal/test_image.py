"""The Docker image carries every program point-in-time recovery calls (no Docker here: the
Dockerfile is read as text, and each program's Debian package is asked of dpkg)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from worker.wal import receiver

ROOT = Path(__file__).resolve().parents[3]
CALLED = re.compile(r'PG_BIN / "([a-z_]+)"')


def _runtime_stage() -> str:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return text.split(" AS runtime", 1)[1]


def _programs() -> set[str]:
    """Every PostgreSQL program worker/wal runs, and `postgres` (pg_ctl starts it)."""
    found = {"postgres"}
    for path in (ROOT / "worker" / "wal").glob("*.py"):
        found |= set(CALLED.findall(path.read_text()))
    return found


def _installed(stage: str, variable: str) -> set[str]:
    """The majors an ARG lists, as the RUN line's loop expands them."""
    listed = re.search(rf'^ARG {variable}="([\d ]+)"', stage, re.M)
    assert listed, f"the runtime stage has no ARG {variable}"
    return set(listed.group(1).split())


def test_the_image_installs_the_package_of_every_program_pitr_runs() -> None:
    stage = _runtime_stage()
    major = receiver.PG_BIN.parent.name  # the major worker/wal takes its programs from
    assert major in _installed(stage, "PG_MAJORS")
    assert major in _installed(stage, "PITR_MAJORS")
    assert 'echo "postgresql-client-$major"; done' in stage
    assert 'for major in $PITR_MAJORS; do echo "postgresql-$major"; done' in stage
    programs = _programs()
    assert {"pg_receivewal", "pg_basebackup", "pg_verifybackup", "pg_waldump"} <= programs
    for program in sorted(programs):
        owner = subprocess.run(
            ["dpkg", "-S", str(receiver.PG_BIN / program)], capture_output=True, text=True
        )
        assert owner.returncode == 0, f"{program}: {owner.stderr}"
        package = owner.stdout.split(":", 1)[0]
        assert package in (f"postgresql-{major}", f"postgresql-client-{major}"), package


def test_the_server_package_creates_no_cluster_in_the_image() -> None:
    stage = _runtime_stage()
    disable = stage.index("create_main_cluster = false")
    assert disable < stage.index('echo "postgresql-$major"')  # before the package installs
    assert "/etc/postgresql-common/createcluster.conf" in stage
