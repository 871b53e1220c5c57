"""``tandem init``: write the default components and configuration into the Tandem home.

The Dapr equivalent installs Redis and Zipkin containers; Tandem needs none: its
default state store and its default pub/sub broker are embedded SQLite files in the
home folder. Every sidecar of the machine opens the same ``pubsub.db``, which is what
lets apps beside different sidecars exchange messages with no broker server.
"""
from __future__ import annotations

import json
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


def write_defaults(home: Path, force: bool = False) -> list[Step]:
    """Write the default files under ``home``; existing ones are kept unless ``force``."""
    components = default_components_path({"TANDEM_HOME": str(home)})
    config = default_config_path({"TANDEM_HOME": str(home)})
    # A JSON string is a valid YAML double-quoted scalar: safe for any path.
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


@click.command()
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(force: bool) -> None:
    """Write the default components and configuration into the Tandem home (~/.tandem or $TANDEM_HOME)."""
    home = tandem_home().resolve()
    messages = {"created": "created", "overwritten": "overwritten", "kept": "already exists, kept"}
    for step in write_defaults(home, force):
        click.echo(f"{step.path}: {messages[step.action]}")
    click.echo(f"Tandem is initialised in {home}. Start an app with: tandem run --app-id myapp -- <command>")
