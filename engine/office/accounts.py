"""Accounts (账号): who may act, in which role and over what scope; their passwords, API tokens
and web sessions. Kept in the decision log's database (tables zhunru_account, zhunru_token,
zhunru_session) so any number of service workers share them.

    admin       everything, any district
    approver    the district body (区社区办): approves, refuses, withdraws for one district
    department  a department's clerk (职能部门): files requests for that department only
    community   a community worker: sees and reports for one community (by code)
    auditor     reads everything, changes nothing

Passwords are hashed with argon2id (argon2-cffi); API tokens and session ids are random (32
bytes) and only their sha256 is stored, so a copy of the database does not log anyone in. Five
wrong passwords in a row lock an account for 15 minutes (whichever worker sees them: the count
is in the database). There is no default password: `zhunru user add` sets one, `serve --demo`
makes throwaway accounts on a throwaway database.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, select
from zhunru.errors import InputError
from zhunru.log.lookups import PointReader
from zhunru.office import token_cache
from zhunru.log.store import DecisionLog, LogError, _short

ROLES = ("admin", "approver", "department", "community", "auditor")
SCOPE = {"approver": "district", "department": "department", "community": "community"}  # what the scope names
ROLE_NAMES = {"admin": "管理员", "approver": "区社区办审批", "department": "职能部门", "community": "社区工作者",
              "auditor": "审计(只读)"}
MIN_PASSWORD = 10
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=8)
TOKEN_PREFIX = "zr_"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountRow(SQLModel, table=True):
    __tablename__ = "zhunru_account"
    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    scope: str | None = Field(default=None, max_length=200)
    display: str = Field(max_length=200)
    password_hash: str | None = Field(default=None, max_length=200)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: str | None = Field(default=None, max_length=40)
    created_at: str = Field(max_length=40)
    updated_at: str = Field(max_length=40)


class TokenRow(SQLModel, table=True):
    __tablename__ = "zhunru_token"
    digest: str = Field(primary_key=True, max_length=64)
    account: str = Field(index=True, max_length=64)
    label: str = Field(max_length=200)
    created_at: str = Field(max_length=40)
    revoked: bool = False


class SessionRow(SQLModel, table=True):
    __tablename__ = "zhunru_session"
    digest: str = Field(primary_key=True, max_length=64)
    account: str = Field(index=True, max_length=64)
    csrf: str = Field(max_length=64)
    expires_at: str = Field(max_length=40)


TABLES = [AccountRow.__table__, TokenRow.__table__, SessionRow.__table__]
# the two lookups every request makes ({p}: the driver's parameter marker; see log/lookups.py)
TOKEN_LOOKUP = ("SELECT a.name, a.role, a.scope, a.display FROM zhunru_token t JOIN zhunru_account a "
                "ON a.name = t.account WHERE t.digest = {p} AND NOT t.revoked AND NOT a.disabled")
SESSION_LOOKUP = ("SELECT a.name, a.role, a.scope, a.display, s.csrf, s.expires_at FROM zhunru_session s "
                  "JOIN zhunru_account a ON a.name = s.account WHERE s.digest = {p} AND NOT a.disabled")


@dataclass(frozen=True)
class Account:
    """An authenticated account, as the request path sees it."""
    name: str
    role: str
    scope: str | None
    display: str

    @property
    def label(self) -> str:
        """How acts name it: `display（name）`."""
        return self.display if self.display == self.name else f"{self.display}({self.name})"

    def as_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "scope": self.scope, "display": self.display}


def _account(row: AccountRow) -> Account:
    return Account(row.name, row.role, row.scope, row.display)


def a_role(role: str) -> str:
    return ("an " if role[0] in "aeiou" else "a ") + role


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or not name.isprintable() or any(c.isspace() for c in name):
        raise InputError("NAME: an account name is 1 to 64 printable characters without spaces")
    return name


def check_password(password: str) -> str:
    if password is None or len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InputError("password: at most 1024 characters")
    return password


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


class Accounts:
    """The accounts in the database of `log` (a DecisionLog or its URL)."""

    def __init__(self, log: DecisionLog | str | None = None, cache_tokens: bool = False):
        """`cache_tokens`: a service worker remembers the accounts of the tokens it was shown
        (PostgreSQL; emptied on every change, token_cache.py)."""
        self._own = not isinstance(log, DecisionLog)
        self.log = log if isinstance(log, DecisionLog) else DecisionLog(log)
        self.engine = self.log.engine
        self._lookups = PointReader(self.log.reader)
        try:
            with self.engine.begin() as conn:
                self.log._lock(conn)  # workers starting together create the tables and triggers once
                SQLModel.metadata.create_all(conn, tables=TABLES)
        except SQLAlchemyError as exc:
            raise LogError(f"--db: cannot open the accounts at {self.log.display_url} ({_short(exc)})") from None
        self._tokens = None
        if not self.log.is_sqlite:
            try:
                with self.engine.begin() as conn:
                    self.log._lock(conn)
                    token_cache.install(conn)
            except SQLAlchemyError:
                cache_tokens = False  # a role that may not create triggers: no cache, lookups as before
            if cache_tokens:
                self._tokens = token_cache.TokenCache(self.log.reader)

    def close(self) -> None:
        if self._tokens is not None:
            self._tokens.close()
        if self._own:
            self.log.close()

    # -- managing ----------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, scope: str | None = None, display: str | None = None) -> Account:
        name = _check_name(name)
        if role not in ROLES:
            raise InputError(f"--role: {role!r} is not a role ({', '.join(ROLES)})")
        scope = (scope or "").strip() or None
        if role in SCOPE and not scope:
            raise InputError(f"--scope: {a_role(role)} account needs its {SCOPE[role]} (--scope)")
        if role not in SCOPE and scope:
            raise InputError(f"--scope: {a_role(role)} account has no scope")
        if scope and (len(scope) > 200 or not scope.isprintable()):
            raise InputError("--scope: one line of at most 200 printable characters")
        display = (display or "").strip() or name
        if len(display) > 200 or not display.isprintable():
            raise InputError("--display: one line of at most 200 printable characters")
        now = _iso(_now())
        row = AccountRow(name=name, role=role, scope=scope, display=display,
                         password_hash=_hasher().hash(check_password(password)), created_at=now, updated_at=now)
        account = _account(row)
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise InputError(f"NAME: an account {name!r} already exists (zhunru user list)") from None
        return account

    def list(self) -> list[dict]:
        with Session(self.log.reader) as session:
            rows = session.exec(select(AccountRow).order_by(AccountRow.name)).all()
        return [{"name": r.name, "role": r.role, "scope": r.scope, "display": r.display,
                 "disabled": r.disabled, "created_at": r.created_at, "updated_at": r.updated_at} for r in rows]

    def get(self, name: str) -> Account | None:
        with Session(self.log.reader) as session:
            row = session.get(AccountRow, name)
        return _account(row) if row and not row.disabled else None

    def require(self, name: str, option: str = "--as") -> Account:
        """An active account by name, or InputError naming `option`."""
        with Session(self.log.reader) as session:
            row = session.get(AccountRow, (name or "").strip())
        if row is None:
            raise InputError(f"{option}: no account {name!r} (zhunru user list; zhunru user add)")
        if row.disabled:
            raise InputError(f"{option}: account {name!r} is disabled")
        return _account(row)

    def _change(self, name: str, **values) -> None:
        values["updated_at"] = _iso(_now())
        with Session(self.engine) as session, session.begin():
            done = session.exec(update(AccountRow).where(AccountRow.name == name).values(**values))
            if done.rowcount == 0:
                raise InputError(f"NAME: no account {name!r} (zhunru user list)")
            if values.get("disabled") or "password_hash" in values:  # a disabled or re-keyed account is logged out
                session.exec(SessionRow.__table__.delete().where(SessionRow.account == name))
            if values.get("disabled"):
                session.exec(update(TokenRow).where(TokenRow.account == name).values(revoked=True))

    def disable(self, name: str) -> None:
        self._change(name, disabled=True)

    def enable(self, name: str) -> None:
        self._change(name, disabled=False, failed_logins=0, locked_until=None)

    def set_password(self, name: str, password: str) -> None:
        self._change(name, password_hash=_hasher().hash(check_password(password)), failed_logins=0, locked_until=None)

    # -- logging in --------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> Account:
        """The account if the password is right. InputError otherwise (the same message for an
        unknown name and a wrong password), `LockedOut` after MAX_FAILURES wrong ones in a row."""
        from argon2.exceptions import InvalidHashError, VerificationError

        wrong = InputError("login: wrong account name or password")
        name = (name or "").strip()[:64]
        with Session(self.engine) as session, session.begin():
            row = session.get(AccountRow, name)
            if row is None or row.disabled or not row.password_hash:
                _hasher().hash("spend the same time as a real check")  # no timing hint about which names exist
                raise wrong
            now = _now()
            if row.locked_until and dt.datetime.fromisoformat(row.locked_until) > now:
                raise LockedOut(f"login: too many wrong passwords; try again after {row.locked_until[11:16]} UTC")
            try:
                _hasher().verify(row.password_hash, password or "")
                ok = True
            except (VerificationError, InvalidHashError):
                ok = False
            if ok:
                if _hasher().check_needs_rehash(row.password_hash):
                    row.password_hash = _hasher().hash(password)
                row.failed_logins, row.locked_until = 0, None
            else:  # counted in the database, so every worker sees the same count
                row.failed_logins += 1
                if row.failed_logins >= MAX_FAILURES:
                    row.locked_until, row.failed_logins = _iso(now + LOCKOUT), 0
            session.add(row)
            account = _account(row)
        if not ok:
            raise wrong
        return account

    def start_session(self, account: Account, ttl: dt.timedelta = SESSION_TTL) -> tuple[str, str]:
        """A new web session: (the cookie's secret, the CSRF token for its forms)."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with Session(self.engine) as session, session.begin():
            session.add(SessionRow(digest=digest(secret), account=account.name, csrf=csrf,
                                   expires_at=_iso(_now() + ttl)))
        return secret, csrf

    def session(self, secret: str | None) -> tuple[Account, str] | None:
        """The account and CSRF token of a live session, or None (unknown, expired, disabled)."""
        if not secret or len(secret) > 100:
            return None
        found = self._lookup(SESSION_LOOKUP, digest(secret))
        if found is None or dt.datetime.fromisoformat(found[5]) <= _now():
            return None
        return Account(*found[:4]), found[4]

    def end_session(self, secret: str | None) -> None:
        if secret:
            with Session(self.engine) as session, session.begin():
                session.exec(SessionRow.__table__.delete().where(SessionRow.digest == digest(secret)))

    def add_token(self, name: str, label: str) -> str:
        """A new API token for account `name`; shown once, stored as its sha256."""
        account = self.require(name, "NAME")
        label = (label or "").strip() or "api"
        if len(label) > 200 or not label.isprintable():
            raise InputError("--label: one line of at most 200 printable characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session, session.begin():
            session.add(TokenRow(digest=digest(token), account=account.name, label=label, created_at=_iso(_now())))
        return token

    def by_token(self, token: str | None) -> Account | None:
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        key = digest(token)
        cache = self._tokens
        known, generation = cache.get(key) if cache is not None else (None, None)
        if known is not None:
            return known
        found = self._lookup(TOKEN_LOOKUP, key)  # one indexed lookup
        account = Account(*found) if found else None
        if account is not None and cache is not None:
            cache.put(key, account, generation)
        return account

    def _lookup(self, sql: str, key: str) -> tuple | None:
        try:
            return self._lookups.one(sql, (key,))
        except Exception as exc:  # noqa: BLE001 - the driver's error, after one retry on a fresh connection
            raise LogError(f"--db: cannot read the accounts at {self.log.display_url} ({_short(exc)})") from None


class LockedOut(InputError):
    """Too many wrong passwords (HTTP 429)."""


# -- what each role may do ---------------------------------------------------------------------
class Forbidden(InputError):
    """An account acting outside its role or scope (HTTP 403; exit 2 on the console)."""


def may_act(account: Account, districts: set[str | None]) -> None:
    """Approve, refuse or withdraw a decision whose target communities lie in `districts`."""
    if account.role == "admin":
        return
    if account.role != "approver":
        raise Forbidden(f"account: {account.name} is {a_role(account.role)} account; only the district body "
                        "(an approver account) approves, refuses or withdraws")
    outside = sorted(d or "(未知区县)" for d in districts if d != account.scope)
    if outside or not districts:
        raise Forbidden(f"account: {account.name} approves for {account.scope}; this request's communities "
                        f"lie in {'、'.join(outside) or '(no district)'}")


def may_file(account: Account, department: str, reported_by: str | None = None) -> None:
    """File (log) a request in the name of `department`: that department itself, an admin, or
    a community reporting a demand that reached it (`reported_by`: the community's code)."""
    if account.role == "community":
        if reported_by is not None and reported_by == account.scope:
            return
        raise Forbidden(f"reported_by.community: {account.name} reports for community {account.scope} only; "
                        "a community files nothing else")
    if reported_by is not None and account.role != "admin":
        raise Forbidden("reported_by: only the community itself (or an admin) reports a demand")
    if account.role == "admin" or (account.role == "department" and account.scope == department):
        return
    if account.role == "department":
        raise Forbidden(f"department.name: {account.name} files for {account.scope}, not for {department}")
    raise Forbidden(f"account: {account.name} is {a_role(account.role)} account; requests are filed by a department")
