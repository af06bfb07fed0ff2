"""Rules of the shipped cities that their ruleset data cannot say, given through the same hook a
third-party city uses (`zhunru_city_rules`, registered by zhunru.plugins.shipped).

Chengyang (城阳街道, seed 003 part (c) 四(一)): 办事处为每个社区购买的服务项目每个最高不得超过20万元.
The format has lists, caps on counts and funding floors, not a ceiling on what one purchased
project may cost, so the ceiling is a rule here; the sentence itself is the ruleset's clause
CY-SP-01, and the rule acts only where the deciding version has that clause. A request says a
task is such a project with `service_purchase.amount_per_community` (zhunru.models.ServicePurchase).
The same part's 办事处每年为每个社区购买服务项目不少于2个 is a floor on what the office buys in a year:
no single request can break it, so it is not a rule of a decision (see the city's concordance).
"""
from __future__ import annotations

from decimal import Decimal

PURCHASE_CAP_CLAUSE = "CY-SP-01"
PURCHASE_CAP = Decimal(200000)  # 20万元 per project and community, as CY-SP-01 quotes


def purchase_cap(request, decision, city):
    """A purchased service project over 200,000 yuan per community is refused (CY-SP-01)."""
    purchase = request.service_purchase
    if purchase is None or city.clause(PURCHASE_CAP_CLAUSE) is None:
        return None
    if purchase.amount_per_community <= PURCHASE_CAP:
        return None
    return [{"code": "PURCHASE_OVER_CAP", "clause": PURCHASE_CAP_CLAUSE, "outcome": "rejected",
             "values": {"amount": str(purchase.amount_per_community), "cap": str(PURCHASE_CAP)}}]


RULES = {"chengyang": [purchase_cap]}
