"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE for write sessions, so
concurrent writers queue on the lock instead of failing on an upgrade from a read lock.
Read sessions use deferred transactions and never take the write lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off; SQLAlchemy's begin hook emits BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _json_dumps(value: Any) -> str:
    """Serialise JSON columns with orjson (several times faster than json.dumps on a pipeline's batches)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def make_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> Engine:
    """Create an engine configured for `url`'s backend; `immediate` makes SQLite writers lock early."""
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", _json_loads)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin_sql)

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class FairLock:
    """A reentrant lock handed to waiting threads in the order they asked for it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[tuple[int, threading.Lock]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me or (self._owner is None and not self._waiters):
                self._owner = me
                self._depth += 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append((me, baton))
        try:
            baton.acquire()  # the releasing thread makes us the owner, then lets us go
        except BaseException:
            with self._mutex:
                if (me, baton) in self._waiters:
                    self._waiters.remove((me, baton))
                    raise
            self.__exit__()  # ownership arrived as we were interrupted: pass it on
            raise

    def __exit__(self, *_: object) -> None:
        with self._mutex:
            self._depth -= 1
            if self._depth:
                return
            if self._waiters:
                self._owner, baton = self._waiters.popleft()
                self._depth = 1
                baton.release()
            else:
                self._owner = None


class Database:
    """The storage handle a process holds: a writer engine, a reader engine and their sessions."""

    def __init__(self, url: str, *, poolclass: Any = None) -> None:
        self.url = url
        extra: dict[str, Any] = {"poolclass": poolclass} if poolclass else {}
        self.engine = make_engine(url, immediate=True, **extra)
        if self.is_sqlite:
            self.read_engine = make_engine(url, immediate=False, **extra)
        else:
            self.read_engine = self.engine
        # SQLite has one writer at a time. Writers of this process queue on a lock, in order, woken the
        # moment it is free; in SQLite's busy handler they would poll with sleeps of up to 100 ms while
        # late arrivals (a worker looping over batches) overtake them again and again.
        self._write_lock = FairLock() if self.is_sqlite else None
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Open a session whose transaction commits on success and rolls back on error."""
        with self._write_lock or nullcontext(), self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a session for queries only; it never takes SQLite's write lock."""
        # Closing (not rolling back) ends the transaction but leaves loaded objects readable.
        with self._reader() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def open_database(url: str, *, single_connection: bool = False) -> Database:
    """Return a Database for `url`; `single_connection` avoids pooling (short CLI runs, tests)."""
    return Database(url, poolclass=NullPool if single_connection else None)
