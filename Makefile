# The two commands of the README:
#   make demo   one real backup and its restore, end to end, encrypted with a key it creates;
#               needs PostgreSQL and Redis only (scripts/demo-services.sh), no root
#   make test   ruff, import-linter's layer contracts, mypy --strict and the whole pytest suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install constraints services demo-services demo test lint typecheck pytest docs clean

# Every version comes from constraints.txt, the one CI (.ci/run: make test) and the image use.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Refresh constraints.txt: the newest versions pyproject.toml allows, resolved in a fresh venv.
# pymdown-extensions 13 needs Python 3.11.5; Debian 12's python3 is 3.11.2, so it keeps 12.3.
constraints:
	rm -rf .constraints-venv
	python3 -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install --quiet --upgrade pip
	.constraints-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ echo '# Every dependency of backup-worker[dev], pinned: `make constraints` refreshes it'; \
	  echo '# (docs/operations.md, "Dependencies"). Resolved with Python 3.11 on Linux.'; \
	  .constraints-venv/bin/python -m pip freeze --exclude-editable \
	    | sed 's/^pymdown-extensions==.*$$/&; python_full_version >= "3.11.5"/'; \
	  echo 'pymdown-extensions==12.3; python_full_version < "3.11.5"'; } > constraints.txt
	rm -rf .constraints-venv

# The test command's services and tools (RabbitMQ, nodejs, prometheus: the tests' alone).
services:
	@scripts/system-deps.sh
	@scripts/services.sh

# The demo's: PostgreSQL and Redis where DATABASE_URL, SOURCE_DATABASE_URL and CELERY_BROKER_URL
# point (started when local and stopped), pg_dump and pg_restore.
demo-services: install
	@PY=$(PY) scripts/demo-services.sh

demo: install demo-services
	$(VENV)/bin/backup-worker demo $(ARGS)

lint: install docs
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# The documentation site (mkdocs.yml, docs/), built offline into the venv so no site/ is left.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(abspath $(VENV))/site

typecheck: install
	$(VENV)/bin/mypy

# The files run in two pytest-xdist processes, in half the time of one: the tests mostly wait
# (docs/testing.md). PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2

pytest: install services
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache *.egg-info

# ---- Performance benchmarks (benchmarks/; docs/benchmarks.md) -----------------------------
# make bench         the ~400 MB database: worker (A) vs naive script (B) vs floor (C), memory,
#                    zstd table; then 200 small backups; then maintenance at 1,000,000 rows
# make bench-large   A/B/C on the ~400 MB and ~1.5 GB databases in one run (memory compared)
# make bench-quick   small sizes, to check a change on a busy machine (figures are noisy)
# make bench-drop    drop the cached generated databases (bwbench_*)
# make bench-restore  the worker's restore vs pg_restore and pg_restore -jN, interleaved rounds
#                     (BENCH_ARGS="--size-mb 50" on a busy machine)
# make bench-cli     start-up of `backup-worker --help` and of one enqueue (`backup --json`)
# make bench-ship    issue 22's targets as shipped, on both links (benchmarks/ship.py): backup
#                    A/B/C/floor on ~400 MB and ~1.5 GB with peak RSS, restore, bench-fleet on
#                    1gbit; ~35 min, unattended; a table of every target. BENCH_ARGS narrows it
#                    (e.g. "--size-mb 400 --link 100mbit --no-fleet").
# Results are printed (tables, then JSON) and written to $(BENCH_OUT)/*.json.
BENCH_OUT ?= .bench
BENCH_REPEAT ?= 5
BENCH_ARGS ?=

.PHONY: bench-pitr bench bench-large bench-quick bench-speed bench-small-jobs bench-maintenance bench-drop bench-cli bench-fleet bench-restore bench-ship

bench: bench-speed bench-small-jobs bench-maintenance

bench-speed: install services
	$(PY) -m benchmarks.backup_speed --repeat $(BENCH_REPEAT) --json-out $(BENCH_OUT)/backup_speed.json $(BENCH_ARGS)

bench-large: install services
	$(PY) -m benchmarks.backup_speed --large --repeat $(BENCH_REPEAT) --json-out $(BENCH_OUT)/backup_speed_large.json $(BENCH_ARGS)

bench-small-jobs: install services
	$(PY) -m benchmarks.small_jobs --json-out $(BENCH_OUT)/small_jobs.json

# make bench-fleet: 300 small + 5 multi-part backups through the fleet pacer, Telegram's limits
# (BENCH_ARGS="--copies 2": BACKUP_COPIES=2, each copy in a repository of its own)
bench-fleet: install services
	$(PY) -m benchmarks.fleet --json-out $(BENCH_OUT)/fleet.json $(BENCH_ARGS)

bench-maintenance: install services
	$(PY) -m benchmarks.maintenance --json-out $(BENCH_OUT)/maintenance.json

bench-quick: install services
	$(PY) -m benchmarks.backup_speed --size-mb 50 --json-out $(BENCH_OUT)/quick_backup_speed.json
	$(PY) -m benchmarks.small_jobs --jobs 40 --databases 4 --json-out $(BENCH_OUT)/quick_small_jobs.json
	$(PY) -m benchmarks.maintenance --rows 100000 --due 1000 --deep-offset 50000 --json-out $(BENCH_OUT)/quick_maintenance.json

bench-restore: install services
	$(PY) -m benchmarks.restore_speed --json-out $(BENCH_OUT)/restore_speed.json $(BENCH_ARGS)

bench-ship: install services
	$(PY) -m benchmarks.ship --repeat $(BENCH_REPEAT) --out $(BENCH_OUT) $(BENCH_ARGS)

bench-cli: install services
	$(PY) -m benchmarks.cli_start --json-out $(BENCH_OUT)/cli_start.json $(BENCH_ARGS)

# make bench-pitr   PITR beside pgBackRest (installed here by scripts/system-deps.sh --bench):
#                   restore to a time, WAL bytes stored, the Procfile streamer's lag (docs/benchmarks.md)
bench-pitr: install services
	@scripts/system-deps.sh --bench
	$(PY) -m benchmarks.pitr --against pgbackrest $(BENCH_ARGS)

bench-drop: install services
	$(PY) -m benchmarks.datagen --drop

# ---- Reliability: the chaos run (chaos/; docs/reliability.md) -----------------------------
# make chaos   50 backups by 3 workers from 2 throwaway source servers (25432, 25442+; the
#              control plane on 25452+) and Redis (6390), 2 bots x 2 chats under Telegram's
#              limits, while workers are SIGKILLed, Redis and PostgreSQL restart, the spool
#              fills, the control plane goes down during a record and a part vanishes from
#              Telegram; needs root (runuser, mount). Exit 0 only when every check holds.
#              CHAOS_ARGS="--jobs 20" to shorten.
CHAOS_ARGS ?=

.PHONY: chaos

chaos: install
	$(PY) -m chaos --json $(BENCH_OUT)/chaos.json $(CHAOS_ARGS)

# make chaos-restarts   the issue's run of tests/acceptance/faults/test_lost_messages.py: 90
#              backups into one group chat at the fleet pacer's defaults while the test's own
#              Redis (no persistence) restarts 30 times (about 6 minutes; not in CI).
#              LOST_OWN_PACER=1: the pacer on a Redis of its own that does not restart.
#              LOST_AOF=1: the broker with an append-only file, as scripts/services.sh runs it.
LOST_OWN_PACER ?=
LOST_AOF ?=
.PHONY: chaos-restarts

chaos-restarts: install
	LOST_BACKUPS=90 LOST_RESTARTS=30 LOST_PACED=1 LOST_TIMEOUT=900 LOST_OWN_PACER=$(LOST_OWN_PACER) LOST_AOF=$(LOST_AOF) \
		$(PY) -m pytest tests/acceptance/faults/test_lost_messages.py -s -q -p no:cacheprovider
