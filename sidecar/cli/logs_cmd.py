"""``tandem logs --app-id X``: the log files of an app started by ``tandem run -f``.

Where they are: a running sidecar of X says so in its metadata (``appLogPath``,
``daprdLogPath``); otherwise the run file (``-f``, or ``tandem.yaml``/``dapr.yaml`` in
the current folder) gives X's folder, and the newest run's files there are read.
With replicas, each line is prefixed by the replica's label, as on the console.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..home import run_dir
from ..instances import live_instances
from ._sidecar_http import get_metadata, sidecar_url
from .logfiles import LogFile, newest_logs, tail
from .runfile import RunFileError, find_run_file, load_run_file

__all__ = ["logs", "find_logs"]


def _from_running(app_id: str, key: str) -> tuple[list[LogFile], bool]:
    """The files the running sidecars of ``app_id`` name, and whether any sidecar of it runs at all."""
    instances = live_instances(run_dir(), app_id)
    found: list[LogFile] = []
    for instance in instances:
        extended = (get_metadata(sidecar_url(instance.address, instance.http_port)) or {}).get("extended")
        if not isinstance(extended, dict):
            continue
        path = extended.get(key)
        if path:
            replica = str(extended.get("replica") or "")
            several = len(instances) > 1
            found.append(LogFile(f"{app_id}-{replica}" if several and replica else app_id, Path(str(path))))
    return sorted(found, key=lambda f: f.label), bool(instances)


def find_logs(app_id: str, sidecar: bool, run_file: str | None) -> list[LogFile]:
    """The log files to show; raises ClickException saying why there are none."""
    found, running = _from_running(app_id, "daprdLogPath" if sidecar else "appLogPath")
    if found:
        return found
    given = run_file
    if given is None:
        given = next((n for n in ("tandem.yaml", "tandem.yml", "dapr.yaml", "dapr.yml") if Path(n).is_file()), None)
    if given is not None:
        try:
            spec = load_run_file(given).app(app_id)
        except RunFileError as exc:
            raise click.ClickException(str(exc)) from None
        if spec is not None:
            files = newest_logs(spec.log_dir, app_id, "tandemd" if sidecar else "app")
            if files:
                return files
            raise click.ClickException(f"no log files of app '{app_id}' in {spec.log_dir} yet")
        if run_file is not None:
            raise click.ClickException(f"no app with id '{app_id}' in {find_run_file(given)}")
    if running:
        raise click.ClickException(f"app '{app_id}' runs, but not from a run file: its output goes to the "
                                   "terminal of its `tandem run`")
    raise click.ClickException(f"no log files for app '{app_id}': it is not running from a run file "
                               "(`tandem run -f`), and no run file here names it (try -f <run file>)")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _follow(files: list[LogFile], several: bool, offsets: dict[Path, int]) -> None:
    """Print what is appended to the files after ``offsets`` until interrupted."""
    pending = {f.path: b"" for f in files}
    while True:
        for f in files:
            try:
                size = f.path.stat().st_size
            except OSError:
                continue
            if size < offsets[f.path]:
                offsets[f.path] = 0  # truncated or replaced: start over
            if size == offsets[f.path]:
                continue
            with open(f.path, "rb") as handle:
                handle.seek(offsets[f.path])
                data = pending[f.path] + handle.read(size - offsets[f.path])
            offsets[f.path] = size
            *lines, pending[f.path] = data.split(b"\n")
            for line in lines:
                _echo(f, line.decode("utf-8", "replace"), several)
        time.sleep(0.2)


def _echo(f: LogFile, line: str, several: bool) -> None:
    click.echo(f"{f.label} | {line}" if several else line)


@click.command()
@click.option("--app-id", "-a", required=True, help="The app whose logs to show.")
@click.option("--sidecar", is_flag=True, help="Show its sidecar's (tandemd's) log instead of the app's.")
@click.option("--follow", "-F", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--tail", "-n", "lines", type=click.IntRange(min=0), help="Only the last N lines of each file.")
@click.option("--run-file", "-f", help="The run file that names the app (default: tandem.yaml or dapr.yaml here).")
def logs(app_id: str, sidecar: bool, follow: bool, lines: int | None, run_file: str | None) -> None:
    """Show the log of an app (or of its sidecar) started by ``tandem run -f``."""
    files = find_logs(app_id, sidecar, run_file)
    several = len(files) > 1
    offsets = {f.path: _size(f.path) for f in files}
    for f in files:
        for line in tail(f.path, lines, end=offsets[f.path]):
            _echo(f, line, several)
    if follow:
        try:
            _follow(files, several, offsets)
        except KeyboardInterrupt:
            pass
