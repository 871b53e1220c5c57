"""``tandem publish --publish-app-id X --pubsub P --topic T``: publish an event, as ``dapr publish`` does.

Like Dapr's CLI, the event goes through **X's own sidecar** (found in the run folder), so
it is published with X's identity and scopes: ``POST http://127.0.0.1:<X's port>/v1.0/
publish/P/T?metadata.k=v``. The payload is sent as is; its content type is
``application/cloudevents+json`` when it is a JSON object with ``id``, ``source``,
``specversion``, ``type`` and ``data`` (the sidecar then keeps that envelope), else
``application/json``. A non-2xx answer prints the sidecar's error and exits 1.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import click

from ..home import run_dir
from ..instances import live_instances
from ._sidecar_http import sidecar_url

__all__ = ["publish", "publish_url", "content_type_for"]

_CLOUDEVENT_KEYS = ("id", "source", "specversion", "type", "data")

# The sidecar is local: never route through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def publish_url(base: str, pubsub: str, topic: str, metadata: dict[str, str]) -> str:
    """The publish URL; the topic may hold ``/`` (the rest of the path is the topic)."""
    url = f"{base}/v1.0/publish/{quote(pubsub, safe='')}/{quote(topic, safe='/')}"
    if metadata:
        url += "?" + urlencode([(f"metadata.{k}", v) for k, v in sorted(metadata.items())])
    return url


def content_type_for(payload: bytes) -> str:
    """Dapr's CLI rule: a JSON object with every CloudEvent core key is sent as a CloudEvent."""
    try:
        doc = json.loads(payload) if payload else None
    except ValueError:
        return "application/json"
    if isinstance(doc, dict) and all(key in doc for key in _CLOUDEVENT_KEYS):
        return "application/cloudevents+json"
    return "application/json"


def _post(url: str, payload: bytes, content_type: str, timeout: float) -> tuple[int, bytes]:
    """One blocking POST; (status, body) for any status, OSError when the sidecar is unreachable."""
    headers = {"Content-Type": content_type}
    token = os.environ.get("DAPR_API_TOKEN")
    if token:
        headers["dapr-api-token"] = token
    req = urllib.request.Request(url, data=payload, method="POST", headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read()


def _metadata(text: str | None) -> dict[str, str]:
    """``--metadata '{"ttlInSeconds": 10}'`` → ``{"ttlInSeconds": "10"}`` (query values are strings)."""
    if text is None:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--metadata") from None
    if not isinstance(doc, dict):
        raise click.BadParameter('expected a JSON object, e.g. {"ttlInSeconds": 60}', param_hint="--metadata")
    return {str(k): _scalar(v) for k, v in doc.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true/false/numbers as JSON spells them, as Dapr's CLI does


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.command()
@click.option("--publish-app-id", "-i", "app_id", required=True,
              help="The app whose sidecar publishes the event (as shown by `tandem list`).")
@click.option("--pubsub", "-p", required=True, help="The pub/sub component's name.")
@click.option("--topic", "-t", required=True, help="The topic to publish to.")
@click.option("--data", "-d", help="The event's payload, usually JSON.")
@click.option("--data-file", "-f", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file whose content is the event's payload.")
@click.option("--metadata", "-m", help='Publish metadata as a JSON object, e.g. {"ttlInSeconds": 60}.')
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the sidecar.")
def publish(app_id: str, pubsub: str, topic: str, data: str | None, data_file: Path | None,
            metadata: str | None, timeout: float) -> None:
    """Publish an event to TOPIC on PUBSUB through the sidecar of a running app."""
    if data is not None and data_file is not None:
        raise click.UsageError("--data and --data-file are mutually exclusive")
    if not pubsub.strip() or not topic.strip():
        raise click.UsageError("--pubsub and --topic must not be empty")
    meta = _metadata(metadata)
    payload = data.encode() if data is not None else data_file.read_bytes() if data_file is not None else b""
    instances = live_instances(run_dir(), app_id)
    if not instances:
        _fail(f"no running app with id '{app_id}'; see `tandem list`")
    instance = max(instances, key=lambda i: i.started_at)  # the newest, when one id runs twice
    url = publish_url(sidecar_url(instance.address, instance.http_port), pubsub, topic, meta)
    try:
        status, reply = _post(url, payload, content_type_for(payload), timeout)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        _fail(f"could not reach the sidecar of app '{app_id}' at {url}: {reason}")
    if not 200 <= status < 300:
        _fail(f"publishing to topic '{topic}' of pub/sub '{pubsub}' failed: {_describe(status, reply)}")
    click.echo("Event published successfully")


def _describe(status: int, body: bytes) -> str:
    """``HTTP 404 ERR_PUBSUB_NOT_FOUND: ...`` from Dapr's error body, or the raw text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text) if text.startswith("{") else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("errorCode"), str):
        return f"HTTP {status} {doc['errorCode']}: {doc.get('message', '')}".rstrip(": ")
    return f"HTTP {status} {text}".rstrip()
