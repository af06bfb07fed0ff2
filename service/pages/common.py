"""What every page uses: rendering with the caller, forms checked for CSRF, error pages."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from zhunru.errors import InputError

from ..auth import Unauthenticated, caller, check_csrf

MAX_FORM = 2 * 1024 * 1024  # a form with an attached file; more is refused before it is read


def state(request: Request):
    return request.app.state.service


def page(request: Request, template: str, status: int = 200, **values) -> HTMLResponse:
    """Render `template` with the caller (`me`), its CSRF token and `values`."""
    who = caller(request, state(request).accounts)
    return state(request).templates.TemplateResponse(
        request, template, {"me": who.account, "csrf": who.csrf or "", "demo": state(request).demo, **values},
        status_code=status)


def error_page(request: Request, status: int, exc: InputError) -> HTMLResponse:
    if isinstance(exc, Unauthenticated) and request.method == "GET":
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    try:
        return page(request, "error.html.j2", status=status, status_code=status, message=str(exc))
    except InputError:  # the caller itself could not be read (a bad token): a bare page
        return HTMLResponse(f"<p>{status}</p>", status_code=status)


async def form(request: Request) -> dict[str, str]:
    """The posted form's text fields, after its CSRF token is checked (403 otherwise)."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_FORM:
        raise InputError(f"form: {length} bytes, over the limit of {MAX_FORM}")
    data = await request.form()
    fields = {k: v for k, v in data.multi_items() if isinstance(v, str)}
    check_csrf(request, state(request).accounts, fields.get("csrf"))
    return fields
