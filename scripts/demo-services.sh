#!/usr/bin/env bash
# What `make demo` needs and nothing more (the tests' services are scripts/services.sh's):
# PostgreSQL and Redis where the worker's settings point (DATABASE_URL, SOURCE_DATABASE_URL,
# CELERY_BROKER_URL, from the environment or .env), started only when they are local, on their
# default ports, and stopped; and pg_dump/pg_restore. Never root, never apt: what is missing is
# named with the command that provides it.
set -euo pipefail
PY=${PY:-.venv/bin/python}

# "kind host port" per URL, read by the worker's own settings so that .env counts too.
endpoints=$("$PY" - <<'PYTHON'
import sys
from urllib.parse import urlsplit

from worker import errors, settings

try:
    config = settings.load()
except errors.ConfigError as exc:
    sys.exit(f"demo-services: {exc.message}")
urls = (config.database_url, config.source_database_url.get_secret_value(), config.celery_broker_url)
for url in urls:
    parts = urlsplit(url)
    kind = parts.scheme.split("+")[0]
    port = parts.port or {"postgresql": 5432, "redis": 6379, "rediss": 6379}.get(kind, 0)
    print(kind, parts.hostname or "127.0.0.1", port)
PYTHON
)

local_default() {  # kind host port: this machine's server on its usual port, which we may start
    case "$2" in 127.0.0.1 | localhost | ::1) ;; *) return 1 ;; esac
    [ "$1" = postgresql ] && [ "$3" = 5432 ] && return 0
    [ "$1" = redis ] && [ "$3" = 6379 ]
}

open_port() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start_postgresql() {
    local version
    version=$(ls /etc/postgresql 2>/dev/null | head -n1)
    if [ -z "$version" ] || ! pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null; then
        echo "demo: PostgreSQL is not running on 127.0.0.1:5432; start it (e.g. sudo pg_ctlcluster ${version:-<version>} main start)" >&2
        exit 1
    fi
    for _ in $(seq 1 30); do open_port 127.0.0.1 5432 && return; sleep 1; done
}

start_redis() {
    command -v redis-server >/dev/null || { echo "demo: Redis is not running on 127.0.0.1:6379 and redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do open_port 127.0.0.1 6379 && return; sleep 0.5; done
}

while read -r kind host port; do
    open_port "$host" "$port" && { echo "demo: $kind at $host:$port is up"; continue; }
    if local_default "$kind" "$host" "$port"; then
        echo "demo: starting $kind on $host:$port"
        "start_$kind"
        open_port "$host" "$port" || { echo "demo: $kind did not open $host:$port" >&2; exit 1; }
    else
        echo "demo: $kind at $host:$port does not answer (check the URL in the environment or .env)" >&2
        exit 1
    fi
done <<<"$(sort -u <<<"$endpoints")"

for tool in pg_dump pg_restore; do
    command -v "$tool" >/dev/null || { echo "demo: $tool is missing (apt-get install postgresql-client)" >&2; exit 1; }
done
