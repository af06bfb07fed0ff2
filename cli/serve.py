"""`zhunru serve`: the pages and the HTTP API."""
from __future__ import annotations

import click

from .common import CONTEXT, db_option

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("serve", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every interface; put HTTPS in front of it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--demo", is_flag=True,
              help="Start on a temporary database with example communities, requests and one account per "
                   "role, and print how to log in. Everything is deleted when the server stops.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (PostgreSQL; with SQLite they queue on one file).")
@db_option
def serve(host, port, demo, workers, db_url):
    """Serve the pages (网页) and the JSON API (接口) over HTTP until stopped with Ctrl-C.

    \b
    Pages: 证明查询 /certificates (public), 准入申请 /apply (department), 待审批 /queue
    (district office), 本社区 /community (community worker); log in at /login with an
    account made by `zhunru user add`.
    API (the OpenAPI document is at /openapi.json, a browser for it at /docs), with a token
    from `zhunru user token NAME` as `Authorization: Bearer zr_…`:
      POST /api/v1/evaluate                  one request (JSON) → its decision, logged
      POST /api/v1/certificates/check        {"text": "开一份居住证明", "city": "毕节"}
      GET  /api/v1/queue                     what awaits the district body
      POST /api/v1/decisions/ID/approve      {"note": "…"}  (and /refuse)
      GET  /api/v1/decisions/ID              a logged decision, its funding and the act on it
    Bad input is a 4xx with {"error": {"field", "message"}}; nothing is logged.

    \b
    Examples:
      zhunru serve --demo                    # try every page on example data
      zhunru serve --db log.sqlite --port 8000
      zhunru serve --db postgresql://zhunru@db/zhunru --host 0.0.0.0 --workers 4
    """
    import os
    import tempfile

    import uvicorn

    if demo and db_url:
        raise click.UsageError("--demo makes its own temporary database; leave out --db")
    with tempfile.TemporaryDirectory(prefix="zhunru-demo-") if demo else _nothing() as folder:
        shown = None
        if demo:
            from zhunru.service.demo import build

            db_url = f"sqlite:///{os.path.join(folder, 'demo.sqlite')}"
            shown = build(db_url)
            where = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/login"
            click.echo(f"演示 demo: open {where}")
            click.echo(f"  password for every account: {shown['password']}")
            for a in shown["accounts"]:
                click.echo(f"  {a['name']:<15} {a['role']:<11} {a['scope'] or '-'}")
        if workers > 1:
            _tcp_nodelay()
            # each worker builds its own app from the environment (uvicorn imports the factory)
            os.environ["ZHUNRU_SERVE_DB"] = db_url or ""
            os.environ["ZHUNRU_SERVE_DEMO"] = __import__("json").dumps(shown) if shown else ""
            app = "zhunru.service.app:from_environment"
        else:
            from zhunru.service.app import create_app

            app = create_app(db_url, demo=shown)
            if not shown and not app.state.service.accounts.list():
                click.echo("zhunru: no accounts yet: only the public pages work until you add one, e.g. "
                           "zhunru user add admin --role admin (try zhunru serve --demo for a tour)", err=True)
        click.echo(f"zhunru: serving http://{host}:{port}/ (pages; API under /api/v1/, OpenAPI at "
                   "/openapi.json); Ctrl-C stops", err=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", workers=workers,
                    factory=workers > 1, proxy_headers=True)


def _tcp_nodelay() -> None:
    """With several workers uvicorn binds the listening socket itself, with protocol 0, so asyncio
    does not set TCP_NODELAY on the connections it accepts and every response waits ~40 ms for the
    client's delayed ACK (uvicorn issue #3149; measured: 44 ms a request instead of 0.8 ms). The
    socket is given its TCP protocol before the workers inherit it."""
    import socket

    import uvicorn.config

    bind = uvicorn.config.Config.bind_socket

    def bind_socket(self):
        sock = bind(self)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock

    uvicorn.config.Config.bind_socket = bind_socket


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


COMMANDS = [serve]
