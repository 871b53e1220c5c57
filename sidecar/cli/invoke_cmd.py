"""``tandem invoke --app-id X --method m``: call an app's method, as ``dapr invoke`` does.

Like Dapr's CLI, the call goes through **X's own sidecar** (found in the run folder),
``VERB http://127.0.0.1:<X's port>/v1.0/invoke/X/method/m`` with ``Content-Type:
application/json`` and the data sent raw. The reply's body goes to stdout whatever the
status, so a script can read an app's error too; a non-2xx status exits 1. On success,
as ``dapr invoke`` does, the line ``App invoked successfully`` follows the body.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, NoReturn
from urllib.parse import quote

import click

from ..home import run_dir
from ..instances import live_instances
from ._sidecar_http import sidecar_url

__all__ = ["invoke", "invoke_url", "call"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report an app's 3xx as it is instead of following it to some other server."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> None:
        return None


# The sidecar is local: never route through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def invoke_url(base: str, app_id: str, method: str) -> str:
    """The invocation URL; `method` may carry a query string, kept verbatim as Dapr's CLI does."""
    return f"{base}/v1.0/invoke/{quote(app_id, safe='')}/method/{quote(method.lstrip('/'), safe='/?&=%')}"


def call(verb: str, url: str, data: bytes | None, timeout: float) -> tuple[int, bytes]:
    """One blocking request; returns (status, body) for any status, raises OSError when unreachable."""
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("DAPR_API_TOKEN")
    if token:
        headers["dapr-api-token"] = token
    req = urllib.request.Request(url, data=data, method=verb, headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read()


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.command()
@click.option("--app-id", "-a", required=True, help="The app to call (as shown by `tandem list`).")
@click.option("--method", "-m", required=True, help="The method (path) to call on the app, e.g. neworder.")
@click.option("--verb", "-v", default="POST", show_default=True, help="The HTTP verb.")
@click.option("--data", "-d", help="The request body, sent as is with Content-Type: application/json.")
@click.option("--data-file", "-f", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file whose content is the request body.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the reply.")
def invoke(app_id: str, method: str, verb: str, data: str | None, data_file: Path | None, timeout: float) -> None:
    """Invoke METHOD on a running app through its sidecar; print the reply's body."""
    if data is not None and data_file is not None:
        raise click.UsageError("--data and --data-file are mutually exclusive")
    body = data.encode() if data is not None else data_file.read_bytes() if data_file is not None else None
    instances = live_instances(run_dir(), app_id)
    if not instances:
        _fail(f"no running app with id '{app_id}'; see `tandem list`")
    instance = max(instances, key=lambda i: i.started_at)  # the newest, when one id runs twice
    url = invoke_url(sidecar_url(instance.address, instance.http_port), app_id, method)
    try:
        status, reply = call(verb.upper(), url, body, timeout)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        _fail(f"could not reach the sidecar of app '{app_id}' at {url}: {reason}")
    if reply:
        click.echo(reply, nl=not reply.endswith(b"\n"))  # bytes: written as they are
    if not 200 <= status < 300:
        _fail(_failure(app_id, verb.upper(), method, status, reply))
    click.echo("App invoked successfully")  # the line Dapr's CLI prints (and its quickstart checks look for)


def _failure(app_id: str, verb: str, method: str, status: int, body: bytes) -> str:
    """Tell the sidecar's own invocation error (ERR_DIRECT_INVOKE) from the app's answer."""
    try:
        payload = json.loads(body) if body.lstrip().startswith(b"{") else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("errorCode") == "ERR_DIRECT_INVOKE":
        return f"the sidecar could not invoke app '{app_id}' (HTTP {status}): {payload.get('message', '')}"
    return f"app '{app_id}' answered HTTP {status} to {verb} {method}"
