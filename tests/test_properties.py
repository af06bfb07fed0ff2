"""Hypothesis properties of the real engine and the real log:
- every decision cites at least one clause of its ruleset chain, with a source;
- normalisation is idempotent;
- the same request against the same ruleset sha256 gets the same outcome;
- the hash chain detects any single-character change to any stored row or attachment."""
from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import REPO
from zhunru.kinds import LISTS
from zhunru.errors import InputError
from zhunru.decide.evaluate import Engine, parse_request, request_id
from zhunru.rulebook.loader import default_registry
from zhunru.kinds import KINDS
from zhunru.rulebook.normalize import normalize

ENGINE = Engine()
REGISTRY = default_registry()


def _spans() -> list[tuple[str, dt.date, dt.date]]:
    """(city, first day, last day) of every shipped version whose chain loads."""
    spans = []
    for city in REGISTRY.cities():
        for item in REGISTRY.versions(city):
            r = item.ruleset
            start = max(r.effective_from, dt.date(2015, 7, 13))  # national's start: every chain has a parent
            end = (r.effective_to - dt.timedelta(days=1)) if r.effective_to else dt.date(2030, 12, 31)
            spans.append((city, start, end))
    return spans


SPANS = _spans()


def _catalogue(city: str, on: dt.date, kind: str) -> list[str]:
    book = ENGINE.book_for(city, on)
    names = []
    for list_name in LISTS[kind]:
        for entry in book.names.get(kind, {}).values():
            if entry.list_name == list_name:
                names.append(entry.item.name)
                names.extend(entry.item.aliases)
    return sorted(set(names))


@st.composite
def requests(draw):
    city, start, end = draw(st.sampled_from(SPANS))
    on = draw(st.dates(min_value=start, max_value=end))
    kind = draw(st.sampled_from(KINDS))
    catalogue = _catalogue(city, on, kind)
    text = st.text(min_size=1, max_size=40)
    matter = draw(st.sampled_from(catalogue) | text if catalogue else text)
    community = st.fixed_dictionaries({"name": st.sampled_from(["洪山社区", "麻园社区", "A"]),
                                       "population": st.integers(0, 200_000),
                                       "households": st.integers(0, 80_000)})
    funding = st.none() | st.fixed_dictionaries({
        "amount": st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False).map(str),
        "source": st.just("区财政")})
    data = {
        "city": city, "date": on.isoformat(), "kind": kind, "matter": matter,
        "department": {"name": draw(st.sampled_from(["七星关区司法局", "某市民政局", "街道办"])),
                       "level": draw(st.sampled_from(["city", "district", "street"])),
                       "role": draw(st.sampled_from(["department", "street_office", "coordination_body"]))},
        "communities": draw(st.lists(community, max_size=3)),
        "funding": draw(funding), "personnel": draw(st.integers(0, 5)),
    }
    try:
        return parse_request(data)
    except InputError:
        assume(False)  # random text that is not a valid matter (e.g. only whitespace)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_every_decision_cites_a_clause(request):
    decision = ENGINE.evaluate(request)
    book = ENGINE.book_for(request.city, request.date)
    chain = {r.ref for r in book.chain}
    assert decision.reasons
    for reason in decision.reasons:
        ref, _, clause_id = reason.clause.partition("#")
        assert ref in chain and clause_id in book.clauses, reason.clause
        assert reason.source and reason.text()
    if decision.category in ("duty", "assist", "negative") or decision.outcome == "admitted" and request.kind == "task":
        assert decision.matter.code is not None  # admitted tasks are listed: never a guess


@given(st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@given(st.sampled_from(["社區矯正", "社区 矫正", "ＳＯＳ社区矫正", "社区矫正。", "　社区矫正 "]))
def test_normalize_folds_variants(text):
    assert normalize(text).endswith(normalize("社区矫正"))


@settings(max_examples=100, deadline=None)
@given(requests())
def test_same_request_same_ruleset_same_outcome(request):
    other_engine = Engine(type(REGISTRY)(REGISTRY.roots))  # a fresh registry: rulesets read again
    first, second = ENGINE.evaluate(request), other_engine.evaluate(request.model_copy(deep=True))
    assert first.ruleset.sha256 == second.ruleset.sha256
    assert (first.outcome, first.category, first.verdict, first.advisory) == \
           (second.outcome, second.category, second.verdict, second.advisory)
    assert [r.clause for r in first.reasons] == [r.clause for r in second.reasons]
    assert request_id(request) == first.request_id == second.request_id


# -- the hash chain -------------------------------------------------------------------------
ENTRY_TEXT = ("entry_id", "entry_type", "request_id", "decision_key", "created_at", "city", "ruleset",
              "ruleset_sha256", "outcome", "request_json", "payload_json", "prev_hash", "hash")
ATTACHMENT_TEXT = ("amount", "source", "document", "kind", "path", "sha256")


@pytest.fixture(scope="module")
def template_log(tmp_path_factory):
    """A small real log: the example batch, plus a request with a file attached."""
    from click.testing import CliRunner

    from zhunru.cli import cli

    folder = tmp_path_factory.mktemp("chain")
    path = folder / "template.sqlite"
    url = f"sqlite:///{path}"
    lines = (REPO / "examples" / "requests" / "bijie.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    batch = folder / "b.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["evaluate", "--batch", str(batch), "--db", url]).exit_code == 0
    doc = folder / "notice.txt"
    doc.write_text("拨款通知", encoding="utf-8")
    single = folder / "r.json"
    single.write_text(lines[1].replace("bj-2021-002", "bj-2021-099"), encoding="utf-8")
    assert CliRunner().invoke(cli, ["evaluate", str(single), "--attach", str(doc), "--db", url]).exit_code == 0
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one self-contained file to copy
        entries = conn.execute(f"SELECT seq, {', '.join(ENTRY_TEXT)} FROM zhunru_log").fetchall()
        attachments = conn.execute(f"SELECT id, entry_seq, {', '.join(ATTACHMENT_TEXT)} FROM zhunru_attachment").fetchall()
    targets = [("zhunru_log", "seq", row[0], row[0], col, val) for row in entries
               for col, val in zip(ENTRY_TEXT, row[1:]) if val]
    targets += [("zhunru_attachment", "id", row[0], row[1], col, val) for row in attachments
                for col, val in zip(ATTACHMENT_TEXT, row[2:]) if val]
    assert len(entries) == 6 and len(attachments) >= 2
    return path, targets


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # template_log is read-only
@given(data=st.data())
def test_chain_detects_any_single_character_change(template_log, data):
    from zhunru.log.store import DecisionLog

    template, targets = template_log
    table, key, key_value, seq, column, value = data.draw(st.sampled_from(targets), label="target")
    position = data.draw(st.integers(0, len(value) - 1), label="position")
    replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != value[position]), label="char")
    changed = value[:position] + replacement + value[position + 1:]
    with tempfile.TemporaryDirectory() as folder:  # a fresh copy per example: no stale -wal file
        path = Path(folder) / "log.sqlite"
        shutil.copyfile(template, path)
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (changed, key_value))
        log = DecisionLog(f"sqlite:///{path}")
        try:
            checked, problem = log.verify()
        finally:
            log.close()
    assert problem is not None and problem.startswith(f"row {seq} "), (table, column, position, problem)
    assert checked == seq - 1
