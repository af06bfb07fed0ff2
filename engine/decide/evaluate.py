"""The steps of one decision (DESIGN.md, decision procedure): pick the version, resolve the
matter, gather the facts, look the outcome up in the compiled procedure, let city plugins add
reasons, cite a clause for every reason. Reasons are language-neutral (code, values, clause).

The request path around these steps (parsing, communities, standing, observers) is the
application object's: zhunru.app.Zhunru."""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from zhunru.decide.procedure import Procedure, procedure
from zhunru.rulebook.book import Book, Entry, compile_book
from zhunru.errors import InputError, MalformedInput
from zhunru.decide.funding import required_total
from zhunru.rulebook.loaded import describe_validation
from zhunru.rulebook.loader import Registry, default_registry, ended_on
from zhunru.messages import REASONS
from zhunru.models import Decision, FundingCheck, MatterRef, Reason, Request, RulesetRef

SEVERITY = {"admitted": 0, "needs_approval": 1, "rejected": 2}
MAX_REQUEST_BYTES = 1024 * 1024
BY_DAY_LIMIT = 10_000  # (city, day) → compiled book lookups an engine remembers


def parse_request(data: Any) -> Request:
    """Validate a request; a bad one raises InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("request: must be a JSON object")
    try:
        return Request.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_validation(exc)[0]) from None


def parse_request_json(text: str | bytes) -> Request:
    if len(text) > MAX_REQUEST_BYTES:
        raise InputError(f"request: {len(text)} bytes, over the limit of {MAX_REQUEST_BYTES}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedInput(f"request: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    except (UnicodeDecodeError, RecursionError):
        raise MalformedInput("request: not valid JSON (bad encoding or nested too deeply)") from None
    except ValueError:  # Python refuses to convert an integer of more than 4300 digits
        raise MalformedInput("request: a number with thousands of digits (no field holds one)") from None
    return parse_request(data)


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def _decision_id() -> str:
    """Unique without a system call per decision: a random per-process prefix and a counter."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


LATER_FIELDS = ("reported_by", "service_purchase")


def request_id(request: Request) -> str:
    """The request's own id, or a content hash: the same request is the same request."""
    if request.id:
        return request.id
    # fields added later are left out while unset, so a request keeps the id it always had
    canonical = request.model_dump_json(exclude={"id", *(f for f in LATER_FIELDS if getattr(request, f) is None)})
    return "r-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


@dataclass
class _Prepared:
    request: Request
    book: Book
    entry: Entry | None
    matter_name: str
    values: dict
    funding: FundingCheck
    facts: dict


@dataclass
class Standing:
    """State a rule needs that the request does not carry, read from the log and the registry:
    what is already admitted to each community (e.g. its plates, against the ruleset's cap)."""

    counts: dict[str, int] = field(default_factory=dict)  # kind → a fixed count, for a caller's own state
    admitted: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)  # (city, kind, community) → matters
    kinds: set[str] = field(default_factory=set)  # the kinds `admitted` was read for

    def count(self, request: Request, matter: str) -> int:
        """Items of the request's kind already admitted to its fullest community, this matter aside."""
        if not self.admitted:
            return self.counts.get(request.kind, 0)
        return max((len(self.admitted.get((request.city, request.kind, community_key(c)), set()) - {matter})
                    for c in request.communities), default=0)

    def record(self, request: Request, decision: "Decision") -> None:
        if decision.outcome == "admitted" and not decision.advisory:  # what binds (log.matters.in_effect)
            for c in request.communities:
                key = (request.city, request.kind, community_key(c))
                self.admitted.setdefault(key, set()).add(decision.matter.code or decision.matter.name)


def community_key(community) -> str:
    return community.code or community.name


class Engine:
    """Evaluates requests against the rulesets of a registry (the plugins' rulesets by default)."""

    def __init__(self, registry: Registry | None = None, lang: str = "zh", procedure_: Procedure | None = None,
                 plugins=None):
        self.registry = registry or default_registry()
        self.procedure = procedure_ or procedure()
        self.plugins = plugins
        self.lang = lang  # kept for callers; decisions themselves carry no words
        self._books: dict[tuple[str, ...], Book] = {}
        self._by_day: dict[tuple[str, object], Book] = {}  # (city, date) → book: one lookup per request
        self._suggestions: dict[tuple[int, str, str], tuple[str, ...]] = {}
        self._sources: dict[int, dict[str, str]] = {}
        self._city_rule_lists: dict[str, list] = {}
        self._compiling = threading.Lock()

    def book_for(self, city: str, on) -> Book:
        book = self._by_day.get((city, on))
        if book is None:
            leaf = self.registry.in_force(city, on)
            chain = self.registry.chain(leaf, on)
            key = tuple(r.ref for r in chain)
            if key not in self._books:
                with self._compiling:  # a service's threads all start at once: compile once, not 30 times
                    if key not in self._books:
                        self._books[key] = compile_book(chain)
            if len(self._by_day) >= BY_DAY_LIMIT:  # the days are the callers' (any date a request names)
                self._by_day.clear()
            book = self._by_day[(city, on)] = self._books[key]
        return book

    def _suggest(self, book: Book, kind: str, matter: str) -> list[str]:
        """Fuzzy suggestions for an unlisted matter, remembered: difflib over the catalogue is
        the costliest step of a decision, and batches repeat the same off-list names."""
        key = (id(book), kind, matter)
        found = self._suggestions.get(key)
        if found is None:
            if len(self._suggestions) > 50000:
                self._suggestions.clear()
            found = self._suggestions[key] = tuple(book.suggestions(kind, matter))
        return list(found)

    # -- reasons ---------------------------------------------------------------------------
    def _reason(self, book: Book, code: str, clause_id: str, **values) -> Reason:
        clause, origin = book.clause(clause_id)
        return Reason(code=code, clause=f"{origin.ref}#{clause.id}", source=self._source(clause),
                      values={k: (v if isinstance(v, (int, str)) or v is None else str(v)) for k, v in values.items()})

    def _source(self, clause) -> dict[str, str]:
        found = self._sources.get(id(clause))
        if found is None:
            found = self._sources[id(clause)] = {k: v for k, v in clause.source.model_dump().items()
                                                 if v is not None}
        return dict(found)

    def _fallback_clause(self, book: Book) -> str:
        if book.commissioned is None:
            raise InputError(f"ruleset {book.leaf.ref}: no task.commissioned clause to cite")
        return book.commissioned[0]

    # -- the procedure ---------------------------------------------------------------------
    def evaluate(self, request: Request, standing: Standing | None = None, book: Book | None = None) -> Decision:
        """Decide one request: its facts, the procedure's answer for them, its reasons. `book`:
        a given ruleset version's book instead of the one in force on the request's date
        (appeal replay and impact analysis, log/replay.py)."""
        prepared = self._prepare(request, standing, book)
        return self._finish(prepared, *self.procedure.decide(prepared.facts))

    def book_of(self, ref: str, on) -> Book:
        """The book of ruleset version `city@version` (its parents as in force on `on`)."""
        leaf = self.registry.by_ref(ref)
        chain = self.registry.chain(leaf, on)
        key = tuple(r.ref for r in chain)
        if key not in self._books:
            self._books[key] = compile_book(chain)
        return self._books[key]

    def _prepare(self, request: Request, standing: Standing | None, book: Book | None = None) -> "_Prepared":
        """Steps 1–2 of the procedure and the facts the rules decide on."""
        book = book or self.book_for(request.city, request.date)
        kind = request.kind
        entry = book.lookup(kind, request.matter)
        matter_name = entry.item.name if entry else request.matter
        values: dict[str, Any] = {"matter": matter_name, "department": request.department.name}
        funding = FundingCheck(attached=request.funding.amount if request.funding else Decimal(0))
        funded = (request.funding is not None and request.funding.amount > 0) or request.personnel > 0

        facts: dict[str, Any] = {
            "kind": kind, "listed": entry.list_name if entry else "none",
            "partial": False, "funded": funded, "shortfall": False, "over_cap": False,
            "assessor_ok": True, "basis": bool(request.basis and request.basis.strip()), "otherwise": "none",
        }
        standard = entry.item.funding if entry else None
        if kind == "task":
            facts["partial"] = any(book.coverage.get(("task", n)) == "partial" for n in ("duty", "assist"))
        if standard is not None:
            funding.required = required_total(standard, request.communities)
            funding.shortfall = max(funding.required - funding.attached, Decimal(0))
            facts["shortfall"] = funding.shortfall > 0
        if entry is not None and entry.list_name == "allowed":
            item = entry.item
            if kind == "assessment":
                facts["assessor_ok"] = ((item.assessor is None or request.department.role in item.assessor)
                                        and (item.assessor_level is None
                                             or request.department.level in item.assessor_level))
            cap = book.max_count.get(kind)
            if cap is not None and standing is not None:
                already = standing.count(request, item.key)
                values.update(count=already + 1, cap=cap[0])
                facts["over_cap"] = already >= cap[0]
        if entry is None and kind != "task" and kind in book.otherwise:
            facts["otherwise"] = book.otherwise[kind][0].outcome
        return _Prepared(request, book, entry, matter_name, values, funding, facts)

    def _finish(self, p: "_Prepared", outcome: str, category: str, code: str) -> Decision:
        """Steps 5–6: city plugins' rules, and a cited clause for every reason."""
        request, book, entry, kind = p.request, p.book, p.entry, p.request.kind
        reasons = self._reasons(book, request, entry, code, p.values, p.funding, p.facts)
        for extra in self._city_rules(request, book, outcome, category, reasons):
            reasons.append(extra[0])
            if extra[1] and SEVERITY[extra[1]] > SEVERITY[outcome]:
                outcome = extra[1]
        if book.advisory:
            reasons.append(self._reason(book, "PROPOSAL_ADVISORY", reasons[0].clause.rsplit("#", 1)[1],
                                        status=book.leaf.ruleset.status))
        not_binding = self._not_binding(book, reasons)
        for document, status, clause_id in not_binding:
            reasons.append(self._reason(book, f"SOURCE_{status.upper()}", clause_id, document=document))
        for document, on, by, clause_id in self._superseded(book, reasons, request.date):
            reasons.append(self._reason(book, "SOURCE_SUPERSEDED", clause_id, document=document, on=on, by=by))
        ended = ended_on(book.leaf, request.date)
        if ended is not None:
            reasons.append(self._reason(book, "VERSION_ENDED", reasons[0].clause.rsplit("#", 1)[1],
                                        version=book.leaf.ruleset.version, end=ended.isoformat()))
        verdict = None
        if kind == "certificate":
            verdict = {"duty": "must_issue", "forbidden": "must_not_issue"}.get(category)
            if category == "allowed":
                verdict = "may_issue"
            verdict = verdict or "unknown"
        return Decision(
            decision_id=_decision_id(), request_id=request_id(request), outcome=outcome, category=category,
            matter=MatterRef(code=entry.item.key if entry else None, name=p.matter_name),
            reasons=reasons, funding=p.funding,
            ruleset=RulesetRef(id=book.leaf.ruleset.id, version=book.leaf.ruleset.version, sha256=book.sha256),
            advisory=book.advisory or ended is not None or bool(not_binding), verdict=verdict,
            suggestions=[] if entry else self._suggest(book, kind, request.matter))

    def _superseded(self, book: Book, reasons: list[Reason], on) -> list[tuple[str, str, str, str]]:
        """(title, day, revision, clause id) of each source a reason's clause cites that a
        revision replaced on or before `on`, once per source: the ruleset has not caught up."""
        found: dict[str, tuple[str, str, str, str]] = {}
        for reason in reasons:
            clause_id = reason.clause.rsplit("#", 1)[1]
            if clause_id not in book.clauses:
                continue
            clause, origin = book.clause(clause_id)
            cited = clause.source.document or clause.source.law
            if cited is None or cited in found:
                continue
            for doc in origin.ruleset.sources:
                if (doc.superseded_on is not None and doc.superseded_on <= on
                        and cited in (doc.document, doc.law)):
                    found[cited] = (doc.title, doc.superseded_on.isoformat(), doc.superseded_by or "", clause_id)
        return list(found.values())

    def _not_binding(self, book: Book, reasons: list[Reason]) -> list[tuple[str, str, str]]:
        """(title, status, clause id) of each draft or proposal a reason's clause quotes, once per
        document or part (the ruleset's `sources:` give each document's or part's status)."""
        found: dict[str, tuple[str, str, str]] = {}
        for reason in reasons:
            clause_id = reason.clause.rsplit("#", 1)[1]
            if clause_id not in book.clauses:
                continue
            clause, origin = book.clause(clause_id)
            status = origin.source_status(clause)
            if status is not None and status[1] != "in_force" and status[0] not in found:
                found[status[0]] = (status[0], status[1], clause_id)
        return list(found.values())

    def _reasons(self, book, request, entry: Entry | None, code, values, funding, facts) -> list[Reason]:
        reasons: list[Reason] = []
        if entry is not None:
            clause_id = entry.item.id
            if code == "OVER_CAP" and book.max_count[request.kind][1]:
                clause_id = book.max_count[request.kind][1]
            if code == "FUNDING_SHORTFALL":
                values.update(attached=funding.attached, required=funding.required, shortfall=funding.shortfall)
            reasons.append(self._reason(book, code, clause_id, **values))
            return reasons
        if request.kind == "task":
            clause_id = self._fallback_clause(book)
            if code == "FUNDING_SHORTFALL":
                values.update(attached=funding.attached, required=funding.required, shortfall=funding.shortfall)
            reasons.append(self._reason(book, code, clause_id, **values))
            if code == "LIST_PARTIAL" and not facts["funded"]:
                reasons.append(self._reason(book, "LIST_PARTIAL_UNFUNDED", clause_id))
            if code == "APPROVAL_REQUIRED" and funding.required is None:
                reasons.append(self._reason(book, "NO_FUNDING_STANDARD", clause_id))
            return reasons
        if request.kind in book.otherwise:
            other, _ = book.otherwise[request.kind]
            return [self._reason(book, code, other.clause, **values)]
        return [self._reason(book, code, self._fallback_clause(book), **values)]

    def _city_rules(self, request, book, outcome, category, reasons):
        city = book.leaf.ruleset.id  # the id, also when the request names the city 毕节
        rules_for_city = self._city_rule_lists.get(city)
        if rules_for_city is None:
            if self.plugins is None:
                from zhunru.plugins import plugin_manager

                self.plugins = plugin_manager()
            rules_for_city = self._city_rule_lists[city] = [
                rule for rule_list in self.plugins.hook.zhunru_city_rules(city=city)
                for rule in rule_list or []]
        extras = []
        for rule in rules_for_city:
            draft = {"outcome": outcome, "category": category, "reasons": [r.model_dump() for r in reasons]}
            for found in rule(request, draft, CityView(book)) or []:
                clause_id = found["clause"]
                if clause_id not in book.clauses:
                    raise InputError(f"plugin rule {rule!r}: clause {clause_id!r} is not in {book.leaf.ref}")
                clause, origin = book.clause(clause_id)
                code, values = str(found["code"]), found.get("values")
                if values is not None and code in REASONS:  # language-neutral: words where it is shown
                    reason = self._reason(book, code, clause_id, **values)
                else:
                    reason = Reason(code=code, clause=f"{origin.ref}#{clause_id}",
                                    message=str(found["message"]), source=self._source(clause))  # the plugin's words
                extras.append((reason, found.get("outcome")))
        return extras


class CityView:
    """What a city plugin's rule may look at: the ruleset deciding, its clauses and catalogue.
    A small, stable view; the engine's compiled book stays internal."""

    def __init__(self, book: Book):
        self._book = book
        self.ruleset = {"id": book.leaf.ruleset.id, "version": book.leaf.ruleset.version, "sha256": book.sha256}

    def clause(self, clause_id: str) -> dict | None:
        """{id, text, source} of a clause of the ruleset or its parents, or None."""
        found = self._book.clauses.get(clause_id)
        if found is None:
            return None
        clause, origin = found
        return {"id": clause.id, "ref": f"{origin.ref}#{clause.id}", "text": clause.text,
                "source": clause.source.model_dump(exclude_none=True)}

    def lookup(self, kind: str, matter: str) -> dict | None:
        """{list, code, name} of a matter found in the catalogue (exactly, or by alias), or None."""
        entry = self._book.lookup(kind, matter)
        if entry is None:
            return None
        return {"list": entry.list_name, "code": entry.item.key, "name": entry.item.name}
