"""``tandem init``: write the default components and configuration into the Tandem home.

The Dapr equivalent installs Redis and Zipkin containers; Tandem needs none: its
default state store and its default pub/sub broker are embedded SQLite files in the
home folder. Every sidecar of the machine opens the same ``pubsub.db``, which is what
lets apps beside different sidecars exchange messages with no broker server.

``--redis`` writes the two Redis components ``dapr init`` writes instead. When a Redis
answers on localhost, plain ``tandem init`` says so, but keeps the embedded default:
what an app gets from ``tandem init`` should not depend on what else runs on the machine.
"""
from __future__ import annotations

import importlib.util
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import click

from ..home import default_components_path, default_config_path, tandem_home

__all__ = ["init", "write_defaults", "Step"]

_STATESTORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: {db}
    - name: actorStateStore
      value: "true"
"""

_PUBSUB = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: {db}
"""

_REDIS_STATESTORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: {host}
  - name: redisPassword
    value: ""
  - name: actorStateStore
    value: "true"
"""

_REDIS_PUBSUB = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - name: redisHost
    value: {host}
  - name: redisPassword
    value: ""
"""

_CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprConfig
spec:
  features: []
"""


@dataclass(frozen=True)
class Step:
    """What ``tandem init`` did to one file: ``created``, ``overwritten`` or ``kept``."""

    path: Path
    action: str


def write_defaults(home: Path, force: bool = False, redis_host: str | None = None) -> list[Step]:
    """Write the default files under ``home`` (Redis ones with ``redis_host``); existing ones kept unless ``force``."""
    components = default_components_path({"TANDEM_HOME": str(home)})
    config = default_config_path({"TANDEM_HOME": str(home)})
    # A JSON string is a valid YAML double-quoted scalar: safe for any path.
    if redis_host:
        host = json.dumps(redis_host)
        files = {components / "statestore.yaml": _REDIS_STATESTORE.format(host=host),
                 components / "pubsub.yaml": _REDIS_PUBSUB.format(host=host), config: _CONFIG}
    else:
        files = {
            components / "statestore.yaml": _STATESTORE.format(db=json.dumps(str(home / "state.db"))),
            components / "pubsub.yaml": _PUBSUB.format(db=json.dumps(str(home / "pubsub.db"))),
            config: _CONFIG,
        }
    steps: list[Step] = []
    for path, text in files.items():
        existed = path.exists()
        if existed and not force:
            steps.append(Step(path, "kept"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        steps.append(Step(path, "overwritten" if existed else "created"))
    return steps


def redis_answers(host: str, timeout: float = 0.3) -> bool:
    """Whether a Redis answers ``PING`` at ``host:port``."""
    name, _, port = host.rpartition(":")
    try:
        with socket.create_connection((name or "localhost", int(port or 6379)), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except (OSError, ValueError):
        return False


def redis_plugin_installed() -> bool:
    return importlib.util.find_spec("tandem_redis") is not None


@click.command()
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--redis", "use_redis", is_flag=True, help="Write Redis components (as `dapr init` does).")
@click.option("--redis-host", default="localhost:6379", show_default=True, help="The Redis for --redis.")
def init(force: bool, use_redis: bool, redis_host: str) -> None:
    """Write the default components and configuration into the Tandem home (~/.tandem or $TANDEM_HOME)."""
    home = tandem_home().resolve()
    if use_redis and not redis_plugin_installed():
        raise click.ClickException("Redis components need the tandem-redis plugin: pip install tandem-redis")
    if use_redis and not redis_answers(redis_host):
        click.echo(f"warning: no Redis answers on {redis_host} yet; the components are written anyway")
    if not use_redis and redis_answers(redis_host):
        click.echo(f"A Redis answers on {redis_host}; keeping the embedded default. "
                   "`tandem init --redis --force` writes Redis components instead.")
    messages = {"created": "created", "overwritten": "overwritten",
                "kept": "already exists, kept (--force replaces it)"}
    for step in write_defaults(home, force, redis_host if use_redis else None):
        click.echo(f"{step.path}: {messages[step.action]}")
    click.echo(f"Tandem is initialised in {home}. Start an app with: tandem run --app-id myapp -- <command>")
