"""The statements of one group commit, on one DB-API connection of the log's writer.

Appends are the hot path of the service and of batches: a transaction of a few rows costs its
round trips and its per-statement overhead more than its inserts. So the committer of a
DecisionLog keeps one driver connection (commits in a process are serialised anyway) and speaks
plain SQL through it: prepared statements the driver caches (sqlite3's statement cache,
psycopg's automatic prepare), one statement per lookup whatever the number of keys (a JSON array
on SQLite, an array on PostgreSQL), and executemany for the inserts (pipelined by psycopg).
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

GENESIS = "0" * 64  # the previous hash of the first row


class Writer:
    def __init__(self, engine, is_sqlite: bool, lock_key: int, entry_columns: Sequence[str]):
        self.engine, self.is_sqlite, self.lock_key = engine, is_sqlite, lock_key
        self.entry_columns = tuple(entry_columns)
        self._conn = None  # the pooled DB-API connection, taken on first use
        # the already-logged entries for a list of keys: one statement, any number of keys
        keys = "IN (SELECT value FROM json_each(?))" if is_sqlite else "= ANY(%s::text[])"
        self._by_key = {column: f"SELECT {', '.join(self.entry_columns)} FROM zhunru_log WHERE {column} {keys}"
                        for column in ("decision_key", "act_key")}

    def _sql(self, sql: str) -> str:
        return sql if self.is_sqlite else sql.replace("?", "%s")

    def _read(self, cur, sql: str, params) -> None:
        """A statement that finds rows by key (or changes rows found by key): on PostgreSQL
        planned afresh each time, never prepared. psycopg prepares what runs often, and a generic
        plan made while the log was small is a sequential scan, kept until the next ANALYZE (a
        new log's first minutes, a bulk load): every group commit would then read whole tables
        (seen: 16 writers, 3,400 → 7,500 appends/s on a young log)."""
        if self.is_sqlite:
            cur.execute(sql, params)
        else:
            cur.execute(self._sql(sql), params, prepare=False)

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        return self._conn

    def discard(self) -> None:
        """Drop the connection after an error: the next transaction starts on a fresh one."""
        if self._conn is not None:
            try:
                self._conn.invalidate()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- one transaction ---------------------------------------------------------------------
    def begin(self, keys: dict[str, list[str]]) -> tuple[object, tuple[int, str], list[dict]]:
        """Open the transaction, take the writers' lock, and read the head and the entries
        already logged under `keys` (column → keys): (cursor, (seq, hash), entries). On
        PostgreSQL the four statements travel in one round trip (a pipeline runs them in
        order, each after the one before has finished: the head is read under the lock)."""
        cur = self.conn.cursor()
        wanted = [(column, found) for column, found in keys.items() if found]
        if self.is_sqlite:
            cur.execute("BEGIN IMMEDIATE")  # the connection is in autocommit mode: we begin
            head = self._head(cur)
            rows = [row for column, found in wanted for row in self._existing(cur, column, found)]
            return cur, head, rows
        conn = self.conn.driver_connection
        cursors = [conn.cursor() for _ in range(len(wanted) + 1)]
        with conn.pipeline():
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            cursors[0].execute("SELECT seq, hash FROM zhunru_head WHERE id = 1")
            for c, (column, found) in zip(cursors[1:], wanted):
                self._read(c, self._by_key[column], (found,))
        head = cursors[0].fetchone()
        rows = [dict(zip(self.entry_columns, row)) for c in cursors[1:] for row in c.fetchall()]
        return cur, (head[0], head[1]) if head else (0, GENESIS), rows

    def _head(self, cur) -> tuple[int, str]:
        cur.execute("SELECT seq, hash FROM zhunru_head WHERE id = 1")
        found = cur.fetchone()
        return (found[0], found[1]) if found else (0, GENESIS)

    def _existing(self, cur, column: str, keys: list[str]) -> list[dict]:
        cur.execute(self._by_key[column], (json.dumps(keys),))
        return [dict(zip(self.entry_columns, row)) for row in cur.fetchall()]

    def pipelined(self):
        """Statements whose results nobody reads (inserts, the head) in one round trip on
        PostgreSQL."""
        return contextlib.nullcontext() if self.is_sqlite else self.conn.driver_connection.pipeline()

    def carried(self, cur, city: str, kind: str, community: str) -> set[str]:
        self._read(cur, "SELECT matter FROM zhunru_carried WHERE community = ? AND kind = ? AND city = ?",
                    (community, kind, city))
        return {row[0] for row in cur.fetchall()}

    def insert(self, cur, table, columns: Sequence[str], rows: list[tuple], or_ignore: bool = False) -> None:
        """Insert rows into `table` (a SQLAlchemy Table) with executemany (pipelined by psycopg)."""
        if rows:
            marks = ", ".join("?" * len(columns))
            cur.executemany(self._sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
                                      + (" ON CONFLICT DO NOTHING" if or_ignore else "")), rows)

    def act(self, cur, decision_id: str, state: str, act_seq: int) -> None:
        """An approval, refusal or withdrawal: its decision's community rows take the new state;
        what it puts in effect is carried, what it withdraws no longer is (unless another
        decision in effect carries the same matter for that community)."""
        decision = "(SELECT seq FROM zhunru_log WHERE entry_id = ?)"
        self._read(cur, f"UPDATE zhunru_target SET state = ? WHERE decision_seq = {decision}",
                    (state, decision_id))
        if state == "withdrawn":
            same = ("{t}.community = zhunru_carried.community AND {t}.kind = zhunru_carried.kind "
                    "AND {t}.city = zhunru_carried.city AND {t}.matter = zhunru_carried.matter")
            self._read(cur, (
                "DELETE FROM zhunru_carried WHERE EXISTS (SELECT 1 FROM zhunru_target w "
                f"WHERE w.decision_seq = {decision} AND {same.format(t='w')}) "
                "AND NOT EXISTS (SELECT 1 FROM zhunru_target o "
                f"WHERE o.state = 'in_effect' AND {same.format(t='o')})"), (decision_id,))
            return
        self._read(cur, ("INSERT INTO zhunru_carried (community, kind, city, matter, since_seq) "
                              "SELECT community, kind, city, matter, ? FROM zhunru_target "
                              f"WHERE decision_seq = {decision} AND state = 'in_effect' ON CONFLICT DO NOTHING"),
                    (act_seq, decision_id))

    def set_head(self, cur, seq: int, hash_: str) -> None:
        cur.execute(self._sql("INSERT INTO zhunru_head (id, seq, hash) VALUES (1, ?, ?) "
                              "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"), (seq, hash_))

    def commit(self, cur) -> None:
        if self.is_sqlite:
            cur.execute("COMMIT")
        else:
            self.conn.driver_connection.commit()
        cur.close()

    def rollback(self) -> None:
        if self._conn is None:
            return
        try:
            if self.is_sqlite:
                if self._conn.driver_connection.in_transaction:
                    self._conn.cursor().execute("ROLLBACK")
            else:
                self._conn.rollback()
        except Exception:  # noqa: BLE001 - a broken connection: start afresh
            self.discard()
