"""Funds actually allocated to communities (`zhunru funding record`), table `zhunru_allocation`.

One row is one appropriation: a community (by registry code), a budget year, the level of
government that pays (city, district, street), the fund's name as the ruleset names it (or its
clause id), the amount in yuan and the document that allocated it. Amounts are stored as
Decimal text with two decimals: exact, never floats. Rows are only added: a correction is a
further (negative) allocation, so what was recorded stays visible. Each allocation is also a
`funding_allocation` entry of the decision log's hash chain (with who recorded it), written in
the same transaction under the chain's lock: `zhunru log verify` checks the table against the
chain and `zhunru log rebuild` writes it again from it (log/beside.py).

Only commands that need the database import this module (it pulls in SQLAlchemy).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from sqlalchemy import insert, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, select

from zhunru.errors import InputError
from zhunru.log import beside
from zhunru.log.store import LogError, _short
from zhunru.office.registry import CommunityRegistry

LEVELS = ("city", "district", "street")
MAX_AMOUNT = Decimal("1e15")


class Allocation(SQLModel, table=True):
    __tablename__ = "zhunru_allocation"
    id: int | None = Field(default=None, primary_key=True)
    community_code: str = Field(index=True, max_length=64)
    year: int = Field(index=True)
    level: str = Field(max_length=16)
    fund: str = Field(max_length=200)
    amount: str = Field(max_length=40)  # a Decimal as text: exact
    document: str | None = Field(default=None, max_length=200)
    recorded_at: str = Field(max_length=40)

    @property
    def value(self) -> Decimal:
        return Decimal(self.amount)

    def as_dict(self) -> dict:
        return {"id": self.id, "community": self.community_code, "year": self.year, "level": self.level,
                "fund": self.fund, "amount": self.amount, "document": self.document,
                "recorded_at": self.recorded_at}


def parse_amount(value: str, name: str = "--amount") -> Decimal:
    """A yuan amount with at most two decimals ("50000", "1234.5"); never a float."""
    text = str(value).strip().replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{name}: {value!r} is not an amount in yuan (e.g. 50000 or 1234.50)") from None
    if not amount.is_finite():
        raise InputError(f"{name}: {value!r} is not an amount in yuan")
    if amount.as_tuple().exponent < -2:
        raise InputError(f"{name}: {value!r} has more than two decimals (amounts are in yuan to the fen)")
    if abs(amount) >= MAX_AMOUNT:
        raise InputError(f"{name}: {value!r} is too large")
    if amount == 0:
        raise InputError(f"{name}: must not be zero")
    return amount.quantize(Decimal("0.01"))


class Allocations:
    """Recorded allocations in the registry's database."""

    def __init__(self, registry: CommunityRegistry):
        self.registry = registry
        self.engine = registry.engine
        try:
            SQLModel.metadata.create_all(self.engine, tables=[Allocation.__table__])
            with registry.log.reader.connect() as conn:
                needed = (not beside.has_entries(conn, beside.ALLOCATION)
                          and conn.execute(text("SELECT 1 FROM zhunru_allocation LIMIT 1")).first() is not None)
            if needed:
                registry.log.append_beside(lambda conn, seq: (None, [b] if (b := _baseline(conn)) else []))
        except SQLAlchemyError as exc:
            raise LogError(f"--db: cannot open the allocations at {registry.log.display_url} ({_short(exc)})") from None

    def record(self, community: str, year: int, level: str, fund: str, amount: Decimal | str,
               document: str | None = None, actor=None) -> Allocation:
        """Record an allocation; `actor`: who (an account as acts record it, beside.account_actor;
        default: the console's user), kept in its chain entry."""
        if self.registry.get(community) is None:
            raise InputError(f"--community: unknown community code {community!r} (zhunru community list)")
        if level not in LEVELS:
            raise InputError(f"--level: {level!r} is not one of {', '.join(LEVELS)}")
        if not 1949 < year < 2200:
            raise InputError(f"--year: {year} is not a budget year")
        fund = (fund or "").strip()
        if not fund or len(fund) > 200:
            raise InputError("--fund: give the fund's name as the ruleset names it (at most 200 characters)")
        if document is not None and len(document) > 200:
            raise InputError("--document: at most 200 characters")
        value = amount if isinstance(amount, Decimal) else parse_amount(amount)
        actor = actor or beside.console_actor()
        fields = {"community_code": community, "year": year, "level": level, "fund": fund, "amount": str(value),
                  "document": document}

        def in_chain(conn, seq):
            entries = []
            baseline = _baseline(conn)
            if baseline is not None:
                entries.append(baseline)
            recorded_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            new_id = conn.execute(insert(Allocation.__table__).values(**fields, recorded_at=recorded_at)
                                  ).inserted_primary_key[0]
            row = Allocation(id=new_id, **fields, recorded_at=recorded_at)
            entries.append(beside.allocation_entry(row.model_dump(), actor))
            return row, entries

        try:
            return self.registry.log.append_beside(in_chain)[0]
        except SQLAlchemyError as exc:
            raise LogError(f"--db: could not record the allocation ({_short(exc)}); nothing was written") from None

    def for_year(self, year: int, codes: list[str] | None = None) -> list[Allocation]:
        with Session(self.engine) as session:
            query = select(Allocation).where(Allocation.year == year)
            if codes is not None:
                query = query.where(Allocation.community_code.in_(codes))
            return list(session.exec(query.order_by(Allocation.id)).all())


def _baseline(conn) -> dict | None:
    """The baseline entry of allocations recorded before the chain recorded them (none of its
    entries is an allocation yet): every row as it is. None otherwise. Under the lock."""
    if beside.has_entries(conn, beside.ALLOCATION):
        return None
    rows = [dict(r) for r in conn.execute(text(f"SELECT {', '.join(beside.ALLOCATED)} FROM zhunru_allocation "
                                               "ORDER BY id")).mappings()]
    return beside.allocation_baseline(rows) if rows else None


def ruleset_for_year(city: str, year: int, rulesets=None):
    """The city's ruleset chain for a budget year: the version in force on 31 December, or,
    if none is, on 1 January (a version that ended during the year)."""
    from zhunru.errors import RulesetError
    from zhunru.rulebook.loader import default_registry

    rulesets = rulesets or default_registry()
    for day in (dt.date(year, 12, 31), dt.date(year, 1, 1)):
        try:
            leaf = rulesets.in_force(city, day)
        except RulesetError as exc:
            if "unknown city" in str(exc):
                raise InputError(f"--city: {str(exc).split(': ', 1)[1]}") from None
            continue
        return rulesets.chain(leaf, day)
    raise InputError(f"--year: no {city} ruleset is in force in {year}")


def base_funds(chain) -> list:
    """The base funds of a ruleset chain; a city's fund overrides its parent's of the same id."""
    funds, seen = [], set()
    for loaded in chain:
        for fund in loaded.ruleset.base_funds:
            if fund.id not in seen:
                seen.add(fund.id)
                funds.append(fund)
    return funds


def check(registry: CommunityRegistry, city: str, year: int, district: str | None = None,
          street: str | None = None, rulesets=None) -> dict:
    """Base funds per community against recorded allocations: lines, per-community and
    per-level totals, and allocations that name no base fund of the ruleset."""
    from zhunru.decide.funding import ROUNDING_NOTE, base_fund_lines, totals

    chain = ruleset_for_year(city, year, rulesets)
    funds = base_funds(chain)
    communities = registry.list(district, street)
    if not communities:
        scope = " ".join(x for x in (district, street) if x)
        raise InputError(f"--district: no community of {scope} in the registry" if scope
                         else "registry: no communities; import them first (zhunru community import FILE.csv)")
    allocations = Allocations(registry).for_year(year, [c.code for c in communities])
    by_code: dict[str, list[Allocation]] = {}
    for alloc in allocations:
        by_code.setdefault(alloc.community_code, []).append(alloc)
    lines, unmatched = [], []
    for community in communities:
        found, other = base_fund_lines(funds, community, community.code, by_code.get(community.code, []))
        lines.extend(found)
        unmatched.extend(other)

    def money(group: dict) -> dict:
        return {k: str(v) for k, v in group.items()}

    names = {c.code: c for c in communities}
    per_community = [{"code": code, "name": names[code].name, "district": names[code].district,
                      "street": names[code].street, **money(group)}
                     for code, group in totals(lines, lambda line: line.community).items()]
    leaf = chain[0]
    return {
        "city": city, "year": year, "district": district, "street": street,
        "ruleset": {"id": leaf.ruleset.id, "version": leaf.ruleset.version},
        "funds": [{"id": f.id, "name": f.name, "basis": f.standard.basis, "amount": str(f.standard.amount),
                   "per": f.standard.per, "split": f.split} for f in funds],
        "rounding": {"zh": ROUNDING_NOTE[0], "en": ROUNDING_NOTE[1]},
        "lines": [line.as_dict() for line in lines],
        "per_community": per_community,
        "per_level": {level: money(group) for level, group in totals(lines, lambda line: line.level).items()},
        "total": money(next(iter(totals(lines, lambda line: "all").values()),
                            dict.fromkeys(("required", "allocated", "shortfall"), Decimal("0.00")))),
        "unmatched": [a.as_dict() for a in unmatched],
    }
