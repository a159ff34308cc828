# The image behind docker-compose.yml: worker, beat, flower and migrate all run from it.
FROM python:3.11-slim

# pg_dump/pg_restore must be at least as new as the PostgreSQL server they dump: Debian 12's
# client is 15. For a newer server, install postgresql-client-NN from the PGDG repository here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client zstd age \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . .
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/backup-worker --create-home backup-worker \
    && install -d -m 0700 -o backup-worker -g backup-worker /var/spool/backup-worker

# A writable working directory: beat keeps its schedule file here; .env is read from here.
WORKDIR /var/lib/backup-worker
USER backup-worker
CMD ["celery", "-A", "worker.app", "worker", "--loglevel=INFO"]
