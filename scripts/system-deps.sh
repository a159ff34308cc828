#!/usr/bin/env bash
# Debian packages the worker and its tests call as programs. Installs only what is missing.
set -euo pipefail

missing=()
command -v pg_dump >/dev/null || missing+=(postgresql-client)
command -v zstd >/dev/null || missing+=(zstd)
command -v curl >/dev/null || missing+=(curl)
command -v age >/dev/null || missing+=(age)
# Node runs the gateway-side tests (tests/node, clients/typescript: 18 or later).
command -v node >/dev/null || missing+=(nodejs npm)
if command -v node >/dev/null && (($(node -p 'process.versions.node.split(".")[0]') < 18)); then
    echo "system-deps: node $(node --version) is too old for clients/typescript (18 or later)" >&2
fi
# The exporter's tests: promtool checks the alerting rules, prometheus scrapes the exporter.
command -v prometheus >/dev/null || missing+=(prometheus)
# The systemd units' test: `systemd-analyze verify` (offline; systemd need not be running).
command -v systemd-analyze >/dev/null || missing+=(systemd)
# `system-deps.sh --bench`: the peers the benchmarks measure against (make bench-pitr), not the tests'.
if [ "${1:-}" = "--bench" ]; then
    command -v pgbackrest >/dev/null || missing+=(pgbackrest)
fi

if ((${#missing[@]})); then
    echo "system-deps: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "system-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
