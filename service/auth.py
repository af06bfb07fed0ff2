"""Who is asking: an API token (`Authorization: Bearer zr_…`) or a web session (cookie
`zhunru_session`, HttpOnly, SameSite=Lax, Secure over HTTPS), and what their role lets them do.

A session's forms carry its CSRF token (`csrf` field, or the `X-CSRF-Token` header for scripts
riding a session); a POST with a session cookie and without the matching token is 403 and
nothing is done. Requests with a bearer token need no CSRF token: a browser never sends one
by itself.
"""
from __future__ import annotations

import hmac
import time
from collections import deque
from dataclasses import dataclass

from fastapi import Request

from zhunru.errors import InputError
from zhunru.office.accounts import Account, Accounts, Forbidden, a_role

COOKIE = "zhunru_session"
IP_FAILURES = 20  # wrong passwords from one address per window, per worker (the account lock is in the database)
IP_WINDOW = 15 * 60


class Unauthenticated(InputError):
    """No valid token or session (HTTP 401; a page sends the browser to 登录)."""


class CsrfFailed(Forbidden):
    """A form posted without its session's CSRF token (HTTP 403)."""


@dataclass
class Caller:
    account: Account | None
    csrf: str | None = None  # the session's token; None for a bearer token or nobody
    via: str = "api"  # "web" (a session) or "api" (a token)

    @property
    def role(self) -> str | None:
        return self.account.role if self.account else None


def caller(request: Request, accounts: Accounts) -> Caller:
    """The caller of `request`, looked up once per request."""
    if "zhunru_caller" in request.scope:
        return request.scope["zhunru_caller"]
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        account = accounts.by_token(token.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise Unauthenticated("Authorization: not a valid API token (zhunru user token NAME)")
        found = Caller(account, None, "api")
    else:
        cookie = request.cookies.get(COOKIE)
        session = accounts.session(cookie)
        # a dead session's cookie still marks a browser: its forms fail the CSRF check (403)
        found = Caller(*session, "web") if session else Caller(None, None, "web" if cookie else "api")
    request.scope["zhunru_caller"] = found
    return found


def require(request: Request, accounts: Accounts, *roles: str) -> Account:
    """The caller's account if its role is one of `roles` (any role when none is given)."""
    who = caller(request, accounts)
    if who.account is None:
        raise Unauthenticated("account: log in (a session) or send an API token (Authorization: Bearer …)")
    if roles and who.account.role not in roles:
        raise Forbidden(f"account: {who.account.name} is {a_role(who.account.role)} account; this needs "
                        f"{' or '.join(roles)}")
    return who.account


def check_csrf(request: Request, accounts: Accounts, sent: str | None) -> None:
    """A session's unsafe request must carry the session's CSRF token."""
    who = caller(request, accounts)
    if who.via != "web" or request.scope.get("zhunru_csrf_checked"):
        return
    sent = sent or request.headers.get("x-csrf-token")
    if not sent or not who.csrf or not hmac.compare_digest(sent, who.csrf):
        raise CsrfFailed("csrf: the form is stale or forged (reload the page and try again)")
    request.scope["zhunru_csrf_checked"] = True  # the form's token; the route's own check passes


class AddressLimiter:
    """Wrong passwords per client address in a sliding window (this worker's share)."""

    def __init__(self, limit: int = IP_FAILURES, window: float = IP_WINDOW):
        self.limit, self.window = limit, window
        self.failures: dict[str, deque] = {}

    def blocked(self, address: str) -> bool:
        recent = self.failures.get(address)
        if not recent:
            return False
        while recent and recent[0] < time.monotonic() - self.window:
            recent.popleft()
        return len(recent) >= self.limit

    def failed(self, address: str) -> None:
        if len(self.failures) > 10_000:  # bounded memory under a spray of addresses
            self.failures.clear()
        self.failures.setdefault(address, deque()).append(time.monotonic())
