"""Engine and session handling for the control-plane database."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, orm
from sqlalchemy.engine import make_url

CONNECT_TIMEOUT = 10  # seconds
POOL_SIZE = 5  # connections kept open (SQLAlchemy's default); callers may ask for more


class Database:
    """One engine and one sessionmaker for a control-plane URL, built on first use.

    Connection pools must never cross a fork: a forked child inherits the parent's pooled
    sockets, and two processes speaking over one PostgreSQL connection corrupt each other's
    protocol state. So each process builds its own pool: Celery creates a Database per worker
    process (after the prefork pool forks), and nothing connects at import time. As a safety
    net, a Database first used in a process other than the one that built its engine drops the
    inherited pool without closing the parent's connections and builds a fresh one.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self._echo = echo
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._engine: Engine | None = None
        self._sessionmaker: orm.sessionmaker[orm.Session] | None = None

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        """The engine of this process, created on first use."""
        return self._build()[0]

    @property
    def sessionmaker(self) -> orm.sessionmaker[orm.Session]:
        """The session factory of this process, created on first use."""
        return self._build()[1]

    def _build(self) -> tuple[Engine, orm.sessionmaker[orm.Session]]:
        with self._lock:
            if self._engine is not None and self._pid != os.getpid():
                # close=False: the sockets belong to the parent, which keeps using them.
                self._engine.dispose(close=False)
                self._engine = self._sessionmaker = None
            if self._engine is None or self._sessionmaker is None:
                self._pid = os.getpid()
                url = make_url(self.url)
                connect_args = (
                    {"connect_timeout": CONNECT_TIMEOUT}
                    if url.drivername in ("postgresql", "postgresql+psycopg2")
                    else {}
                )
                self._engine = create_engine(
                    url,
                    echo=self._echo,
                    pool_pre_ping=True,
                    pool_size=self._pool_size,
                    connect_args=connect_args,
                )
                # expire_on_commit=False: rows returned from a transaction stay readable after it.
                self._sessionmaker = orm.sessionmaker(self._engine, expire_on_commit=False)
            return self._engine, self._sessionmaker

    @contextmanager
    def transaction(self) -> Iterator[orm.Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection; the next use builds a new pool."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose(close=self._pid == os.getpid())
            self._engine = self._sessionmaker = None
