# The image behind docker-compose.yml: worker, scheduled, beat, flower, exporter and migrate all
# run from it (docs/operations.md, "Docker Compose"). Two stages: `build` installs the Python
# packages into a virtual environment, `runtime` adds the programs the worker calls and copies
# that environment in. Tests, benchmarks, chaos and docs never enter the image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/backup-worker
ENV PATH=/opt/backup-worker/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml's list and constraints.txt's versions only: an edit of
# the source leaves this layer cached; a changed dependency or pin rebuilds it.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && pip install -c constraints.txt -r requirements.txt
# Then the package itself, its dependencies already in place.
COPY README.md celeryconfig.py ./
COPY db ./db
COPY standin ./standin
COPY tasks ./tasks
COPY worker ./worker
RUN pip install --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
# pg_dump must be at least as new as the server it dumps, and pg_restore at least as new as the
# pg_dump that wrote the archive: the worker takes the lowest /usr/lib/postgresql/N/bin that
# qualifies (docs/servers.md). PGDG's repository carries every major side by side; list the
# majors of your servers (--build-arg PG_MAJORS="15 16"), or add the next one when it ships.
ARG PG_MAJORS="13 14 15 16 17"
# Point-in-time recovery (docs/pitr.md) replays WAL in a scratch PostgreSQL of the server's
# major and reads WAL with pg_waldump: both come with the server package (postgresql-N), which
# worker/wal takes from /usr/lib/postgresql/15/bin. No cluster is created by the package
# (create_main_cluster = false): the image runs none but the scratch instance of a restore.
ARG PITR_MAJORS="15"
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-common zstd age \
    && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
    && sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends $(for major in $PG_MAJORS; do echo "postgresql-client-$major"; done) \
        $(for major in $PITR_MAJORS; do echo "postgresql-$major"; done) \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/backup-worker --create-home backup-worker \
    && install -d -m 0700 -o backup-worker -g backup-worker /var/spool/backup-worker

COPY --from=build /opt/backup-worker /opt/backup-worker
ENV PATH=/opt/backup-worker/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BACKUP_SPOOL_DIR=/var/spool/backup-worker

# A writable working directory: beat keeps its schedule file here; .env is read from here.
WORKDIR /var/lib/backup-worker
USER backup-worker
# The default command's check: the worker answers a ping over the broker only while its consumer
# runs (a process alive but cut off from Redis does not). docker-compose.yml sets each other
# service's own check.
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 \
    CMD celery -A worker.app inspect ping --destination "celery@$HOSTNAME" --timeout 10 || exit 1
CMD ["celery", "-A", "worker.app", "worker", "-Q", "celery", "--loglevel=INFO"]
