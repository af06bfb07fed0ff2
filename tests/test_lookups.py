"""The token and session lookups of the request path (engine/log/lookups.py): each thread keeps a
driver connection in autocommit mode. What must hold, on a real SQLite file and the real
PostgreSQL server: a revocation, a disabled account and a new token are seen by the very next
lookup on a connection that is already open (no stale snapshot); a connection that dies under a
thread is replaced and the lookup still answers; many threads at once each get their own answer."""
from __future__ import annotations

import threading

import pytest

from zhunru.log.store import DecisionLog
from zhunru.office.accounts import Accounts

PASSWORD = "a long enough password"


@pytest.fixture
def accounts(db_url):
    log = DecisionLog(db_url)
    found = Accounts(log)
    found.add("clerk", "department", PASSWORD, scope="七星关区司法局")
    found.add("boss", "admin", PASSWORD)
    yield found
    log.close()


def test_revocation_and_disabling_are_seen_at_once_on_an_open_connection(accounts):
    token = accounts.add_token("clerk", "office system")
    assert accounts.by_token(token).name == "clerk"  # this thread's connection is open now
    later = accounts.add_token("boss", "later")  # written through another connection
    assert accounts.by_token(later).role == "admin"
    accounts.disable("clerk")
    assert accounts.by_token(token) is None
    accounts.enable("clerk")
    assert accounts.by_token(token) is None  # disabling revoked its tokens for good
    assert accounts.by_token("zr_" + "x" * 43) is None


def test_a_session_ends_for_the_next_lookup(accounts):
    account = accounts.authenticate("clerk", PASSWORD)
    secret, csrf = accounts.start_session(account)
    found, found_csrf = accounts.session(secret)
    assert (found.name, found.role, found.scope, found_csrf) == ("clerk", "department", "七星关区司法局", csrf)
    accounts.end_session(secret)
    assert accounts.session(secret) is None
    secret, _ = accounts.start_session(account)
    assert accounts.session(secret) is not None
    accounts.disable("clerk")
    assert accounts.session(secret) is None


def test_a_dead_connection_is_replaced(accounts, db_url):
    token = accounts.add_token("clerk", "office system")
    assert accounts.by_token(token) is not None
    conn = accounts._lookups._local.conn
    if db_url.startswith("sqlite"):
        conn.close()
    else:  # the server ends the session, as a restart or a network cut would
        import psycopg

        pid = conn.info.backend_pid
        with psycopg.connect(db_url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert accounts.by_token(token).name == "clerk"
    assert accounts._lookups._local.conn is not conn


def test_many_threads_each_get_their_own_answer(accounts):
    tokens = {accounts.add_token("clerk", f"t{i}"): "clerk" for i in range(5)}
    tokens.update({accounts.add_token("boss", f"b{i}"): "boss" for i in range(5)})
    wrong: list[str] = []

    def ask(items):
        for _ in range(20):
            for token, name in items:
                found = accounts.by_token(token)
                if found is None or found.name != name:
                    wrong.append(token)

    items = list(tokens.items())
    threads = [threading.Thread(target=ask, args=(items[i % 10:] + items[:i % 10],)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
