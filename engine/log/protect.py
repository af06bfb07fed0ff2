"""The database refuses rewrites (PostgreSQL): `zhunru log protect`.

Triggers make the log tables append-only for everyone, the tables' owner included: an UPDATE,
DELETE or TRUNCATE of zhunru_log, zhunru_attachment or zhunru_checkpoint is refused, and the
head (zhunru_head) may only move forward. With `app_role`, a login role is made for the
service and the CLI that may only SELECT and INSERT on those tables (and keep the derived
tables — what communities carry, accounts, sessions, the registry — up to date). The registry
and the allocations are edited in place by design, so they stay writable; each of their changes
is an entry of the log (append-only like the rest), and `log verify` checks them against it.

This raises the bar; it does not remove it: a superuser or the tables' owner can drop a
trigger. What catches them is a signed checkpoint kept outside the database
(log/checkpoint.py). SQLite has neither roles nor a server to enforce them: it is for one
host, with checkpoints as its anchor.
"""
from __future__ import annotations

import re

from sqlalchemy import text

from zhunru.errors import InputError

APPEND_ONLY = ("zhunru_log", "zhunru_attachment", "zhunru_checkpoint")
FORWARD_ONLY = "zhunru_head"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

REFUSE = """
CREATE OR REPLACE FUNCTION zhunru_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'zhunru: % on % refused: the decision log is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""
FORWARD = """
CREATE OR REPLACE FUNCTION zhunru_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.seq >= OLD.seq THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'zhunru: % on % refused: the head of the log only moves forward', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def protect(store, app_role: str | None = None, password: str | None = None) -> list[str]:
    """Install the triggers (and the application role) in the log's database; what was done."""
    if store.is_sqlite:
        raise InputError("--db: SQLite cannot refuse rewrites (no roles, no server); keep signed checkpoints "
                         "outside it instead (zhunru log checkpoint)")
    if app_role is not None and not ROLE_NAME.match(app_role):
        raise InputError("--app-role: lower-case letters, digits and _ (at most 63), starting with a letter")
    if app_role is not None and (not password or len(password) < 12):
        raise InputError("password: the application role needs a password of at least 12 characters")
    done = []
    with store.engine.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        conn.execute(text(REFUSE))
        conn.execute(text(FORWARD))
        for table in APPEND_ONLY:
            _trigger(conn, table, "zhunru_no_rewrite", "BEFORE UPDATE OR DELETE", "ROW", "zhunru_refuse_rewrite")
            _trigger(conn, table, "zhunru_no_truncate", "BEFORE TRUNCATE", "STATEMENT", "zhunru_refuse_rewrite")
            done.append(f"{table}: append-only (UPDATE, DELETE, TRUNCATE refused)")
        _trigger(conn, FORWARD_ONLY, "zhunru_head_forward", "BEFORE UPDATE OR DELETE", "ROW", "zhunru_head_forward")
        _trigger(conn, FORWARD_ONLY, "zhunru_no_truncate", "BEFORE TRUNCATE", "STATEMENT", "zhunru_refuse_rewrite")
        done.append(f"{FORWARD_ONLY}: moves forward only")
        if app_role is not None:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app_role}).first()
            quoted_password = password.replace("'", "''")
            verb = "ALTER" if exists else "CREATE"
            conn.execute(text(f"{verb} ROLE {app_role} LOGIN PASSWORD '{quoted_password}'"))
            others = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename LIKE 'zhunru%'"), {"s": schema})
                      if r[0] not in (*APPEND_ONLY, FORWARD_ONLY)]
            conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {app_role}'))
            conn.execute(text(f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO {app_role}"))
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE ON {FORWARD_ONLY} TO {app_role}"))
            if others:
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(others)} TO {app_role}"))
            conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {app_role}'))
            done.append(f"role {app_role}: SELECT and INSERT only on {', '.join(APPEND_ONLY)}; "
                        f"the other zhunru tables as the service needs them")
    return done


def _trigger(conn, table: str, name: str, when: str, level: str, function: str) -> None:
    conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
    conn.execute(text(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH {level} EXECUTE FUNCTION {function}()"))
