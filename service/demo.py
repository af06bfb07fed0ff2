"""`zhunru serve --demo`: a throwaway database with example communities, one account per role and
a few requests already decided, so a newcomer sees every page a minute after installing.

The database lives in a temporary directory removed when the server stops; the accounts'
password is made up at start and printed (and shown on the login page): none of it is a
default that could reach a real installation.
"""
from __future__ import annotations

import datetime as dt
import secrets

COMMUNITIES = [  # name, code, district, street, population, households
    ("洪山社区", "QX-001", "七星关区", "市西街道", 8200, 2900),
    ("南关社区", "QX-002", "七星关区", "市西街道", 5100, 1750),
    ("东门社区", "QX-003", "七星关区", "市东街道", 3333, 1111),
    ("碧阳社区", "QX-004", "七星关区", "市东街道", 6100, 2050),
    ("翠屏社区", "DF-001", "大方县", "顺德街道", 4200, 1500),
]
ACCOUNTS = [  # name, role, scope, display
    ("admin", "admin", None, "系统管理员"),
    ("qxg-office", "approver", "七星关区", "七星关区社区办 张三"),
    ("df-office", "approver", "大方县", "大方县社区办 王五"),
    ("qxg-emergency", "department", "七星关区应急管理局", "七星关区应急管理局 李四"),
    ("hongshan", "community", "QX-001", "洪山社区居委会 赵六"),
    ("auditor", "auditor", None, "审计 孙七"),
]
DEPARTMENT = {"name": "七星关区应急管理局", "level": "district", "role": "department"}


def requests(today: dt.date) -> list[dict]:
    """What the queue, the community page and the notices show at first. The city is Bijie, whose
    rules are in annexes marked 征求意见稿: every decision here is advisory, so nothing is in effect
    (published, counted) until the district office approves it. Its lists are partial, so the
    unfunded 入户经济普查 waits in the queue too, with the unfunded notice (the community need not
    take it on meanwhile); the plate is admitted, advisory."""
    day = today.isoformat()
    return [
        {"id": "demo-001", "city": "bijie", "date": day, "department": DEPARTMENT, "kind": "task",
         "matter": "社区应急演练组织", "communities": [{"name": "all", "street": "市西街道"}],
         "funding": {"amount": 30000, "source": "区财政", "document": "七财发〔2026〕21号"}},
        {"id": "demo-002", "city": "bijie", "date": day, "department": DEPARTMENT, "kind": "task",
         "matter": "社区消防设施巡查", "communities": [{"code": "QX-003", "name": "东门社区"}],
         "funding": {"amount": 12000, "source": "区财政", "document": "七财发〔2026〕22号"}},
        {"id": "demo-003", "city": "bijie", "date": day, "department": DEPARTMENT, "kind": "task",
         "matter": "入户经济普查", "communities": [{"name": "all", "district": "七星关区"}]},
        {"id": "demo-004", "city": "bijie", "date": day, "department": DEPARTMENT, "kind": "nameplate",
         "matter": "社区居委会牌子", "communities": [{"code": "QX-001", "name": "洪山社区"}]},
        {"id": "demo-005", "city": "bijie", "date": day, "department": {**DEPARTMENT, "name": "大方县民政局"},
         "kind": "task", "matter": "社区养老服务信息采集", "communities": [{"code": "DF-001", "name": "翠屏社区"}],
         "funding": {"amount": 8000, "source": "县财政", "document": "大财发〔2026〕5号"}},
    ]


def build(db_url: str) -> dict:
    """Fill the empty database at `db_url`; what the login page shows about it."""
    from zhunru.app import Zhunru
    from zhunru.office.accounts import ROLE_NAMES, Accounts
    from zhunru.office.registry import COLUMNS, CommunityRegistry
    from zhunru.office.workdays import today_in_china

    password = "demo-" + secrets.token_hex(4)
    with Zhunru(db=db_url) as zhunru:
        registry = CommunityRegistry(zhunru.log)
        registry.import_rows([dict(zip(COLUMNS, row)) for row in COMMUNITIES])
        accounts = Accounts(zhunru.log)
        for name, role, scope, display in ACCOUNTS:
            accounts.add(name, role, password, scope=scope, display=display)
        list(zhunru.decide(requests(today_in_china())))
    return {"password": password,
            "accounts": [{"name": n, "role": r, "role_label": ROLE_NAMES[r], "scope": s} for n, r, s, _ in ACCOUNTS]}
