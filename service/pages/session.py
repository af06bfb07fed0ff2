"""登录, 退出 and the home page: what each role can do from here."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from zhunru.errors import InputError
from zhunru.office.accounts import ROLE_NAMES, LockedOut

from ..auth import COOKIE, caller
from .common import form, page, state

router = APIRouter()
HOME = {"admin": "/queue", "approver": "/queue", "auditor": "/queue", "department": "/apply", "community": "/community"}


def _next(target: str | None, role: str) -> str:
    # only a path on this site: never an open redirect
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME.get(role, "/")


@router.get("/")
def home(request: Request):
    return page(request, "home.html.j2", roles=ROLE_NAMES)


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    return page(request, "login.html.j2", next=next or "", problem=None)


@router.post("/login")
async def login(request: Request):
    data = await request.form()
    name, password = str(data.get("name") or ""), str(data.get("password") or "")
    target = str(data.get("next") or "")
    address = request.client.host if request.client else "?"
    service = state(request)
    if service.limiter.blocked(address):
        return page(request, "login.html.j2", status=429, next=target, name=name,
                    problem="尝试次数过多,请15分钟后再试。")
    try:
        account = service.accounts.authenticate(name, password)
    except LockedOut:
        return page(request, "login.html.j2", status=429, next=target, name=name,
                    problem="该账号连续输错密码,已暂时锁定15分钟。")
    except InputError:
        service.limiter.failed(address)
        return page(request, "login.html.j2", status=401, next=target, name=name, problem="账号或密码不正确。")
    secret, _csrf = service.accounts.start_session(account)
    response = RedirectResponse(_next(target, account.role), status_code=303)
    response.set_cookie(COOKIE, secret, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=8 * 3600, path="/")
    return response


@router.post("/logout")
async def logout(request: Request):
    await form(request)
    if caller(request, state(request).accounts).account:
        state(request).accounts.end_session(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
