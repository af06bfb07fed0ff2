"""The token and session lookups of the request path (engine/log/lookups.py): each thread keeps a
driver connection in autocommit mode. What must hold, on a real SQLite file and the real
PostgreSQL server: a revocation, a disabled account and a new token are seen by the very next
lookup on a connection that is already open (no stale snapshot); a connection that dies under a
thread is replaced and the lookup still answers; many threads at once each get their own answer."""
from __future__ import annotations

import threading

import pytest

from zhunru.log.store import DecisionLog
from zhunru.office.accounts import Accounts, digest

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


# -- a service worker's token cache (PostgreSQL; office/token_cache.py) ------------------------------
def _until(condition, what: str, seconds: float = 10.0):
    import time

    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.01)
    return found


def _changed(cache, since: int):
    """Until the cache has heard of a change after `since` (its generation moved on)."""
    return _until(lambda: (cache.get("-")[1] or -1) > since, "the change's notification reached the cache")


@pytest.fixture
def cached(pg_url):
    log = DecisionLog(pg_url)
    accounts = Accounts(log, cache_tokens=True)
    accounts.add("clerk", "department", PASSWORD, scope="七星关区司法局")
    token = accounts.add_token("clerk", "office system")
    cache = accounts._tokens
    _until(lambda: cache.get("-")[1] is not None, "the listener is up")
    yield accounts, token, pg_url
    accounts.close()
    log.close()


def _sql(url: str, statement: str) -> None:
    import psycopg

    base, _, options = url.partition("?options=-csearch_path%3D")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {options}")
        conn.execute(statement)


def test_a_cached_token_answers_without_the_database_until_a_change_is_heard(cached):
    accounts, token, url = cached
    key = digest(token)
    assert accounts.by_token(token).role == "department"
    assert accounts._tokens.get(key)[0].name == "clerk"  # remembered
    # with the triggers off, a change in the database is not heard: the remembered account answers
    _sql(url, "ALTER TABLE zhunru_account DISABLE TRIGGER zhunru_accounts_changed")
    _sql(url, "UPDATE zhunru_account SET role = 'auditor'")
    assert accounts.by_token(token).role == "department"
    _sql(url, "ALTER TABLE zhunru_account ENABLE TRIGGER zhunru_accounts_changed")
    # a change made by anyone, here psql-like SQL, empties the cache the moment it is heard
    since = accounts._tokens.get(key)[1]
    _sql(url, "UPDATE zhunru_account SET display = '司法局' WHERE name = 'clerk'")
    _changed(accounts._tokens, since)
    assert accounts.by_token(token).role == "auditor"


def test_disabling_and_revoking_through_another_process_reach_the_cache(cached):
    accounts, token, url = cached
    other = Accounts(url)  # another process's view: `zhunru user …`
    assert accounts.by_token(token).name == "clerk"
    since = accounts._tokens.get("-")[1]
    other.disable("clerk")
    _changed(accounts._tokens, since)
    assert accounts.by_token(token) is None
    other.enable("clerk")
    fresh = other.add_token("clerk", "new")
    assert accounts.by_token(fresh).name == "clerk"
    since = accounts._tokens.get("-")[1]
    _sql(url, "UPDATE zhunru_token SET revoked = true")
    _changed(accounts._tokens, since)
    assert accounts.by_token(fresh) is None
    other.close()


def test_a_lookup_that_raced_a_change_is_not_kept(cached):
    accounts, token, url = cached
    cache, key = accounts._tokens, digest(token)
    found, generation = cache.get(key)
    assert found is None and generation is not None
    stale = accounts.by_token(token)  # read before the change below; put under the old generation
    _sql(url, "UPDATE zhunru_account SET disabled = true")
    _changed(cache, generation)
    cache.put(key, stale, generation)
    assert cache.get(key)[0] is None
    assert accounts.by_token(token) is None


def test_the_cache_is_unused_while_its_listener_is_cut_off(cached):
    import psycopg

    accounts, token, url = cached
    cache, key = accounts._tokens, digest(token)
    assert accounts.by_token(token) is not None and cache.get(key)[0] is not None
    with psycopg.connect(url.split("?")[0], autocommit=True) as admin:
        cut = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                            "AND query LIKE '%tgname = ''zhunru_accounts_changed''%'").fetchall()
    assert cut, "the listener's connection was found"
    _until(lambda: cache.get(key) == (None, None), "the cache is off once the connection is cut")
    # off, every lookup reads the database: a change is seen even before anyone listens again
    _sql(url, "ALTER TABLE zhunru_account DISABLE TRIGGER zhunru_accounts_changed")
    _sql(url, "UPDATE zhunru_account SET role = 'auditor'")
    _sql(url, "ALTER TABLE zhunru_account ENABLE TRIGGER zhunru_accounts_changed")
    if cache.get(key) == (None, None):
        assert accounts.by_token(token).role == "auditor"
    # and it listens again by itself, starting empty
    _until(lambda: cache.get(key)[1] is not None, "the listener is back")
    assert cache.get(key)[0] is None
    assert accounts.by_token(token).role == "auditor"


def test_sqlite_keeps_no_cache(sqlite_url):
    accounts = Accounts(sqlite_url, cache_tokens=True)
    assert accounts._tokens is None
    accounts.close()
