"""``tandem run -f``: every app of a run file, each replica beside its own sidecar.

Each replica is a :class:`~._runner.Pair` (the single-app plumbing: sidecar first, app
once the sidecar's APIs answer, process groups). On top of it, per replica, a loop:

* the app starts once the apps it ``dependsOn`` are healthy (their sidecars ready, their
  port open, their ``appHealthCheckPath`` answering 2xx) or have finished with code 0;
* an app that crashes is restarted with back-off (0.5 s doubling to 30 s, reset after
  10 s of good running), and the console says so; ``restart: always|never`` changes that;
* an app that exits with code 0 (a job) is done: its sidecar is stopped, the rest runs on;
* a sidecar that crashes takes its app down and both are started again; a sidecar that
  exits with 0 was stopped on purpose (``tandem stop --app-id``): that replica is done;
* ``--watch``: a change in an app's files restarts that app's processes (not its sidecars).

A failure before a replica was ever up (bad components, a missing command) stops the
whole run: restarting would only repeat it. The run ends on Ctrl-C / SIGTERM
(``tandem stop -f``), or once every replica is done.
"""
from __future__ import annotations

import asyncio
import shlex
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._output import Console
from ._process import exit_status, free_port, wait_exit
from ._runner import STOP_SIGNALS, Outlet, Pair, RunOptions
from ._watch import watch_apps
from .runfile import AUTO_PORT, AppSpec, RunFile

if TYPE_CHECKING:
    from ..dashboard.server import DashboardServer

__all__ = ["MultiRun", "run_many", "RUN_FILE_ENV"]

#: Tells each tandemd which run file it belongs to; it records it in the run folder.
RUN_FILE_ENV = "TANDEM_RUN_FILE"
_BACKOFF_FIRST, _BACKOFF_MAX, _BACKOFF_RESET = 0.5, 30.0, 10.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_many(run_file: RunFile, console: Console, *, watch: bool = False, dashboard: tuple[str, int] | None = None,
             dashboard_port_given: bool = False) -> int:
    """Run every app of ``run_file`` until stopped; returns the exit status."""
    return asyncio.run(MultiRun(run_file, console, watch=watch, dashboard=dashboard,
                                dashboard_port_given=dashboard_port_given).main())


@dataclass
class Replica:
    """One copy of one app, and what the supervisor knows about it."""

    spec: AppSpec
    index: int
    label: str
    color: int
    pair: Pair
    healthy: bool = False
    done: bool = False
    code: int = 0
    ever_up: bool = False
    restart: asyncio.Event = field(default_factory=asyncio.Event)
    changed: list[str] = field(default_factory=list)


class _Ports:
    """Free ports, never the same one twice in a run (the kernel may hand a closed port out again)."""

    def __init__(self, run_file: RunFile) -> None:
        self.used = {p for a in run_file.apps for p in (a.app_port, a.http_port, a.grpc_port, a.metrics_port,
                                                        a.internal_port) if p}

    def take(self, given: int | None) -> int:
        if given not in (None, AUTO_PORT):
            return int(given)
        while True:
            port = free_port()
            if port not in self.used:
                self.used.add(port)
                return port


class MultiRun:
    def __init__(self, run_file: RunFile, console: Console, *, watch: bool = False,
                 dashboard: tuple[str, int] | None = None, dashboard_port_given: bool = False,
                 grace: float = 5.0) -> None:
        self.run_file = run_file
        self.console = console
        self.watch = watch
        self.dashboard = dashboard
        self.dashboard_port_given = dashboard_port_given
        self.grace = grace
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()
        self.failure: int | None = None
        self.replicas: list[Replica] = []
        self.width = 0

    # -- console ----------------------------------------------------------------------------------

    def say(self, replica: Replica | None, message: str, alert: bool = False) -> None:
        label, role, color = (replica.label, "tandem", replica.color) if replica else ("tandem", "", None)
        self.console.line(self.console.aligned(label, role, self.width, color, alert), message.encode())

    # -- set-up -----------------------------------------------------------------------------------

    def _build(self) -> None:
        ports = _Ports(self.run_file)
        stamp = time.strftime("%Y%m%d%H%M%S")
        labels = [(a, i, a.app_id if a.replicas == 1 else f"{a.app_id}-{i}")
                  for a in self.run_file.apps for i in range(a.replicas)]
        self.width = max(len("tandem"), *(len(label) for _, _, label in labels))
        colors = {a.app_id: n for n, a in enumerate(self.run_file.apps)}
        for spec, index, label in labels:
            app_port = None if spec.app_port is None else ports.take(spec.app_port)
            opts = RunOptions(
                app_id=spec.app_id, http_port=ports.take(spec.http_port), resources_paths=spec.resources_paths,
                command=spec.command, app_port=app_port, config=spec.config, log_level=spec.log_level,
                max_body_size=spec.max_body_size, app_channel_address=spec.app_channel_address,
                app_protocol=spec.app_protocol, listen_addresses=spec.listen_addresses,
                grpc_port=spec.grpc_port, metrics_port=ports.take(spec.metrics_port),
                internal_port=spec.internal_port, grace=self.grace, enable_api_logging=spec.enable_api_logging,
            )
            color = colors[spec.app_id]
            extra = {"TANDEM_REPLICA": str(index), **({"PORT": str(app_port)} if app_port is not None else {})}
            pair = Pair(
                opts, self.console, self.hurry,
                sidecar_out=self._outlet(spec.sidecar_log, label, "tandemd", color,
                                         spec.log_dir / f"{label}_tandemd_{stamp}.log"),
                app_out=self._outlet(spec.app_log, label, "app", color, spec.log_dir / f"{label}_app_{stamp}.log"),
                app_cwd=str(spec.app_dir), app_env_extra={**extra, **spec.env},
                sidecar_env_extra={RUN_FILE_ENV: str(self.run_file.path)},
            )
            self.replicas.append(Replica(spec, index, label, color, pair))

    def _outlet(self, destination: str, label: str, role: str, color: int, path: Path) -> Outlet:
        return Outlet(self.console.aligned(label, role, self.width, color), console=destination != "file",
                      log_path=path if destination != "console" else None)

    # -- the run ----------------------------------------------------------------------------------

    def _on_signal(self) -> None:
        if self.stop.is_set():
            self.hurry.set()
        else:
            self.say(None, "stopping every app (a second Ctrl-C skips the grace period)")
        self.stop.set()

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal)
        background: list[asyncio.Task[None]] = []
        server = None
        try:
            self._build()
            for warning in self.run_file.warnings:
                self.say(None, f"warning: {warning}")
            count = len(self.replicas)
            self.say(None, f"starting {len(self.run_file.apps)} app(s), {count} replica(s), from {self.run_file.path}")
            if self.dashboard is not None:
                server = await self._start_dashboard()
                if server is None:
                    return 1
            if self.watch:
                background.append(asyncio.create_task(watch_apps(self.run_file.apps, self._on_change, self.stop)))
            loops = [asyncio.create_task(self._replica_loop(r)) for r in self.replicas]
            background.append(asyncio.create_task(self._announce_when_up()))
            await asyncio.gather(*loops)
            if self.failure is not None:
                return self.failure
            if all(r.done for r in self.replicas) and not self.stop.is_set():
                self.say(None, "every app has ended")
            return max((r.code for r in self.replicas), default=0)
        finally:
            self.stop.set()
            await self._close_all()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if server is not None:
                await server.stop()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _start_dashboard(self) -> DashboardServer | None:
        from ..dashboard.server import DashboardServer

        assert self.dashboard is not None
        host, port = self.dashboard
        server = DashboardServer(host, port)
        try:
            url = await server.start()
        except OSError as exc:
            if self.dashboard_port_given:
                self.say(None, f"cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}", alert=True)
                return None
            server = DashboardServer(host, 0)  # the default port is taken: any free one will do
            url = await server.start()
        self.say(None, f"dashboard on {url}")
        return server

    async def _close_all(self) -> None:
        """Apps first (all at once), then the sidecars, then the log files."""
        await asyncio.gather(*(r.pair.stop_app() for r in self.replicas if r.pair.app is not None))
        await asyncio.gather(*(r.pair.close() for r in self.replicas))

    def _fail(self, replica: Replica, message: str, code: int = 1) -> None:
        self.say(replica, message, alert=True)
        if self.failure is None:
            self.failure = code
            self.say(None, "stopping every app: a replica could not start", alert=True)
        self.stop.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, unless the run is stopped meanwhile."""
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _replica_loop(self, r: Replica) -> None:
        failures, pair, spec = 0, r.pair, r.spec
        while not self.stop.is_set():
            if pair.sidecar is None or pair.sidecar.returncode is not None:
                sidecar = await pair.start_sidecar()
                state = await pair.wait_ready(self.stop)
                if state == "stopped":
                    return
                if state != "ready":
                    why = "did not become ready" if state == "timeout" else \
                        f"exited with code {exit_status(sidecar.returncode or 0)} before it was ready"
                    if not r.ever_up:
                        out = pair.sidecar_out
                        where = "its output above" if out.console or out.log_path is None else str(out.log_path)
                        return self._fail(r, f"tandemd {why} (see {where})")
                    await pair.stop_sidecar()
                    failures += 1
                    await self._back_off(r, f"tandemd {why}", failures)
                    continue
            if not await self._wait_dependencies(r):
                return
            if spec.command:
                try:
                    app = await pair.start_app()
                except OSError as exc:
                    return self._fail(r, f"cannot start {shlex.join(spec.command)!r} in {spec.app_dir}: "
                                         f"{exc.strerror or exc}", 127 if isinstance(exc, FileNotFoundError) else 126)
                self.say(r, f"app {'re' if r.ever_up else ''}started (pid {app.pid}): {shlex.join(spec.command)}")
            r.ever_up = True
            started = time.monotonic()
            outcome = await self._watch_replica(r)
            r.healthy = False
            if outcome == "stop":
                return
            if outcome == "restart":
                self.say(r, f"files changed ({', '.join(r.changed[:3])}{', …' if len(r.changed) > 3 else ''}); "
                            "restarting the app")
                r.changed.clear()
                await pair.stop_app()
                continue
            if time.monotonic() - started > _BACKOFF_RESET:
                failures = 0
            if outcome == "sidecar":
                code = exit_status(pair.sidecar.returncode or 0) if pair.sidecar else 0
                if code == 0:
                    self.say(r, "tandemd was stopped" + ("; stopping the app" if spec.command else ""))
                    await pair.stop_app()
                    r.done = True
                    return
                await pair.stop_app()
                failures += 1
                await self._back_off(r, f"tandemd exited with code {code}{_signal_note(code)}", failures)
                continue
            assert pair.app is not None and pair.app.returncode is not None
            code = exit_status(pair.app.returncode)
            await pair.stop_app()  # whatever the app left in its group
            if spec.restart == "always" or (spec.restart == "on-failure" and code != 0):
                failures += 1
                await self._back_off(r, f"app exited with code {code}{_signal_note(code)}", failures)
                continue
            self.say(r, f"app exited with code {code}{_signal_note(code)}; stopping its sidecar")
            await pair.stop_sidecar()
            r.code, r.done = code, True
            return

    async def _back_off(self, r: Replica, what: str, failures: int) -> None:
        delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (failures - 1))
        self.say(r, f"{what}; restarting it in {delay:g}s (restart {failures})", alert=True)
        await self._sleep(delay)

    async def _watch_replica(self, r: Replica) -> str:
        """Until something happens: ``app``/``sidecar`` (exited), ``restart`` (files changed) or ``stop``."""
        pair = r.pair
        assert pair.sidecar is not None
        waits: set[asyncio.Task[Any]] = {
            asyncio.create_task(wait_exit(pair.sidecar), name="sidecar"),
            asyncio.create_task(self.stop.wait(), name="stop"),
            asyncio.create_task(r.restart.wait(), name="restart"),
        }
        if pair.app is not None:  # started just before: its exit is one of the outcomes
            waits.add(asyncio.create_task(wait_exit(pair.app), name="app"))
        health = asyncio.create_task(self._health(r))
        metadata = asyncio.create_task(self._publish(r))
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waits, health, metadata):
                task.cancel()
            await asyncio.gather(*waits, health, metadata, return_exceptions=True)
        r.restart.clear()
        names = {t.get_name() for t in done}
        for name in ("stop", "sidecar", "app", "restart"):
            if name in names:
                return name
        return "stop"

    async def _publish(self, r: Replica) -> None:
        pair = r.pair
        items = pair.run_metadata()
        items.update(runTemplatePath=str(self.run_file.path), replica=str(r.index),
                     appLogPath=str(pair.app_out.log_path or ""), daprdLogPath=str(pair.sidecar_out.log_path or ""))
        if self.run_file.name:
            items["runTemplateName"] = self.run_file.name
        for key in await pair.publish(items):
            self.say(r, f"could not store {key} in the sidecar's metadata", alert=True)

    async def _health(self, r: Replica) -> None:
        """Mark the replica healthy once its app answers (port open, health path 2xx)."""
        spec, opts = r.spec, r.pair.opts
        host = opts.app_channel_address or "127.0.0.1"
        while spec.command and opts.app_port is not None:
            if await asyncio.to_thread(_app_answers, host, opts.app_port, spec.health_path, spec.health_timeout):
                self.say(r, f"app is up on port {opts.app_port}" + (f" ({spec.health_path} answers)"
                                                                    if spec.health_path else ""))
                break
            await asyncio.sleep(0.1)
        r.healthy = True

    async def _wait_dependencies(self, r: Replica) -> bool:
        """True once every app ``r`` depends on is up (or finished well); False if the run stops first."""
        needs = r.spec.depends_on
        if not needs:
            return True
        told = False
        while not self.stop.is_set():
            waiting = [dep for dep in needs if not self._satisfied(dep)]
            if not waiting:
                return True
            if not told:
                self.say(r, f"waiting for {', '.join(waiting)} to be up before starting the app")
                told = True
            await asyncio.sleep(0.1)
        return False

    def _satisfied(self, app_id: str) -> bool:
        replicas = [x for x in self.replicas if x.spec.app_id == app_id]
        return all(x.healthy or (x.done and x.code == 0) for x in replicas)

    async def _announce_when_up(self) -> None:
        while not all(r.healthy or r.done for r in self.replicas):
            await asyncio.sleep(0.1)
        apps = len(self.run_file.apps)
        self.say(None, f"all {apps} app(s) are up ({len(self.replicas)} replica(s)); Ctrl-C or "
                       f"`tandem stop -f {self.run_file.path}` stops them")
        self.say(None, "You're up and running! Both Dapr and your app logs will appear here.")  # as `dapr run -f`

    def _on_change(self, spec: AppSpec, files: list[str]) -> None:
        for r in self.replicas:
            if r.spec.app_id == spec.app_id and r.pair.app is not None and r.pair.app.returncode is None:
                r.changed[:] = files
                r.restart.set()


def _signal_note(code: int) -> str:
    if code > 128:
        try:
            return f" (killed by {signal.Signals(code - 128).name})"
        except ValueError:
            return ""
    return ""


def _app_answers(host: str, port: int, path: str | None, timeout: float) -> bool:
    """The app accepts connections, and answers 2xx on ``path`` when one is given."""
    if path is None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False
    url = f"http://{host}:{port}/{path.lstrip('/')}"
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except urllib.error.HTTPError:
        return False
    except (OSError, ValueError):
        return False

