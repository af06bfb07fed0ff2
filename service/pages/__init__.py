"""The pages (server-rendered Chinese HTML; no JavaScript needed): one module per user's job.

    session       登录 / 退出 / the home page for each role
    certificates  证明查询 (public)
    apply         准入申请 and 我的申请 (department)
    batch         批量导入: a spreadsheet or JSON Lines of requests, with progress (department)
    approvals     待审批, a decision's page, approve/refuse, 不予准入告知书 (district body)
    community     本社区 (community worker)
    published     予以公布 (public): the admitted list as a page, CSV and XLSX
    report        社区减负 report with its chart (district office, auditor)
    funding       经费: base funds due against allocations recorded; record one (district office)
    rulesets      规则集: lists, clauses beside their sources, the concordance, diffs (public)

Every form posts its session's CSRF token; `form()` checks it before a route does anything.
"""
from __future__ import annotations

from fastapi import APIRouter

from . import approvals, apply, batch, certificates, community, funding, published, registry, report, rulesets, session
from .common import error_page, form, page

router = APIRouter(include_in_schema=False)
for module in (session, certificates, apply, batch, approvals, community, published, report, rulesets, registry,
               funding):
    router.include_router(module.router)

__all__ = ["router", "page", "form", "error_page"]
