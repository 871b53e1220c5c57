"""``tandem stop --app-id X``: end an app started by ``tandem run`` (or a lone tandemd).

As ``dapr stop`` does, the signal goes to the ``tandem run`` process when there is
one, so it tears down app and sidecar in order; otherwise straight to tandemd.
Then we wait for every process involved (including the app's children) to be gone,
and kill what outlives the timeout.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, field

import click
import psutil

from ..home import run_dir
from ..instances import Instance, live_instances
from ._process import is_alive, signal_group, wait_gone
from ._sidecar_http import get_metadata, sidecar_url

__all__ = ["stop", "Target", "find_target", "stop_target"]


@dataclass
class Target:
    """The processes behind one running sidecar."""

    app_id: str
    sidecar: psutil.Process
    cli: psutil.Process | None = None
    app: list[psutil.Process] = field(default_factory=list)

    @property
    def everything(self) -> list[psutil.Process]:
        return [p for p in (self.cli, self.sidecar, *self.app) if p is not None]


def _pid(extended: dict[str, object], key: str) -> int:
    try:
        return int(str(extended.get(key) or 0))
    except ValueError:
        return 0


def find_target(instance: Instance) -> Target | None:
    """Who to signal for ``instance``; pids from metadata are trusted only if they are the sidecar's parent/sibling."""
    try:
        sidecar = psutil.Process(instance.pid)
        target = Target(instance.app_id, sidecar)
        metadata = get_metadata(sidecar_url(instance.address, instance.http_port)) or {}
        extended = metadata.get("extended")
        extended = extended if isinstance(extended, dict) else {}
        cli_pid = _pid(extended, "cliPID")
        # A recorded pid may have been reused by now: the real CLI is the sidecar's parent.
        if cli_pid and sidecar.ppid() == cli_pid:
            target.cli = psutil.Process(cli_pid)
            app_pid = _pid(extended, "appPID")
            try:
                app = psutil.Process(app_pid) if app_pid else None
                if app is not None and app.ppid() == cli_pid:
                    target.app = [app, *app.children(recursive=True)]
            except psutil.Error:
                pass
        return target
    except psutil.Error:
        return None


def stop_target(target: Target, timeout: float) -> bool:
    """SIGTERM the CLI (else the sidecar), wait for all; SIGKILL leftovers. True if all went in time."""
    first = target.cli or target.sidecar
    try:
        first.send_signal(signal.SIGTERM)
    except psutil.Error:
        pass
    left = wait_gone(target.everything, timeout)
    if not left:
        return True
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            pass
    if target.app:
        signal_group(target.app[0].pid, signal.SIGKILL)
    wait_gone(left, 5.0)
    return False


@click.command()
@click.option("--app-id", "-a", "app_ids", multiple=True, required=True, help="The app to stop; repeatable.")
@click.option("--timeout", type=float, default=20.0, show_default=True,
              help="Seconds to wait for a graceful stop before killing.")
def stop(app_ids: tuple[str, ...], timeout: float) -> None:
    """Stop running apps and their sidecars."""
    missing: list[str] = []
    survivors: list[str] = []
    for app_id in dict.fromkeys(app_ids):
        targets = [t for t in map(find_target, live_instances(run_dir(), app_id)) if t is not None]
        if not targets:
            missing.append(app_id)
            continue
        for target in targets:
            graceful = stop_target(target, timeout)
            how = "stopped" if graceful else f"killed (still running after {timeout:g}s)"
            click.echo(f"app '{app_id}' {how}: sidecar pid {target.sidecar.pid}"
                       + (f", cli pid {target.cli.pid}" if target.cli else ""))
            survivors += [f"{app_id} (pid {p.pid})" for p in target.everything if is_alive(p)]
    problems = []
    if missing:
        names = ", ".join(f"'{a}'" for a in missing)
        problems.append(f"no running Tandem app with id {names} (see `tandem list`)")
    if survivors:
        problems.append("could not stop " + ", ".join(survivors))
    if problems:
        raise click.ClickException("; ".join(problems))
