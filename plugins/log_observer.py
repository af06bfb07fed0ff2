"""The decision log as a decision observer: every decision of a run is appended to the log
(`--db`), buffered and written in chunks, each chunk in one transaction."""
from __future__ import annotations

from zhunru.plugins import hookimpl


@hookimpl
def zhunru_decision_made(request, decision, session):
    if session.no_log:
        return
    from zhunru.log.store import decision_record

    attachments = session.attachments if session.attachments else None
    cap = session.state["cap"](request) if "cap" in session.state else None
    session.state.setdefault("log_pending", []).append(decision_record(request, decision, attachments, cap))


@hookimpl
def zhunru_flush(session):
    pending = session.state.get("log_pending")
    if session.no_log or not pending:
        return
    log = session.state.get("log")
    if log is None:
        from zhunru.log.store import DecisionLog

        log = session.state["log"] = DecisionLog(session.log_url)
    try:
        written = log.append(pending)
    finally:
        pending.clear()
    logged = session.state.setdefault("logged", {})
    for entry in written:
        if entry.get("existing"):
            logged[entry["request_id"]] = entry
