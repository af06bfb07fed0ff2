"""经费 (district office, auditor, admin): the base funds each community should receive under the
city's ruleset against the allocations recorded (`zhunru funding check`), and a form to record
an allocation (`zhunru funding record`): rows are only added; a correction is a negative one."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from zhunru.errors import InputError
from zhunru.office.accounts import Forbidden
from zhunru.office.workdays import today_in_china

from ..auth import require
from .certificates import city_options
from .common import form, page, state
from .published import districts

router = APIRouter()
LEVELS = {"city": "市级", "district": "区(县)级", "street": "街道"}


def _scope(account, district: str | None) -> str | None:
    return account.scope if account.role == "approver" else ((district or "").strip() or None)


def _year(value: str | None) -> int:
    if not value:
        return today_in_china().year
    if not value.isdigit() or not 1949 < int(value) < 2200:
        raise InputError(f"year: {value[:10]!r} is not a budget year")
    return int(value)


@router.get("/funding")
def funding(request: Request, city: str | None = None, year: str | None = None, district: str | None = None,
            done: str | None = None):
    from zhunru.office.allocations import check
    from zhunru.office.registry import CommunityRegistry

    account = require(request, state(request).accounts, "approver", "admin", "auditor")
    zhunru = state(request).zhunru
    cities = city_options(zhunru.rulesets)
    city = zhunru.rulesets.city_id(city) if city else cities[0][0]
    chosen = _year(year)
    district = _scope(account, district)
    result = check(CommunityRegistry(zhunru.log), city, chosen, district, None)
    return page(request, "funding.html.j2", result=result, cities=cities, city=city, year=chosen,
                district=district or "", choices=districts(zhunru.log), levels=LEVELS, done=done,
                may_record=account.role in ("approver", "admin"))


@router.post("/funding")
async def record(request: Request):
    from zhunru.log.beside import account_actor
    from zhunru.office.allocations import Allocations, parse_amount
    from zhunru.office.registry import CommunityRegistry

    data = await form(request)
    account = require(request, state(request).accounts, "approver", "admin")
    registry = CommunityRegistry(state(request).zhunru.log)
    community = registry.get(data.get("community", ""))
    if community is None:
        raise InputError(f"community: unknown community code {data.get('community', '')[:64]!r}")
    if account.role == "approver" and community.district != account.scope:
        raise Forbidden(f"community: {community.code} lies in {community.district}; {account.name} records "
                        f"allocations for {account.scope} only")
    year = _year(data.get("year"))
    await run_in_threadpool(Allocations(registry).record, community.code, year, data.get("level", ""),
                            data.get("fund", ""), parse_amount(data.get("amount", ""), "amount"),
                            (data.get("document") or "").strip() or None, account_actor(account, "web"))
    query = f"city={data.get('city', '')}&year={year}&district={community.district}&done={community.code}"
    return RedirectResponse(f"/funding?{query}", status_code=303)
