"""`zhunru serve`: the HTTP API."""
from __future__ import annotations

import click

from .common import CONTEXT, db_option


@click.command("serve", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. This first version has no accounts: keep it on localhost.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@db_option
def serve(host, port, db_url):
    """Serve the JSON API (接口) over HTTP until stopped with Ctrl-C.

    \b
    Endpoints (the OpenAPI document is at /openapi.json, a browser for it at /docs):
      POST /api/v1/evaluate               one request (JSON) → its decision, logged
      POST /api/v1/certificates/check     {"text": "开一份居住证明", "city": "毕节"}
      GET  /api/v1/decisions/ID           a logged decision, its funding and the act on it
      GET  /api/v1/queue                  what awaits the district body
      GET  /api/v1/log/verify             the hash chain checked
    Bad input is a 4xx with {"error": {"field", "message"}}; nothing is logged.

    \b
    Example:
      zhunru serve --db log.sqlite --port 8000
      curl -s localhost:8000/api/v1/evaluate -d @examples/requests/task-assist.json
    """
    import uvicorn

    from zhunru.service.app import create_app

    app = create_app(db_url)
    click.echo(f"zhunru: serving http://{host}:{port}/ (API under /api/v1/, OpenAPI at /openapi.json); "
               "Ctrl-C stops", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = [serve]
