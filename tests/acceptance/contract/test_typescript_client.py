"""The TypeScript client (clients/typescript) against a real worker, PostgreSQL, Redis and the
Bot API stand-in: Node's test runner runs clients/typescript/test/*.test.ts (compiled), which
send and read as the api-gateway does. One worker serves them all."""

from __future__ import annotations

import re
import subprocess

from sqlalchemy.engine import make_url

from tests.acceptance.conftest import Stack
from tests.support import typescript

NODE_TIMEOUT = 150  # seconds, for the whole run


def test_the_typescript_client_against_a_real_worker(stack: Stack) -> None:
    dist = typescript.built()
    worker = stack.start_worker()
    env = stack.env(
        BW_DATABASE_URL=make_url(stack.control_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        BW_BROKER_URL=stack.broker_url,
        BW_SOURCE_DB=stack.source_db,
        BW_TELEGRAM_API_URL=stack.standin.url,
        BW_TELEGRAM_TOKEN=stack.token,
        BW_TELEGRAM_CHAT_ID=stack.chat,
    )
    tests = sorted(str(path) for path in (dist / "test").glob("*.test.js"))
    assert tests, f"no compiled tests in {dist / 'test'}"
    done = subprocess.run(
        [typescript.tool("node"), "--test", "--test-reporter=spec", *tests],
        cwd=typescript.PACKAGE,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{worker.log()[-4000:]}"
    # The spec reporter's summary: every test ran and passed, none skipped.
    summary = dict(
        re.findall(r"^\S+ (tests|pass|fail|skipped|todo|cancelled) (\d+)$", done.stdout, re.M)
    )
    assert int(summary["tests"]) >= 6, done.stdout
    assert summary["pass"] == summary["tests"], done.stdout
    print(done.stdout)
