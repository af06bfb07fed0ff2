"""`zhunru serve`: the HTTP API (first slice of the service, DESIGN.md "Service").

One `zhunru.Zhunru` per app owns the request path, as it does for the CLI; the routes are
parsing and rendering around it. Bodies are read as bytes and parsed by zhunru itself, so an
error says what the CLI says: one line naming the field, as JSON with a 4xx status, and nothing
is logged. Appends from concurrent requests are committed together by the log (group commit).

This slice has no accounts yet: it serves what anyone may ask (decide and log a request, check a
certificate, read a decision, the queue, verify the log) and nothing that acts for someone
(approve, refuse, withdraw). Bind it to localhost until accounts land.

    GET  /api/v1/health
    POST /api/v1/evaluate                 one request (JSON) → its decision; ?log=false, ?lang=en
    POST /api/v1/certificates/check       {"text", "city", "date"?, "basis"?} → the certificate answer
    GET  /api/v1/decisions/{id}           a logged decision by decision id, request id or row
    GET  /api/v1/queue                    what awaits the district body; ?city=
    GET  /api/v1/log/verify               {"ok", "checked", "problem"}
    GET  /openapi.json, /docs             the OpenAPI document and its browser
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zhunru.errors import InputError, MalformedInput

MAX_BODY = 1024 * 1024  # one request; the CLI's limit


class CertificateQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=200, description="what the community was asked for, in free text")
    city: str = Field(..., min_length=1, max_length=64, description="the city's id or Chinese name")
    date: dt.date | None = Field(None, description="the day to answer for (default: today)")
    basis: str | None = Field(None, max_length=2000, description="the legal basis the asker cites, if any")


def error(status: int, exc: InputError | str) -> JSONResponse:
    """`{"error": {"field", "message"}}`: the field is what the message names before its colon."""
    message = str(exc)
    field, sep, _rest = message.partition(":")
    return JSONResponse({"error": {"field": field if sep and " " not in field.strip() else None, "message": message}},
                        status_code=status)


def create_app(db: str | None = None) -> FastAPI:
    from zhunru.app import Zhunru

    zhunru = Zhunru(db=db)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        zhunru.close()

    app = FastAPI(title="zhunru 准入", version="1", lifespan=lifespan,
                  description="社区工作事项准入: decisions with their clauses and sources, a hash-chained log.")

    @app.exception_handler(InputError)
    async def _input_error(_request, exc: InputError):  # a user's mistake: 4xx, never a traceback
        return error(503 if exc.exit_code == 4 else 400 if isinstance(exc, MalformedInput) else 422, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):  # FastAPI's own checks, in our shape
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
        status = 400 if first.get("type") == "json_invalid" else 422
        return error(status, f"{field}: {first.get('msg', 'invalid')}")

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"ok": True}

    @app.post("/api/v1/evaluate")
    async def evaluate(request: Request, log: bool = True, lang: Literal["zh", "en"] = "zh"):
        """Decide one request (the contract's Request JSON) and log it with its funding."""
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, f"request: {len(body)} bytes, over the limit of {MAX_BODY}")
        return await _in_thread(_decide, zhunru, body, log, lang)

    @app.post("/api/v1/certificates/check")
    def certificates_check(question: CertificateQuestion, lang: Literal["zh", "en"] = "zh") -> dict:
        """May the community issue this certificate? (must_issue, may_issue, must_not_issue, unknown)"""
        from zhunru.decide.certificates import check_certificate

        return check_certificate(zhunru.engine, question.text, question.city, question.date, lang=lang,
                                 basis=question.basis)

    @app.get("/api/v1/decisions/{ident}")
    def decision(ident: str, lang: Literal["zh", "en"] = "zh"):
        """A logged decision with its request, its funding attachments and the act on it, if any."""
        from zhunru.models import Decision

        entry = zhunru.log.find(ident)
        if entry is None or entry.entry_type != "decision":
            return error(404, f"id: no decision {ident!r} in the log")
        act = zhunru.log.act_on(entry.entry_id)
        return {"seq": entry.seq, "hash": entry.hash, "created_at": entry.created_at,
                "request": json.loads(entry.request_json),
                "decision": Decision.from_log(entry).shown(lang),
                "attachments": [a.model_dump(exclude={"id", "entry_seq"}) for a in zhunru.log.attachments(entry.seq)],
                "act": dict(json.loads(act.payload_json), entry_id=act.entry_id) if act else None}

    @app.get("/api/v1/queue")
    def queue(city: str | None = Query(None, max_length=64)) -> list[dict]:
        """Decisions that need the district body's approval and have none yet, oldest first."""
        from zhunru.office.queue import queue as pending

        return list(pending(zhunru.log, city=city, rulesets=zhunru.rulesets))

    @app.get("/api/v1/log/verify")
    def verify() -> dict:
        """The hash chain checked from row 1, and the community rows against it."""
        checked, problem = zhunru.log.verify()
        return {"ok": problem is None, "checked": checked, "problem": problem}

    return app


def _decide(zhunru, body: bytes, log: bool, lang: str) -> dict:
    from zhunru.decide.evaluate import parse_request_json

    decision = next(zhunru.decide([parse_request_json(body)], log=log))
    return decision.shown(lang)


async def _in_thread(fn, *args):
    """Deciding and logging block (the log waits for its group's commit): off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
