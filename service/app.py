"""`zhunru serve`: the JSON API and the pages (DESIGN.md "Service").

One `zhunru.Zhunru` per app owns the request path, as it does for the CLI; the routes are
parsing, permission and rendering around it (`Service`). Bodies are read as bytes and parsed by
zhunru itself, so an error says what the CLI says: one line naming the field, as JSON with a 4xx
status (an HTML page for a page), and nothing is logged. Appends from concurrent requests are
committed together by the log (group commit); workers keep no state of their own, so several
processes or machines can serve one PostgreSQL database.

    GET  /api/v1/health, /api/v1/me
    POST /api/v1/evaluate                 one request → its decision; logged for a department (own
                                          department) or admin; ?log=false (anyone) only decides
    POST /api/v1/certificates/check       {"text", "city", "date"?, "basis"?} → the answer (public)
    GET  /api/v1/decisions                search: department, community, matter, outcome, city, start, end
    GET  /api/v1/decisions/{id}           a logged decision, its funding and the act on it (any account)
    GET  /api/v1/decisions/{id}/notice    the 不予准入告知书: ?format=html|pdf|json
    GET  /api/v1/publication              予以公布: ?district= (public)
    GET  /api/v1/report                   社区减负 report (approver: its district; admin, auditor)
    POST /api/v1/decisions/{id}/approve   {"note"?}    approver of the request's district, or admin
    POST /api/v1/decisions/{id}/refuse    {"note"}     likewise; the note is the refusal's reason
    POST /api/v1/decisions/{id}/withdraw  {"note"}     withdraw (撤销) an admission in effect
    GET  /api/v1/queue                    what awaits approval (an approver sees its district)
    GET  /api/v1/log/verify               {"ok", "checked", "problem"} (admin, auditor)
    GET  /openapi.json, /docs             the OpenAPI document and its browser

Statuses: 400 malformed, 401 no account, 403 role/scope/CSRF, 404 unknown id, 409 already
acted on, 413 too big, 422 invalid field, 429 locked out, 503 the log is unavailable.
"""
from __future__ import annotations

import contextlib
import functools
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from zhunru.errors import InputError, MalformedInput
from zhunru.office.accounts import Accounts, Forbidden, LockedOut
from zhunru.office.queue import AlreadyActed

from .auth import AddressLimiter, Unauthenticated, caller, check_csrf, require

MAX_BODY = 1024 * 1024  # one request; the CLI's limit
MAX_BATCH = 32 * 1024 * 1024  # a batch (JSON Lines or XLSX)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATES = Path(__file__).parent / "templates"


class CertificateQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=200, description="what the community was asked for, in free text")
    city: str = Field(..., min_length=1, max_length=64, description="the city's id or Chinese name")
    date: dt.date | None = Field(None, description="the day to answer for (default: today)")
    basis: str | None = Field(None, max_length=2000, description="the legal basis the asker cites, if any")


class ActBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000, description="remarks; for a refusal, its reason (required)")


class NotFound(InputError):
    """An id that names nothing here (HTTP 404)."""


class Unavailable(InputError):
    """The server cannot do it now (HTTP 503), e.g. no Chromium to print a PDF."""


@dataclass
class Service:
    """What every route shares: the request path, the accounts, the pages' templates."""
    zhunru: object
    accounts: Accounts
    templates: Jinja2Templates
    limiter: AddressLimiter = field(default_factory=AddressLimiter)
    demo: dict | None = None  # serve --demo: the accounts to show on the login page


def service(request: Request) -> Service:
    return request.app.state.service


def status_of(exc: InputError) -> int:
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, LockedOut):
        return 429
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, AlreadyActed):
        return 409
    if exc.exit_code == 4 or isinstance(exc, Unavailable):
        return 503
    return 400 if isinstance(exc, MalformedInput) else 422


def error(status: int, exc: InputError | str) -> JSONResponse:
    """`{"error": {"field", "message"}}`: the field is what the message names before its colon."""
    message = str(exc)
    head, sep, _rest = message.partition(":")
    return JSONResponse({"error": {"field": head if sep and " " not in head.strip() else None, "message": message}},
                        status_code=status)


def answer(data: dict) -> JSONResponse:
    """A route's answer as JSON, written straight from its plain dict: the decision and the
    certificate answer are JSON types already, and FastAPI's `jsonable_encoder` walking every
    value of a decision cost more CPU than deciding it (0.8 ms of 2.5 ms a logged evaluate)."""
    return JSONResponse(data)


def create_app(db: str | None = None, demo: dict | None = None) -> FastAPI:
    from zhunru.app import Zhunru

    zhunru = Zhunru(db=db)
    state = Service(zhunru, Accounts(zhunru.log, cache_tokens=True), templates(), demo=demo)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        zhunru.close()

    app = FastAPI(title="zhunru 准入", version="1", lifespan=lifespan,
                  description="社区工作事项准入: decisions with their clauses and sources, a hash-chained log. "
                              "Authenticate with `Authorization: Bearer zr_…` (zhunru user token NAME).")
    app.state.service = state

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):  # a user's mistake: 4xx, never a traceback
        status = status_of(exc)
        if request.url.path.startswith("/api/"):
            return error(status, exc)
        from .pages import error_page

        return error_page(request, status, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):  # FastAPI's own checks, in our shape
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
        status = 400 if first.get("type") == "json_invalid" else 422
        return error(status, f"{where}: {first.get('msg', 'invalid')}")

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"ok": True}

    @app.get("/api/v1/me")
    def me(request: Request) -> dict:
        """The account the token or session belongs to."""
        return require(request, state.accounts).as_dict()

    @app.post("/api/v1/evaluate", response_model=dict)
    async def evaluate(request: Request, log: bool = True, lang: Literal["zh", "en"] = "zh"):
        """Decide one request (the contract's Request JSON). Logged (with its funding) when the
        caller is the request's department or an admin; `?log=false` decides without logging,
        for anyone."""
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, f"request: {len(body)} bytes, over the limit of {MAX_BODY}")
        return answer(await _in_thread(evaluate_as, request, state, body, log, lang))

    @app.post("/api/v1/evaluate/batch")
    async def evaluate_batch(request: Request, lang: Literal["zh", "en"] = "zh"):
        """Decide and log a batch: JSON Lines (one request a line) or an XLSX spreadsheet in the
        layout of /api/v1/evaluate/template.xlsx. Every request is checked first: one bad line or
        row is a 4xx naming it, and nothing is logged. Each request's department must be the
        caller's (or the caller an admin)."""
        body = await request.body()
        if len(body) > MAX_BATCH:
            return error(413, f"batch: {len(body)} bytes, over the limit of {MAX_BATCH}")
        return await _in_thread(batch_as, request, state, body, lang)

    @app.get("/api/v1/evaluate/template.xlsx")
    def batch_template():
        """The spreadsheet layout for batch requests: a header row and one example row."""
        from zhunru.office.batch import template

        return Response(template(), media_type=XLSX, headers={"Content-Disposition": "attachment; filename=template.xlsx"})

    answered_on_loop: set[tuple[str, dt.date]] = set()  # (city as asked, day) whose rulesets this worker holds

    @app.post("/api/v1/certificates/check", response_model=dict)
    async def certificates_check(question: CertificateQuestion, lang: Literal["zh", "en"] = "zh") -> JSONResponse:
        """May the community issue this certificate? (must_issue, may_issue, must_not_issue, unknown)"""
        from zhunru.decide.certificates import check_certificate

        day = question.date or dt.date.today()
        ask = functools.partial(check_certificate, zhunru.engine, question.text, question.city, day, lang=lang,
                                basis=question.basis)
        # Answering reads no database: 0.03 ms of CPU (1 ms for 200 characters) once the city's
        # rulesets are loaded and compiled, less than handing it to a worker thread and back. So
        # only a city's first question of a day goes to a thread (loading takes up to a second);
        # after that the event loop answers at once.
        if (question.city, day) in answered_on_loop:
            return answer(ask())
        found = await _in_thread(ask)
        if len(answered_on_loop) >= 1000:  # spellings and days are the caller's: keep the set small
            answered_on_loop.clear()
        answered_on_loop.add((question.city, day))
        return answer(found)

    @app.get("/api/v1/decisions")
    def decisions(request: Request, department: str | None = Query(None, max_length=200),
                  community: str | None = Query(None, max_length=200), matter: str | None = Query(None, max_length=200),
                  outcome: Literal["admitted", "needs_approval", "rejected"] | None = None,
                  city: str | None = Query(None, max_length=64), start: dt.date | None = None,
                  end: dt.date | None = None, before: int | None = Query(None, ge=1),
                  limit: int = Query(50, ge=1, le=500)) -> dict:
        """Logged decisions, newest first, filtered; the next page: `before` = the last `seq`.
        A department sees its own requests, a community those naming it."""
        from zhunru.office.search import search

        account = require(request, state.accounts)
        if account.role == "department":
            department = account.scope
        if account.role == "community":
            community = account.scope
        found = search(zhunru.log, department=department, community=community, matter=matter, outcome=outcome,
                       city=zhunru.rulesets.city_id(city) if city else None, start=start, end=end, before=before,
                       limit=limit)
        return {"decisions": found, "next_before": found[-1]["seq"] if len(found) == limit else None}

    @app.get("/api/v1/publication")
    def publication(district: str = Query(..., min_length=1, max_length=200), start: dt.date | None = None,
                    end: dt.date | None = None, offset: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=1000)):
        """予以公布 (public): a district's admitted list (a page of it) and what was withdrawn."""
        from zhunru.office import publish as publishing

        chosen = publishing.plan(zhunru.log, district, start, end)
        part = publishing.Plan(chosen.header, chosen.order[offset:offset + limit], chosen.withdrawn)
        items = [dict(r, no=r["no"] + offset) for r in publishing.items(zhunru.log, part)]
        return {**chosen.header, "offset": offset, "items": items,
                "withdrawals": publishing.withdrawals(zhunru.log, chosen)}

    @app.get("/api/v1/report")
    def report(request: Request, district: str | None = Query(None, max_length=200), start: dt.date | None = None,
               end: dt.date | None = None, before: str | None = Query(None, max_length=30),
               after: str | None = Query(None, max_length=30)) -> dict:
        """社区减负 report: what each community and district carries; `before`/`after` (A..B) compare
        two periods. An approver sees its own district."""
        from .pages.report import build

        return build(request, district, start.isoformat() if start else None, end.isoformat() if end else None,
                     before, after)

    @app.get("/api/v1/decisions/{ident}")
    def decision(request: Request, ident: str, lang: Literal["zh", "en"] = "zh"):
        """A logged decision with its request, its funding attachments and the act on it, if any."""
        require(request, state.accounts)
        return decision_view(zhunru, ident, lang)

    @app.get("/api/v1/decisions/{ident}/notice")
    def notice(request: Request, ident: str, format: Literal["html", "pdf", "json"] = "html"):
        """The 不予准入告知书 of a rejected, refused or unfunded request: printable HTML, PDF or its data."""
        from zhunru.office.notice import notice_data, to_html

        from .pages.approvals import notice_pdf_response

        require(request, state.accounts)
        if format == "pdf":
            return notice_pdf_response(zhunru.log, ident)
        data = notice_data(zhunru.log, ident)
        return data if format == "json" else HTMLResponse(to_html(data))

    @app.post("/api/v1/decisions/{ident}/approve")
    async def approve(request: Request, ident: str, body: ActBody | None = None) -> dict:
        """Approve a decision that awaits the district body (准入审批)."""
        return await _in_thread(act_as, request, state, ident, "approve", (body or ActBody()).note)

    @app.post("/api/v1/decisions/{ident}/refuse")
    async def refuse(request: Request, ident: str, body: ActBody) -> dict:
        """Refuse it (不予准入); `note` is the reason and goes into the notice."""
        return await _in_thread(act_as, request, state, ident, "refuse", body.note)

    @app.post("/api/v1/decisions/{ident}/withdraw")
    async def withdraw(request: Request, ident: str, body: ActBody) -> dict:
        """Withdraw an admission in effect (撤销); `note` is the reason, published with it."""
        return await _in_thread(act_as, request, state, ident, "withdraw", body.note)

    @app.get("/api/v1/queue")
    def queue(request: Request, city: str | None = Query(None, max_length=64)) -> list[dict]:
        """Decisions that need the district body's approval and have none yet, oldest first. An
        approver sees those whose communities lie in its district."""
        account = require(request, state.accounts, "approver", "admin", "auditor")
        return list(queue_for(zhunru, account, city))

    @app.get("/api/v1/log/verify")
    def verify(request: Request) -> dict:
        """The hash chain checked from row 1, and the community rows against it."""
        require(request, state.accounts, "admin", "auditor")
        checked, problem = zhunru.log.verify()
        return {"ok": problem is None, "checked": checked, "problem": problem}

    from . import api_rulesets
    from .pages import router

    app.include_router(api_rulesets.router)
    app.include_router(router)
    return app


def templates() -> Jinja2Templates:
    from zhunru.messages import CATEGORIES, OUTCOMES, VERDICTS
    from zhunru.office.accounts import ROLE_NAMES
    from zhunru.office.publish import KIND_LABELS
    from zhunru.office.workdays import CHINA

    def china_time(value: str | None) -> str:
        """An ISO timestamp as Beijing time (what an officer reads)."""
        try:
            return dt.datetime.fromisoformat(value).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            return value or ""

    found = Jinja2Templates(directory=str(TEMPLATES))
    found.env.autoescape = True  # every template is HTML (its default only escapes names ending .html)
    found.env.globals.update(OUTCOMES=OUTCOMES, CATEGORIES=CATEGORIES, VERDICTS=VERDICTS, ROLES=ROLE_NAMES,
                             KINDS=KIND_LABELS)
    found.env.filters["china_time"] = china_time
    return found


def from_environment() -> FastAPI:
    """The app of one worker of `zhunru serve --workers N` (uvicorn calls it in each process)."""
    import os

    demo = os.environ.get("ZHUNRU_SERVE_DEMO")
    return create_app(os.environ.get("ZHUNRU_SERVE_DB") or None, demo=json.loads(demo) if demo else None)


# -- the request path, shared by the API and the pages -------------------------------------------
# Everything that reads the database — the caller's token or session too — runs in a worker
# thread (_in_thread), never on the event loop, which would serve nothing else meanwhile.
def evaluate_as(request: Request, state: Service, body: bytes, log: bool, lang: str) -> dict:
    account = require(request, state.accounts, "department", "community", "admin") if log else None
    check_csrf(request, state.accounts, None)
    return decide_body(state.zhunru, body, log, lang, account)


def batch_as(request: Request, state: Service, body: bytes, lang: str) -> dict:
    account = require(request, state.accounts, "department", "admin")
    check_csrf(request, state.accounts, None)
    return decide_batch(state.zhunru, body, account, lang)


def decide_body(zhunru, body: bytes, log: bool, lang: str, account=None) -> dict:
    from zhunru.decide.evaluate import parse_request_json

    return decide_request(zhunru, parse_request_json(body), log, lang, account)


def decide_request(zhunru, raw, log: bool, lang: str, account=None, attachments: list[dict] | None = None) -> dict:
    """Decide (and, with `log`, log) one request — a dict or a parsed Request — as `account`,
    with `attachments` (file records: name, size, sha256) logged beside its funding."""
    from zhunru.decide.evaluate import parse_request
    from zhunru.models import Request
    from zhunru.office.accounts import may_file

    request = raw if isinstance(raw, Request) else parse_request(raw)
    if log and account is not None:
        may_file(account, request.department.name, request.reported_by.community if request.reported_by else None)
    decision = next(zhunru.decide([request], log=log, attachments=attachments))
    return decision.shown(lang)


def batch_requests(body: bytes) -> tuple[list, list[str]]:
    """The requests of a batch body (JSON Lines or XLSX) and their labels ("line 3", "row 3")."""
    from zhunru.decide.evaluate import parse_request, parse_request_json
    from zhunru.office.batch import requests_from_xlsx
    from zhunru.office.spreadsheet import is_xlsx

    requests, labels = [], []
    if is_xlsx(body):
        for label, raw in requests_from_xlsx(body, "batch"):
            try:
                requests.append(parse_request(raw))
            except InputError as exc:
                raise InputError(f"{label}: {exc}") from None
            labels.append(label)
    else:
        for number, line in enumerate(body.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                requests.append(parse_request_json(line))
            except InputError as exc:
                raise type(exc)(f"line {number}: {exc}") from None
            labels.append(f"line {number}")
    if not requests:
        raise InputError("batch: no requests (JSON Lines, one request a line, or the XLSX template)")
    return requests, labels


def decide_batch(zhunru, body: bytes, account, lang: str, progress=None) -> dict:
    """Check every request of the batch, then decide and log them all; `progress(done, total)`
    after each chunk. The summary and every decision."""
    from zhunru.office.accounts import may_file

    requests, labels = batch_requests(body)
    for label, r in zip(labels, requests):
        try:
            may_file(account, r.department.name, r.reported_by.community if r.reported_by else None)
        except Forbidden as exc:
            raise Forbidden(f"{label}: {exc}") from None
    decided, outcomes = [], {}
    for decision in zhunru.decide(requests, log=True, labels=labels):
        decided.append(decision.shown(lang))
        outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        if progress and len(decided) % 100 == 0:
            progress(len(decided), len(requests))
    if progress:
        progress(len(decided), len(requests))
    return {"count": len(decided), "outcomes": outcomes, "decisions": decided}


def decision_view(zhunru, ident: str, lang: str = "zh") -> dict:
    from zhunru.models import Decision

    entry = zhunru.log.find(ident)
    if entry is None or entry.entry_type != "decision":
        raise NotFound(f"id: no decision {ident!r} in the log")
    act = zhunru.log.act_on(entry.entry_id)
    withdrawal = zhunru.log.withdrawal_of(entry.entry_id)
    return {"seq": entry.seq, "hash": entry.hash, "created_at": entry.created_at,
            "request": json.loads(entry.request_json),
            "decision": Decision.from_log(entry).shown(lang),
            "attachments": [a.model_dump(exclude={"id", "entry_seq"}) for a in zhunru.log.attachments(entry.seq)],
            "act": dict(json.loads(act.payload_json), entry_id=act.entry_id) if act else None,
            "withdrawal": dict(json.loads(withdrawal.payload_json), entry_id=withdrawal.entry_id) if withdrawal else None}


def act_as(request: Request, state: Service, ident: str, verb: str, note: str | None) -> dict:
    """Approve or refuse as the caller; the act's log row names the account."""
    from zhunru.office.queue import act, find_decision

    account = require(request, state.accounts, "approver", "admin")
    check_csrf(request, state.accounts, None)
    try:
        find_decision(state.zhunru.log, ident)
    except InputError as exc:
        raise NotFound(str(exc)) from None
    entry = act(state.zhunru.log, ident, verb, account, note, via=caller(request, state.accounts).via)
    payload = json.loads(entry["payload_json"])
    return {"act": entry["entry_type"], "entry_id": entry["entry_id"], "seq": entry["seq"],
            "request_id": entry["request_id"], "decision_id": payload["decision_id"], "by": payload["by"],
            "actor": payload.get("actor"), "note": payload["note"], "at": payload["at"]}


def queue_for(zhunru, account, city: str | None = None):
    """The queue as `account` may see it: an approver, its district's requests."""
    from zhunru.office.queue import queue as pending, request_districts

    for item in pending(zhunru.log, city=city, rulesets=zhunru.rulesets):
        if account.role == "approver":
            entry = zhunru.log.find(item["decision_id"])
            if request_districts(zhunru.log, entry) != {account.scope}:
                continue
        yield item


async def _in_thread(fn, *args):
    """Deciding and logging block (the log waits for its group's commit): off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
