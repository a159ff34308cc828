"""The TypeScript client (clients/typescript): its packages installed from the lockfile, built.

`npm ci` runs once per checkout (node_modules is kept, git-ignored) and again only when
package-lock.json changed since; the build (tsc into dist/) runs every time, in about 2 s.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
NPM_TIMEOUT = 300  # seconds: a first `npm ci` downloads the packages
BUILD_TIMEOUT = 120  # seconds


def tool(name: str) -> str:
    """The path of `node` or `npm`; they come with scripts/system-deps.sh."""
    found = shutil.which(name)
    assert found is not None, f"{name} is needed: scripts/system-deps.sh installs it"
    return found


def installed() -> Path:
    """The package directory, its node_modules matching package-lock.json."""
    lock = PACKAGE / "package-lock.json"
    done = PACKAGE / "node_modules" / ".package-lock.json"  # npm writes it on every install
    if not done.is_file() or done.stat().st_mtime < lock.stat().st_mtime:
        run(tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error", timeout=NPM_TIMEOUT)
    return PACKAGE


def run(*argv: str, timeout: float = BUILD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run `argv` in the package directory; AssertionError with its output when it fails."""
    done = subprocess.run(
        argv, cwd=PACKAGE, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def built() -> Path:
    """The package installed and compiled (dist/, git-ignored), tests included."""
    installed()
    run(tool("node"), "node_modules/typescript/bin/tsc", "-p", ".")
    return PACKAGE / "dist"
