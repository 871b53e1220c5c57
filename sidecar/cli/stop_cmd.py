"""``tandem stop --app-id X`` / ``tandem stop -f FILE``: end apps started by ``tandem run``.

As ``dapr stop`` does, the signal goes to the ``tandem run`` process when it runs that
one app only, so it tears down app and sidecar in order; otherwise straight to tandemd.
A ``tandem run -f`` process runs many apps: ``--app-id`` then stops that app's sidecars
(the run stops their apps and does not restart them), while ``-f`` signals the run
itself. Then we wait for every process involved (including the apps' children) to be
gone, and kill what outlives the timeout.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import click
import psutil

from ..home import run_dir
from ..instances import Instance, live_instances
from ._process import is_alive, signal_group, wait_gone
from ._sidecar_http import get_metadata, sidecar_url
from .runfile import RunFileError, find_run_file

__all__ = ["stop", "Target", "find_target", "stop_target", "run_file_targets"]


@dataclass
class Target:
    """The processes behind one running sidecar."""

    app_id: str
    sidecar: psutil.Process
    cli: psutil.Process | None = None
    app: list[psutil.Process] = field(default_factory=list)
    #: The ``tandem run`` also runs other apps (``-f``): stopping this one must not signal it.
    shared_cli: bool = False

    @property
    def first(self) -> psutil.Process:
        """Who gets SIGTERM."""
        return self.sidecar if self.shared_cli or self.cli is None else self.cli

    @property
    def everything(self) -> list[psutil.Process]:
        cli = None if self.shared_cli else self.cli
        return [p for p in (cli, self.sidecar, *self.app) if p is not None]


def _pid(extended: dict[str, object], key: str) -> int:
    try:
        return int(str(extended.get(key) or 0))
    except ValueError:
        return 0


def find_target(instance: Instance) -> Target | None:
    """Who to signal for ``instance``; pids from metadata are trusted only if they are the sidecar's parent/sibling."""
    try:
        sidecar = psutil.Process(instance.pid)
        target = Target(instance.app_id, sidecar, shared_cli=instance.run_file is not None)
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


def _kill_leftovers(targets: list[Target], left: list[psutil.Process]) -> None:
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            pass
    for target in targets:
        if target.app:
            signal_group(target.app[0].pid, signal.SIGKILL)
    wait_gone(left, 5.0)


def stop_target(target: Target, timeout: float) -> bool:
    """SIGTERM the CLI (else the sidecar), wait for all; SIGKILL leftovers. True if all went in time."""
    try:
        target.first.send_signal(signal.SIGTERM)
    except psutil.Error:
        pass
    left = wait_gone(target.everything, timeout)
    if left:
        _kill_leftovers([target], left)
    return not left


def run_file_targets(given: str) -> tuple[Path, list[Target]]:
    """The run file's absolute path, and the sidecars (with their apps) that ``tandem run -f`` started from it."""
    try:
        path = find_run_file(given)
    except RunFileError:
        path = Path(given).expanduser().absolute()  # gone since: the sidecars still know their file's path
    instances = [i for i in live_instances(run_dir()) if i.run_file is not None and Path(i.run_file) == path]
    return path, [t for t in map(find_target, instances) if t is not None]


def _stop_run_file(given: str, timeout: float) -> None:
    path, targets = run_file_targets(given)
    if not targets:
        raise click.ClickException(f"no app started from {path} is running (see `tandem list`)")
    runs = {t.cli.pid: t.cli for t in targets if t.cli is not None}
    for proc in runs.values() or [t.sidecar for t in targets]:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    everything = [*runs.values(), *(p for t in targets for p in t.everything)]
    left = wait_gone(everything, timeout)
    if left:
        _kill_leftovers(targets, left)
    apps = sorted({t.app_id for t in targets})
    how = "stopped" if not left else f"killed (still running after {timeout:g}s)"
    click.echo(f"{path}: {how}: {len(targets)} sidecar(s) of {', '.join(apps)}")
    survivors = [f"pid {p.pid}" for p in everything if is_alive(p)]
    if survivors:
        raise click.ClickException("could not stop " + ", ".join(survivors))


@click.command()
@click.option("--app-id", "-a", "app_ids", multiple=True, help="The app to stop; repeatable.")
@click.option("--run-file", "-f", help="Stop every app started from this run file (or folder).")
@click.option("--timeout", type=float, default=20.0, show_default=True,
              help="Seconds to wait for a graceful stop before killing.")
def stop(app_ids: tuple[str, ...], run_file: str | None, timeout: float) -> None:
    """Stop running apps and their sidecars."""
    if not app_ids and run_file is None:
        raise click.UsageError("say what to stop: --app-id <id> (repeatable) or -f <run file>")
    if run_file is not None:
        _stop_run_file(run_file, timeout)
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
                       + (f", cli pid {target.cli.pid}" if target.cli and not target.shared_cli else ""))
            survivors += [f"{app_id} (pid {p.pid})" for p in target.everything if is_alive(p)]
    problems = []
    if missing:
        names = ", ".join(f"'{a}'" for a in missing)
        problems.append(f"no running Tandem app with id {names} (see `tandem list`)")
    if survivors:
        problems.append("could not stop " + ", ".join(survivors))
    if problems:
        raise click.ClickException("; ".join(problems))
