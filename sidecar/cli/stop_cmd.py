"""``tandem stop --app-id X`` / ``tandem stop -f FILE``: end apps started by ``tandem run``.

As ``dapr stop`` does, the signal goes to the ``tandem run`` process when it runs that
one app only, so it tears down app and sidecar in order; otherwise straight to tandemd.
A ``tandem run -f`` process runs many apps: ``--app-id`` then stops that app's sidecars
(the run stops their apps and does not restart them), while ``-f`` signals the run
itself. When the ``tandem run`` is gone, the app's process group (recorded in the run
folder) and the sidecar are signalled directly. Then we wait for every process
involved (the app's whole group too) to be gone, kill what outlives the timeout, and
report what ended: never "stopped" while one of them still runs.
"""
from __future__ import annotations

import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click
import psutil

from ..home import run_dir
from ..instances import Instance, live_instances, recorded_app
from ..procgroup import members, signal_group
from ..supervision import SUPERVISOR_ENV
from ._process import is_alive
from ._sidecar_http import get_metadata, sidecar_url
from .runfile import RunFileError, find_run_file

__all__ = ["stop", "Target", "find_target", "stop_target", "run_file_targets"]


@dataclass
class Target:
    """The processes behind one running sidecar."""

    app_id: str
    sidecar: psutil.Process
    cli: psutil.Process | None = None
    #: The app's process group (its leader's pid), when known; its members when found.
    app_group: int | None = None
    app: list[psutil.Process] = field(default_factory=list)
    #: The ``tandem run`` also runs other apps (``-f``): stopping this one must not signal it.
    shared_cli: bool = False

    @property
    def own_cli(self) -> psutil.Process | None:
        """The ``tandem run`` to signal: alive and running this app only."""
        return None if self.shared_cli or self.cli is None or not is_alive(self.cli) else self.cli

    @property
    def everything(self) -> list[psutil.Process]:
        return [p for p in (self.own_cli, self.sidecar, *self.app) if p is not None]

    def describe(self) -> str:
        """``app pid 12 (+1 more in its process group), sidecar pid 10, cli pid 9``."""
        parts = []
        if self.app_group is not None and self.app:
            others = len([p for p in self.app if p.pid != self.app_group])
            leader = "app pid" if any(p.pid == self.app_group for p in self.app) else "the process group of app pid"
            parts.append(f"{leader} {self.app_group}" + (f" (+{others} more in its process group)" if others else ""))
        parts.append(f"sidecar pid {self.sidecar.pid}")
        if self.own_cli is not None:
            parts.append(f"cli pid {self.own_cli.pid}")
        return ", ".join(parts)


def _pid(extended: dict[str, object], key: str) -> int:
    try:
        return int(str(extended.get(key) or 0))
    except ValueError:
        return 0


def _supervisor(sidecar: psutil.Process) -> psutil.Process | None:
    """The ``tandem run`` that started ``sidecar``, if it still runs (it is then the sidecar's parent)."""
    try:
        pid = int(sidecar.environ().get(SUPERVISOR_ENV, "0"))
    except (psutil.Error, ValueError):
        return None
    try:
        return psutil.Process(pid) if pid and sidecar.ppid() == pid else None
    except psutil.Error:
        return None


def find_target(instance: Instance) -> Target | None:
    """Who to signal for ``instance``: its ``tandem run`` (if alive) and its app's process group.

    The app comes from the run folder's record (written by ``tandem run``, checked
    against pid reuse), else from the sidecar's metadata, trusted only while the
    ``tandem run`` named there is the parent of both.
    """
    try:
        sidecar = psutil.Process(instance.pid)
        target = Target(instance.app_id, sidecar, shared_cli=instance.run_file is not None)
        target.cli = _supervisor(sidecar)
        group = recorded_app(run_dir(), instance.pid)
        if group is not None:
            target.app_group = group.pid
        else:
            _from_metadata(target, instance)
        if target.app_group is not None:
            target.app = members(target.app_group)
        return target
    except psutil.Error:
        return None


def _from_metadata(target: Target, instance: Instance) -> None:
    """Older runs: the pids ``tandem run`` stored in the sidecar's metadata."""
    metadata = get_metadata(sidecar_url(instance.address, instance.http_port)) or {}
    extended = metadata.get("extended")
    extended = extended if isinstance(extended, dict) else {}
    cli_pid, app_pid = _pid(extended, "cliPID"), _pid(extended, "appPID")
    try:
        if cli_pid and target.sidecar.ppid() == cli_pid:
            target.cli = psutil.Process(cli_pid)
            if app_pid and psutil.Process(app_pid).ppid() == cli_pid:
                target.app_group = app_pid
    except psutil.Error:
        pass


def _signal(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def _begin(target: Target) -> None:
    """SIGTERM the app's ``tandem run`` (it stops the app, then the sidecar).

    A run of many apps gets no signal: the sidecar does, and the run stops its app.
    With the run gone, the app's process group and the sidecar are signalled here.
    """
    cli = target.cli if target.cli is not None and is_alive(target.cli) else None
    if cli is not None and not target.shared_cli:
        _signal([cli], signal.SIGTERM)
        return
    if cli is None and target.app_group is not None:
        signal_group(target.app_group, signal.SIGTERM)
        signal_group(target.app_group, signal.SIGCONT)  # a stopped process acts on SIGTERM only once it runs
    _signal([target.sidecar], signal.SIGTERM)
    _signal([target.sidecar], signal.SIGCONT)


def _still_running(procs: list[psutil.Process], groups: list[int]) -> list[psutil.Process]:
    left = {p.pid: p for p in procs if is_alive(p)}
    for pgid in groups:
        left.update((p.pid, p) for p in members(pgid))
    return list(left.values())


def _wait_all(procs: list[psutil.Process], groups: list[int], timeout: float) -> list[psutil.Process]:
    """Wait for the processes and every member of the groups to be gone; returns those still alive."""
    deadline = time.monotonic() + timeout
    while (left := _still_running(procs, groups)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _end(targets: list[Target], first: list[psutil.Process], timeout: float) -> tuple[bool, list[psutil.Process]]:
    """Wait up to ``timeout`` for everything of ``targets`` to end, then SIGKILL the rest.

    Returns (graceful, survivors): ``graceful`` if nothing needed SIGKILL.
    """
    procs = [*first, *(p for t in targets for p in t.everything)]
    groups = [t.app_group for t in targets if t.app_group is not None]
    left = _wait_all(procs, groups, timeout)
    if not left:
        return True, []
    _signal(left, signal.SIGKILL)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)
    return False, _wait_all(procs, groups, 5.0)


def stop_target(target: Target, timeout: float) -> tuple[bool, list[psutil.Process]]:
    """Stop one sidecar and its app; (graceful, survivors) as :func:`_end`."""
    _begin(target)
    return _end([target], [], timeout)


def run_file_targets(given: str) -> tuple[Path, list[Target]]:
    """The run file's absolute path, and the sidecars (with their apps) that ``tandem run -f`` started from it."""
    try:
        path = find_run_file(given)
    except RunFileError:
        path = Path(given).expanduser().absolute()  # gone since: the sidecars still know their file's path
    instances = [i for i in live_instances(run_dir()) if i.run_file is not None and Path(i.run_file) == path]
    return path, [t for t in map(find_target, instances) if t is not None]


def _stop_run_file(given: str, timeout: float) -> list[str]:
    """Stop what ``tandem run -f`` started from a file; returns the survivors' descriptions."""
    path, targets = run_file_targets(given)
    if not targets:
        raise click.ClickException(f"no app started from {path} is running (see `tandem list`)")
    runs = {t.cli.pid: t.cli for t in targets if t.cli is not None and is_alive(t.cli)}
    if runs:
        _signal(runs.values(), signal.SIGTERM)  # each run stops its apps, then their sidecars
    for target in targets:
        if target.cli is None or target.cli.pid not in runs:  # its run is gone: end the app and sidecar here
            _begin(target)
    graceful, left = _end(targets, list(runs.values()), timeout)
    apps = sorted({t.app_id for t in targets})
    how = "stopped" if graceful else f"killed (still running after {timeout:g}s)"
    click.echo(f"{path}: {how}: {len(targets)} sidecar(s) of {', '.join(apps)}")
    if not left:
        for app_id in apps:
            click.echo(f"app stopped successfully: {app_id}")
    return [f"pid {p.pid}" for p in left]


@click.command()
@click.option("--app-id", "-a", "app_ids", multiple=True, help="The app to stop; repeatable.")
@click.option("--run-file", "-f", help="Stop every app started from this run file (or folder).")
@click.option("--timeout", type=float, default=20.0, show_default=True,
              help="Seconds to wait for a graceful stop before killing.")
def stop(app_ids: tuple[str, ...], run_file: str | None, timeout: float) -> None:
    """Stop running apps and their sidecars."""
    if not app_ids and run_file is None:
        raise click.UsageError("say what to stop: --app-id <id> (repeatable) or -f <run file>")
    survivors: list[str] = []
    if run_file is not None:
        survivors += _stop_run_file(run_file, timeout)
    missing: list[str] = []
    for app_id in dict.fromkeys(app_ids):
        targets = [t for t in map(find_target, live_instances(run_dir(), app_id)) if t is not None]
        if not targets:
            missing.append(app_id)
            continue
        left = []
        for target in targets:
            what = target.describe()
            graceful, left_here = stop_target(target, timeout)
            how = "stopped" if graceful else f"killed (still running after {timeout:g}s)"
            click.echo(f"app '{app_id}' {how}: {what}")
            left += left_here
        if left:
            survivors += [f"{app_id} (pid {p.pid})" for p in left]
        else:
            click.echo(f"app stopped successfully: {app_id}")  # the line Dapr's CLI prints
    problems = []
    if missing:
        names = ", ".join(f"'{a}'" for a in missing)
        problems.append(f"no running Tandem app with id {names} (see `tandem list`)")
    if survivors:
        problems.append("could not stop " + ", ".join(survivors))
    if problems:
        raise click.ClickException("; ".join(problems))
