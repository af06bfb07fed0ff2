"""费随事转 arithmetic. Amounts are Decimals, never floats; results are rounded to the fen
(0.01 yuan) half-up, once, at the end."""
from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from .errors import InputError
from .ruleset import FundingStandard

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


def required_total(standard: FundingStandard, communities: Iterable) -> Decimal:
    """What a request must attach under `standard` for all its target communities."""
    communities = list(communities)
    if standard.basis == "fixed":
        return to_fen(standard.amount)
    return to_fen(sum((required_for_community(standard, c, i) for i, c in enumerate(communities)), Decimal(0)))


def split(total: Decimal, shares: dict[str, int]) -> dict[str, Decimal]:
    """Split `total` by integer shares; the last level takes the rounding remainder, so the
    parts always sum to the total."""
    weight = sum(shares.values())
    parts, given = {}, Decimal(0)
    levels = list(shares)
    for level in levels[:-1]:
        parts[level] = to_fen(total * shares[level] / weight) if weight else Decimal(0)
        given += parts[level]
    if levels:
        parts[levels[-1]] = to_fen(total) - given
    return parts
