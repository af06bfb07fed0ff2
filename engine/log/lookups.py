"""Point lookups on the request path — an API token, a web session — on a connection each thread keeps.

Every API call looks its token up. Through the log's reader engine that is a pool checkout (on
PostgreSQL with a pre-ping: one more round trip), BEGIN, the SELECT, and a rollback when the
connection goes back: 64 µs on SQLite and 0.42 ms on PostgreSQL in one thread, more when the
service's 40 worker threads share a pool of 15 (connections beyond it are opened and closed again,
each with its PRAGMAs). A driver connection that each thread keeps, in autocommit mode, makes it the
SELECT alone (5 µs on SQLite, one round trip on PostgreSQL).

The connections come from the reader engine (`raw_connection().detach()`), so they are made as the
log's own are (SQLite PRAGMAs, PostgreSQL options such as search_path in the URL) and then leave the
pool. A thread's connection goes when the thread does; one that fails is dropped and the lookup is
tried once more on a fresh one (a restarted server, a connection the network cut).
"""
from __future__ import annotations

import threading


class PointReader:
    """`one(sql, params)`: the first row of a read-only statement, or None; `all`: every row. `sql` marks each
    parameter with `{p}`, written as the driver wants it (`?` for sqlite3, `%s` for psycopg)."""

    def __init__(self, engine):
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._marker = "?" if self.is_sqlite else "%s"
        self._local = threading.local()
        self._statements: dict[str, str] = {}

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            proxied = self.engine.raw_connection()
            conn = proxied.driver_connection
            proxied.detach()  # ours now: the pool neither resets nor reuses it
            if self.is_sqlite:
                conn.isolation_level = None  # autocommit: each SELECT reads the last commit
            else:
                conn.autocommit = True
            self._local.conn = conn
        return conn

    def one(self, sql: str, params: tuple) -> tuple | None:
        return self._run(sql, params, lambda cur: cur.fetchone())

    def all(self, sql: str, params: tuple) -> list[tuple]:
        """Every row. On PostgreSQL planned afresh each time, never prepared: psycopg prepares a
        statement run often, and a generic plan made while a table was small stays a sequential
        scan as it grows (writer.py `_read`)."""
        return self._run(sql, params, lambda cur: cur.fetchall(), prepare=False)

    def _run(self, sql: str, params: tuple, fetch, prepare: bool | None = None):
        statement = self._statements.get(sql)
        if statement is None:
            statement = self._statements[sql] = sql.replace("{p}", self._marker)
        options = {} if self.is_sqlite or prepare is None else {"prepare": prepare}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                cur = conn.cursor()
                try:
                    cur.execute(statement, params, **options)
                    return fetch(cur)
                finally:
                    cur.close()
            except self.engine.dialect.loaded_dbapi.Error:
                self._drop(conn)
                if attempt == 2:
                    raise

    def _drop(self, conn) -> None:
        self._local.conn = None
        try:
            conn.close()
        except Exception:  # noqa: BLE001,S110 - it is broken already; a new one is made next time
            pass
