"""What the PITR integration tests share: a source cluster that streams, a work directory the
scratch instance (run as postgres when the tests run as root) can reach."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import services
from tests.support import wal as support


@pytest.fixture
def cluster() -> Iterator[services.PostgresCluster]:
    with support.source_cluster() as source:
        yield source


@pytest.fixture
def work() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bw-wal-"))
    os.chmod(root, 0o755)  # noqa: S103 - the scratch instance runs as postgres below it
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
