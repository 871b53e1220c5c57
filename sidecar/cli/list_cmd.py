"""``tandem list``: the running sidecars, in ``dapr list``'s columns and JSON keys.

The run folder says which sidecars live and on which ports; each sidecar's metadata
adds what only ``tandem run`` knows (its own pid, the app's pid and command, and for
``tandem run -f`` the run file and log files). A sidecar that does not answer is still
listed with what its registry file says.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import click
import yaml

from ..home import run_dir
from ..instances import Instance, live_instances
from ._sidecar_http import get_metadata, sidecar_url

__all__ = ["list_", "AppRow", "collect", "render_table", "format_age"]

_COLUMNS = ("APP ID", "HTTP PORT", "APP PORT", "COMMAND", "AGE", "CREATED", "DAPRD PID", "CLI PID", "APP PID")


@dataclass(frozen=True)
class AppRow:
    """One running app; 0 stands for "unknown", as in ``dapr list``."""

    app_id: str
    http_port: int
    app_port: int
    command: str
    age: str
    created: str
    daprd_pid: int
    cli_pid: int
    app_pid: int
    run_file: str = ""
    app_log_path: str = ""
    daprd_log_path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "appId": self.app_id, "httpPort": self.http_port, "appPort": self.app_port,
            "command": self.command, "age": self.age, "created": self.created,
            "daprdPid": self.daprd_pid, "cliPid": self.cli_pid, "appPid": self.app_pid,
            "runTemplatePath": self.run_file, "appLogPath": self.app_log_path, "daprdLogPath": self.daprd_log_path,
        }

    def cells(self) -> tuple[str, ...]:
        return tuple(str(v) for v in (
            self.app_id, self.http_port, self.app_port, self.command, self.age, self.created,
            self.daprd_pid, self.cli_pid, self.app_pid,
        ))


def format_age(seconds: float) -> str:
    """Dapr's compact age: ``42s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _pid(extended: dict[str, Any], key: str) -> int:
    try:
        return int(extended.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def _row(instance: Instance, now: float) -> AppRow:
    metadata = get_metadata(sidecar_url(instance.address, instance.http_port)) or {}
    extended = metadata.get("extended")
    extended = extended if isinstance(extended, dict) else {}
    started = instance.started_at or instance.create_time
    return AppRow(
        app_id=instance.app_id,
        http_port=instance.http_port,
        app_port=instance.app_port or 0,
        command=str(extended.get("appCommand") or ""),
        age=format_age(now - started),
        created=time.strftime("%Y-%m-%d %H:%M.%S", time.localtime(started)),
        daprd_pid=instance.pid,
        cli_pid=_pid(extended, "cliPID"),
        app_pid=_pid(extended, "appPID"),
        run_file=instance.run_file or "",
        app_log_path=str(extended.get("appLogPath") or ""),
        daprd_log_path=str(extended.get("daprdLogPath") or ""),
    )


def collect() -> list[AppRow]:
    """Every live sidecar of this Tandem home, its metadata read in parallel."""
    instances = live_instances(run_dir())
    if not instances:
        return []
    now = time.time()
    with ThreadPoolExecutor(max_workers=min(16, len(instances))) as pool:
        rows = list(pool.map(lambda i: _row(i, now), instances))
    return sorted(rows, key=lambda r: (r.app_id, r.daprd_pid))


def render_table(rows: list[AppRow]) -> str:
    table = [_COLUMNS, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table)


@click.command("list")
@click.option("--output", "-o", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True,
              help="Output format.")
def list_(output: str) -> None:
    """List the sidecars running on this machine (for this Tandem home)."""
    rows = collect()
    if output == "json":
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump([r.to_json() for r in rows], sort_keys=False), nl=False)
    elif not rows:
        click.echo("No Tandem instances found.")
    else:
        click.echo(render_table(rows))
