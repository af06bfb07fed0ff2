"""API tokens remembered by a service worker, forgotten the moment any account or token changes.

Every API call names its account by a token. Looking it up is one indexed SELECT, but on
PostgreSQL it is a round trip from a worker thread: 0.22 ms of CPU a request under load (half of
it the kernel's), a fifth of a logged evaluate. So a worker keeps the accounts its callers' tokens
named — on PostgreSQL only, and only while it is told of every change:

- triggers on zhunru_account and zhunru_token (`install`) send a notification on channel
  `zhunru_accounts` when a statement changes either table, whoever runs it (`zhunru user`, the
  pages, psql); PostgreSQL delivers it when that transaction commits;
- a thread of each worker LISTENs on its own connection and empties the cache on each one.

The cache is used only while the listener is connected and the triggers are there; when the
connection drops it is emptied and unused until LISTEN holds again. A lookup that was already
reading when a change came is not kept (the generation moved on meanwhile), so nothing read
before a change outlives it. What is left: the milliseconds between a change's commit and its
notification reaching the worker, in which a request may still pass as it would have just before.
SQLite needs none of this (a lookup is 11 µs in process) and has no notifications.
"""
from __future__ import annotations

import threading

from sqlalchemy import text

CHANNEL = "zhunru_accounts"
TRIGGER = "zhunru_accounts_changed"
TABLES = ("zhunru_account", "zhunru_token")
LIMIT = 10_000  # accounts remembered at most; past it the cache starts again
_INSTALLED = f"SELECT count(*) FROM pg_trigger WHERE tgname = '{TRIGGER}' AND tgrelid IN " \
             f"({', '.join(f'to_regclass({t!r})' for t in TABLES)})"


def install(conn) -> None:
    """Create the notifying triggers where they are missing (PostgreSQL; `conn` in a transaction
    that holds the writers' lock, so workers starting together do not race). A role that may not
    create them leaves the cache off; lookups go to the database as before."""
    if conn.execute(text(_INSTALLED)).scalar() == len(TABLES):
        return
    conn.execute(text(f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                      f"BEGIN PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"))
    for table in TABLES:
        conn.execute(text(f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                          f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"))


class TokenCache:
    """Token digest → account, for one process. `get` answers (account or None, generation);
    `put` keeps an account looked up at that generation, unless something changed since."""

    RETRY = 1.0  # seconds before listening again after the connection dropped

    def __init__(self, engine):
        self.engine = engine  # the log's reader: the listener's connection is made as the log's are
        self._lock = threading.Lock()
        self._accounts: dict[str, object] = {}
        self._generation = 0
        self._live = False  # listening, with the triggers in place
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def get(self, key: str) -> tuple[object | None, int | None]:
        """The account remembered for `key`, and the generation to `put` a fresh lookup under
        (None: the cache is not in use now)."""
        if self._thread is None:
            self._start()  # in the worker process itself, after any fork
        with self._lock:
            if not self._live:
                return None, None
            return self._accounts.get(key), self._generation

    def put(self, key: str, account, generation: int | None) -> None:
        with self._lock:
            if generation is None or not self._live or generation != self._generation:
                return  # a change came while the lookup ran: its answer may be the old one
            if len(self._accounts) >= LIMIT:
                self._accounts.clear()
            self._accounts[key] = account

    def _forget(self, live: bool) -> None:
        with self._lock:
            self._accounts.clear()
            self._generation += 1
            self._live = live

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._listen, name="zhunru-token-cache", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                proxied = self.engine.raw_connection()
                conn = proxied.driver_connection
                proxied.detach()  # ours: the pool neither resets nor reuses it
                conn.autocommit = True
                conn.execute(f"LISTEN {CHANNEL}")
                if conn.execute(_INSTALLED).fetchone()[0] == len(TABLES):
                    self._forget(live=True)  # from here on every change is heard
                while not self._stop.is_set():
                    for _notice in conn.notifies(timeout=1.0):
                        self._forget(live=self._live)
            except Exception:  # noqa: BLE001 - a dropped connection, a restarted server: listen again
                pass
            finally:
                self._forget(live=False)
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001,S110 - it is broken already
                        pass
            self._stop.wait(self.RETRY)

    def close(self) -> None:
        self._stop.set()
