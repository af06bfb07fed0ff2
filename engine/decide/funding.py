"""费随事转 arithmetic. Amounts are Decimals, never floats; results are rounded to the fen
(0.01 yuan) half-up, once, at the end."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from zhunru.errors import InputError
from zhunru.rulebook.format import FundingStandard

FEN = Decimal("0.01")


def to_fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def required_for_community(standard: FundingStandard, community, index: int = 0) -> Decimal:
    """The amount one community requires under `standard` (unrounded)."""
    if standard.basis == "per_resident":
        if community.population is None:
            raise InputError(f"communities[{index}].population: needed for the per-resident funding standard")
        return standard.amount * community.population
    if standard.basis == "per_100_households":
        if community.households is None:
            raise InputError(f"communities[{index}].households: needed for the per-100-households funding standard")
        return standard.amount * community.households / 100
    if standard.basis == "per_community":
        return standard.amount
    return Decimal(0)  # fixed: counted once for the request, not per community


def required_sum(standard: FundingStandard, communities: Iterable) -> Decimal:
    """The unrounded sum over communities (additive: sum(A ∪ B) == sum(A) + sum(B)); a fixed
    standard is one sum for the whole request."""
    if standard.basis == "fixed":
        return standard.amount
    return sum((required_for_community(standard, c, i) for i, c in enumerate(communities)), Decimal(0))


def required_total(standard: FundingStandard, communities: Iterable) -> Decimal:
    """What a request must attach under `standard` for all its target communities."""
    return to_fen(required_sum(standard, list(communities)))


def split(total: Decimal, shares: dict[str, int]) -> dict[str, Decimal]:
    """Split `total` (rounded to the fen) by integer shares, in the order the ruleset lists the
    levels. Cumulative rounding: level i gets round(total·(s1+…+si)/S) − round(total·(s1+…+si−1)/S),
    so the parts always sum to the total, none is negative and each is within a fen of its exact
    share (a naive per-part rounding can give the last level a negative remainder)."""
    total = to_fen(total)
    weight = sum(shares.values())
    if not shares:
        return {}
    if weight <= 0:  # no usable shares: the first level carries everything
        return {level: (total if i == 0 else Decimal("0.00")) for i, level in enumerate(shares)}
    parts, cumulative, before = {}, 0, Decimal("0.00")
    for level, share in shares.items():
        cumulative += share
        upto = to_fen(total * cumulative / weight)
        parts[level] = upto - before
        before = upto
    return parts


# -- base funds per community (issue 4, 费随事转 2.) --------------------------------------------
UNSPLIT = "any"  # a fund the ruleset does not split between levels: every level's allocation counts
ROUNDING_NOTE = ("金额单位为元;每个社区每项经费先按标准计算,四舍五入到分(ROUND_HALF_UP),再按规则集的比例累计舍入拆分到各级。",
                 "Amounts in yuan; each fund for each community is computed from its standard, rounded to the fen "
                 "(0.01 yuan, half-up), then split between levels by the ruleset's shares with cumulative rounding.")


@dataclass
class FundLine:
    """One fund for one community at one level: required, allocated, shortfall."""

    community: str
    fund_id: str
    fund: str
    level: str
    required: Decimal
    allocated: Decimal = Decimal("0.00")

    @property
    def shortfall(self) -> Decimal:
        return max(self.required - self.allocated, Decimal("0.00"))

    def as_dict(self) -> dict:
        return {"community": self.community, "fund_id": self.fund_id, "fund": self.fund, "level": self.level,
                "required": str(self.required), "allocated": str(self.allocated), "shortfall": str(self.shortfall)}


def fund_matches(fund, name: str) -> bool:
    """An allocation's fund name refers to a base fund by its name or its clause id."""
    from zhunru.rulebook.normalize import normalize

    return name == fund.id or normalize(name) == normalize(fund.name)


def base_fund_lines(base_funds, community, code: str, allocations) -> tuple[list[FundLine], list]:
    """The lines for one community, and the allocations that name no base fund.

    `allocations` are that community's allocations of the year (objects with fund, level and
    a Decimal `value`). Allocations at a level the fund's split does not name are shown as a
    line with nothing required: they cannot make up another level's share."""
    lines: list[FundLine] = []
    used: set[int] = set()
    for fund in base_funds:
        try:
            amount = to_fen(required_for_community(fund.standard, community))
        except InputError as exc:
            raise InputError(f"community {code}: {str(exc).split(': ', 1)[1]} ({fund.id} {fund.name})") from None
        parts = split(amount, fund.split) if fund.split else {UNSPLIT: amount}
        mine = {level: FundLine(code, fund.id, fund.name, level, part) for level, part in parts.items()}
        for i, alloc in enumerate(allocations):
            if not fund_matches(fund, alloc.fund):
                continue
            used.add(i)
            level = UNSPLIT if not fund.split else alloc.level
            line = mine.setdefault(level, FundLine(code, fund.id, fund.name, level, Decimal("0.00")))
            line.allocated += alloc.value
        lines.extend(mine.values())
    return lines, [a for i, a in enumerate(allocations) if i not in used]


def totals(lines: Iterable[FundLine], key) -> dict[str, dict[str, Decimal]]:
    """Sums of required, allocated and shortfall grouped by `key(line)`; shortfalls are summed
    line by line, so a surplus in one fund never hides a shortfall in another."""
    out: dict[str, dict[str, Decimal]] = {}
    for line in lines:
        group = out.setdefault(key(line), {"required": Decimal("0.00"), "allocated": Decimal("0.00"),
                                           "shortfall": Decimal("0.00")})
        group["required"] += line.required
        group["allocated"] += line.allocated
        group["shortfall"] += line.shortfall
    return out
