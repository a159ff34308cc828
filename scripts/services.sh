#!/usr/bin/env bash
# Start the local services the tests need, when they are not already running (the demo's:
# scripts/demo-services.sh).
# On a machine of this project's kind PostgreSQL and Redis are installed but may have been stopped.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "services: starting Redis"
    # An append-only file, fsynced every second: a restart of Redis keeps the queued messages
    # (without it a restart empties the queues, docs/reliability.md "Redis persistence").
    redis_dir="${REDIS_DIR:-/var/lib/redis}"
    mkdir -p "$redis_dir"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$redis_dir" \
        --save "" --appendonly yes --appendfsync everysec
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
echo "redis: $(redis-cli -h 127.0.0.1 -p 6379 ping)"

for tool in pg_dump pg_restore zstd; do
    command -v "$tool" >/dev/null || { echo "services: $tool is missing (apt-get install postgresql-client zstd)"; exit 1; }
done

# --- RabbitMQ: the second broker (tests/acceptance/test_rabbitmq.py) -----------------------
# Machines of this project's kind run it at 127.0.0.1:5672 (guest/guest) but it may be stopped.
amqp_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! amqp_open; then
    command -v rabbitmq-server >/dev/null || { echo "services: rabbitmq-server is missing (apt-get install rabbitmq-server)"; exit 1; }
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached
    for _ in $(seq 1 90); do amqp_open && break; sleep 1; done
fi
amqp_open || { echo "services: RabbitMQ did not open 127.0.0.1:5672"; exit 1; }
echo "rabbitmq: listening on 127.0.0.1:5672"
