"""The decision procedure (DESIGN.md steps 3–4): durable_rules rules, compiled into a proven table.

Why it is built this way. The design names durable_rules for the procedure, but the library
(2.0.28, unmaintained) cannot be trusted with a stream of requests: its host's background
dispatch timer can run a just-posted event's action outside the caller's control, it loses
events after tens of thousands of posts, two events of one batch whose 32-bit message ids
collide raise MessageObservedException, and it is slow (22.7 µs of a 48.7 µs decision). What
the rules decide on, though, is a small finite domain: the request's kind × the list its matter
was found on × six yes/no checks × the ruleset's `otherwise` value (6,656 points). So:

* the rules are written once, as data (`RULES`), and turned into durable_rules rulesets;
* `build()` runs every point of the domain through durable_rules under control: our own host
  with the dispatch timer off (every action runs inside `post`), one ruleset per rule, one event
  per post, far below the counts where the library starts losing events;
* the run proves the procedure: every point must fire exactly one rule (complete and exclusive),
  or the build fails naming the point and the rules that fired;
* the result, point → rule name, is a decision table; requests are decided by looking it up
  (a dict access, ~100 ns), never by posting to durable_rules in a long-running process;
* the table is cached as JSON (data, never code) under a key made of this module's source, the
  kinds and durable_rules' version, so any change to the rules or the domain rebuilds it; a
  loaded table must name, for every point of the domain, a rule whose conditions hold there, so
  a stale or planted file cannot change an answer.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zhunru.kinds import KINDS, LISTS

# The facts of one point, in key order. `listed` is the list the matter was found on ("none":
# on no list); `otherwise` is the ruleset's catch-all outcome for the kind ("none": it has none).
FACTS = ("kind", "listed", "partial", "funded", "shortfall", "over_cap", "assessor_ok", "basis", "otherwise")
FLAGS = ("partial", "funded", "shortfall", "over_cap", "assessor_ok", "basis")  # basis: the request states a legal basis
OTHERWISE = ("none", "admitted", "rejected", "needs_approval")


class ProcedureError(Exception):
    """The rules are not complete and exclusive over the domain (a defect of the code)."""


@dataclass(frozen=True)
class Rule:
    """One rule of the procedure: when every condition holds, the outcome, category and reason."""

    name: str
    when: tuple[tuple[str, str, object], ...]  # (fact, "==" or "!=", value)
    outcome: str
    category: str
    code: str

    def holds(self, point: dict) -> bool:
        return all((point[f] == v) == (op == "==") for f, op, v in self.when)

    def durable_condition(self):
        from durable.lang import m

        condition = None
        for fact, op, value in self.when:
            term = (getattr(m, fact) == value) if op == "==" else (getattr(m, fact) != value)
            condition = term if condition is None else condition & term
        return condition


def _rule(name, outcome, category, code, also=(), **when) -> Rule:
    conditions = list(also)  # conditions kwargs cannot say, e.g. a second one on the same fact
    for fact, value in when.items():
        op = "=="
        if isinstance(value, tuple):  # ("!=", value)
            op, value = value
        conditions.append((fact, op, value))
    return Rule(name, tuple(conditions), outcome, category, code)


NOT_TASK = ("!=", "task")
RULES: tuple[Rule, ...] = (
    # task (DESIGN.md step 3)
    _rule("task_negative", "rejected", "negative", "TASK_NEGATIVE", kind="task", listed="negative"),
    _rule("task_duty", "admitted", "duty", "TASK_DUTY", kind="task", listed="duty"),
    _rule("task_assist", "admitted", "assist", "TASK_ASSIST", kind="task", listed="assist", shortfall=False),
    _rule("task_assist_short", "rejected", "assist", "FUNDING_SHORTFALL", kind="task", listed="assist",
          shortfall=True),
    _rule("task_unlisted_partial", "needs_approval", "unlisted", "LIST_PARTIAL", kind="task", listed="none",
          partial=True),
    _rule("task_unfunded", "rejected", "commissioned", "FUNDING_MISSING", kind="task", listed="none",
          partial=False, funded=False),
    _rule("task_short", "rejected", "commissioned", "FUNDING_SHORTFALL", kind="task", listed="none",
          partial=False, funded=True, shortfall=True),
    _rule("task_commissioned", "needs_approval", "commissioned", "APPROVAL_REQUIRED", kind="task",
          listed="none", partial=False, funded=True, shortfall=False),
    # certificates
    _rule("cert_must_issue", "admitted", "duty", "CERT_MUST_ISSUE", listed="must_issue"),
    _rule("cert_may_issue", "admitted", "allowed", "CERT_MAY_ISSUE", listed="may_issue"),
    _rule("cert_must_not_issue", "rejected", "forbidden", "CERT_MUST_NOT_ISSUE", listed="must_not_issue"),
    # nameplates, postings, meetings, ledgers, reports, assessments (step 4)
    _rule("allowed", "admitted", "allowed", "ALLOWED", kind=NOT_TASK, listed="allowed", over_cap=False,
          assessor_ok=True),
    _rule("over_cap", "rejected", "forbidden", "OVER_CAP", kind=NOT_TASK, listed="allowed", over_cap=True),
    _rule("assessor_not_allowed", "rejected", "forbidden", "ASSESSOR_NOT_ALLOWED", kind=NOT_TASK,
          listed="allowed", over_cap=False, assessor_ok=False),
    _rule("forbidden", "rejected", "forbidden", "FORBIDDEN", kind=NOT_TASK, listed="forbidden"),
    # what no list names: the ruleset's `otherwise`, else the district body decides
    _rule("otherwise_admitted", "admitted", "allowed", "NOT_LISTED", kind=NOT_TASK, listed="none",
          otherwise="admitted"),
    _rule("otherwise_rejected", "rejected", "forbidden", "NOT_LISTED", kind=NOT_TASK, listed="none",
          otherwise="rejected", basis=False),
    _rule("otherwise_rejected_basis_no_matter", "rejected", "forbidden", "NOT_LISTED",
          also=(("kind", "!=", "certificate"),), kind=NOT_TASK, listed="none", otherwise="rejected", basis=True),
    # a certificate no list names, where the ruleset refuses what it does not list, but the
    # request states a legal basis: a person decides (民发〔2020〕20号: issue where a law provides)
    _rule("cert_basis_stated", "needs_approval", "unlisted", "CERT_BASIS_STATED", kind="certificate",
          listed="none", otherwise="rejected", basis=True),
    _rule("otherwise_needs_approval", "needs_approval", "unlisted", "NOT_LISTED", kind=NOT_TASK, listed="none",
          otherwise="needs_approval"),
    _rule("not_covered", "needs_approval", "unlisted", "NOT_COVERED", kind=NOT_TASK, listed="none",
          otherwise="none"),
)


def domain() -> list[tuple]:
    """Every reachable point: for each kind, the lists it has (or none), every combination of the
    flags and every `otherwise` value. A task is never `allowed`, a certificate never `duty`."""
    points = []
    for kind in KINDS:
        for listed in (*LISTS[kind], "none"):
            for flags in itertools.product((False, True), repeat=len(FLAGS)):
                for otherwise in OTHERWISE:
                    points.append((kind, listed, *flags, otherwise))
    return points


def _point(key: tuple) -> dict:
    return dict(zip(FACTS, key))


def _describe(key: tuple) -> str:
    return " ".join(f"{f}={v}" for f, v in zip(FACTS, key))


# -- building the table through durable_rules --------------------------------------------------

def _quiet_host():
    """durable_rules' Host without its background dispatch timer: an action runs inside `post`,
    in this thread, or not at all."""
    from durable import engine

    class QuietHost(engine.Host):
        def _run(self):  # noqa: D401 - the timer thread is what races callers
            pass

    return QuietHost()


def _fired_by(rule: Rule, points: list[tuple], serial: int) -> list[int]:
    """Indexes of the points at which `rule`, alone in its own ruleset and host, fires."""
    from durable import engine, lang

    name = f"zhunru_procedure_{serial}_{rule.name}"
    hits: list[int] = []
    with lang.ruleset(name):
        lang.when_all(rule.durable_condition())(lambda c: hits.append(c.m.i))
    definition = lang._rulesets.pop(name).define()  # ours alone, not the library's global host
    host = _quiet_host()
    host.register_rulesets({definition[0]: definition[1]})
    for i, key in enumerate(points):
        try:
            host.post(name, {"i": i, **_point(key)})
        except engine.MessageNotHandledException:  # the rule does not hold at this point
            pass
    return hits


_serial = itertools.count()


def build(rules: tuple[Rule, ...] = RULES) -> dict[tuple, str]:
    """Run every point through durable_rules, one ruleset per rule; point → the one rule that
    fired. Raises ProcedureError naming the first points where no rule or several rules fire."""
    points = domain()
    fired: list[list[str]] = [[] for _ in points]
    serial = next(_serial)
    for rule in rules:
        for i in _fired_by(rule, points, serial):
            fired[i].append(rule.name)
    problems = []
    for key, names in zip(points, fired):
        if len(names) != 1:
            what = "no rule fires" if not names else "rules " + ", ".join(names) + " all fire"
            problems.append(f"{_describe(key)}: {what}")
    if problems:
        more = f" (and {len(problems) - 3} more points)" if len(problems) > 3 else ""
        raise ProcedureError("the procedure is not complete and exclusive: " + "; ".join(problems[:3]) + more)
    return {key: names[0] for key, names in zip(points, fired)}


# -- the cached table ------------------------------------------------------------------------

def code_key(rules: tuple[Rule, ...] = RULES) -> str:
    """What the table depends on: this module's source, the rules, the kinds and lists, and the
    durable_rules code that ran them (its Python sources, read without importing it: a cached
    table must not cost the import of the library, nor importlib.metadata's 40 ms)."""
    from importlib.util import find_spec

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(repr((rules, KINDS, sorted(LISTS.items()), OTHERWISE)).encode())
    spec = find_spec("durable")
    if spec is not None and spec.origin:
        for name in ("engine.py", "lang.py"):
            library = Path(spec.origin).with_name(name)
            digest.update(library.read_bytes() if library.is_file() else b"-")
    return digest.hexdigest()


def _cache_file(key: str) -> Path | None:
    if os.environ.get("ZHUNRU_CACHE", "1") == "0":
        return None
    configured = os.environ.get("ZHUNRU_CACHE_DIR")
    if configured:
        folder = Path(configured)
    else:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("zhunru", appauthor=False)) / "rulesets"
    return folder / f"procedure-{key}.json"


def _checked(stored: object, rules: tuple[Rule, ...]) -> dict[tuple, str] | None:
    """The stored table if it names, for every point, a rule that holds there; else None."""
    if not isinstance(stored, dict) or not isinstance(stored.get("table"), list):
        return None
    by_name = {r.name: r for r in rules}
    points = domain()
    if len(stored["table"]) != len(points):
        return None
    table = {}
    for key, name in zip(points, stored["table"]):
        rule = by_name.get(name) if isinstance(name, str) else None
        if rule is None or not rule.holds(_point(key)):
            return None
        table[key] = name
    return table


class Procedure:
    """The compiled procedure: `decide(facts)` → (outcome, category, reason code)."""

    def __init__(self, table: dict[tuple, str], rules: tuple[Rule, ...] = RULES):
        by_name = {r.name: r for r in rules}
        self.rules = rules
        self._answers = {key: (by_name[n].outcome, by_name[n].category, by_name[n].code) for key, n in table.items()}

    @classmethod
    def load(cls, rules: tuple[Rule, ...] = RULES) -> "Procedure":
        """From the cache when it holds this code's table, else built through durable_rules."""
        key = code_key(rules)
        path = _cache_file(key)
        table = None
        if path is not None:
            try:
                table = _checked(json.loads(path.read_text(encoding="utf-8")), rules)
            except (OSError, ValueError):
                table = None
        if table is None:
            table = build(rules)
            if path is not None:
                _store(path, {"key": key, "facts": FACTS, "table": [table[p] for p in domain()]})
        return cls(table, rules)

    def decide(self, facts: dict) -> tuple[str, str, str]:
        key = (facts["kind"], facts["listed"], facts["partial"], facts["funded"], facts["shortfall"],
               facts["over_cap"], facts["assessor_ok"], facts["basis"], facts["otherwise"])
        try:
            return self._answers[key]
        except KeyError:  # a fact value outside the domain: a defect in the caller, not bad input
            raise ProcedureError(f"procedure: no rule for {_describe(key)}") from None


def _store(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp",
                                         encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(handle.name, path)  # atomic: readers never see half a file
    except OSError:
        pass  # an unwritable cache is only slower


@functools.cache
def procedure() -> Procedure:
    """The process's procedure, loaded once."""
    return Procedure.load()
