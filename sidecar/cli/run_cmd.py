"""``tandem run``: Dapr's ``dapr run`` flags, turned into :class:`RunOptions` for the runner.

The app command follows the flags, with or without ``--``; everything from the first
non-option on belongs to the app, so ``tandem run -a x python app.py --flag`` hands
``--flag`` to the app. ``tandem run -f FILE|DIR`` runs every app of a run file instead
(``_multi_runner``); the per-app flags then live in the file.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..components.values import parse_size
from ..config import APP_PROTOCOLS
from ..home import default_components_path, default_config_path
from ..observability.logs import LEVELS
from ._multi_runner import run_many
from ._names import random_app_id
from ._output import Console, wants_color
from ._process import free_port
from ._runner import RunOptions
from ._runner import run as run_app
from .runfile import RunFileError, load_run_file

__all__ = ["run", "resolve_resources"]

_PORT = click.IntRange(1, 65535)


def _app_protocol(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Only what the sidecar speaks: refused here, up front, rather than by tandemd after start."""
    if value is None or value.lower() in APP_PROTOCOLS:
        return value.lower() if value else None
    raise click.BadParameter(f"{value!r}: Tandem's sidecar talks to apps over {' or '.join(APP_PROTOCOLS)} only "
                             "(Dapr's grpc, https, grpcs and h2c app channels are not supported yet)")


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_size(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def resolve_resources(given: tuple[str, ...]) -> tuple[str, ...] | None:
    """The resources paths (absolute; Dapr-style comma lists split), or None when the default folder is missing."""
    paths = [p.strip() for item in given for p in item.split(",") if p.strip()]
    if not paths:
        default = default_components_path()
        if not default.is_dir():
            return None
        paths = [str(default)]
    return tuple(os.path.abspath(os.path.expanduser(p)) for p in paths)


@click.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
@click.option("--app-id", "-a", help="The app's id (default: a random readable name).")
@click.option("--app-port", "-p", type=_PORT, help="The port the app listens on; omit if it serves nothing.")
@click.option("--dapr-http-port", "--port", "-H", "http_port", type=_PORT,
              help="The sidecar's HTTP port (default: a free port).")
@click.option("--resources-path", "--components-path", "-d", "resources_paths", multiple=True,
              help="A folder of component YAML files; repeatable (default: ~/.tandem/components).")
@click.option("--config", "-c", type=click.Path(dir_okay=False),
              help="A Configuration YAML file (default: ~/.tandem/config.yaml if present).")
@click.option("--log-level", type=click.Choice(sorted(LEVELS), case_sensitive=False),
              help="The sidecar's log level.")
@click.option("--max-body-size", callback=_size, help="The largest request body the sidecar accepts, e.g. 4Mi.")
@click.option("--app-channel-address", help="The address the app listens on (default 127.0.0.1).")
@click.option("--app-protocol", "-P", callback=_app_protocol, help="The app's protocol: http (the only one).")
@click.option("--dapr-listen-addresses", "listen_addresses",
              help="Where the sidecar's API listens (default 127.0.0.1).")
@click.option("--dapr-grpc-port", "-G", "grpc_port", type=_PORT,
              help="Accepted for Dapr compatibility; not applied (Tandem serves no gRPC API).")
@click.option("--metrics-port", "-M", type=_PORT, help="Passed on to the sidecar.")
@click.option("--enable-api-logging", is_flag=True,
              help="Log one line per API call (method, path, status, duration, trace id).")
@click.option("--http-read-header-timeout", type=click.FloatRange(min=0),
              help="Seconds a client has to send a request's headers to a sidecar (default 10; 0: no bound).")
@click.option("--http-idle-timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds a sidecar keeps an idle keep-alive connection open (default 65).")
@click.option("--app-startup-wait", type=click.FloatRange(min=0),
              help="Seconds an invocation waits for an app that is still starting (default 5; 0: no wait).")
@click.option("--run-file", "-f", help="Run every app of this run file (or of tandem.yaml / dapr.yaml in this folder).")
@click.option("--watch", is_flag=True, help="With -f: restart an app when one of its files changes.")
@click.option("--dashboard", "with_dashboard", is_flag=True, help="With -f: serve the dashboard too.")
@click.option("--dashboard-port", type=click.IntRange(0, 65535),
              help="With --dashboard: its port (default 8080, or a free one if 8080 is taken).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour the output prefixes (auto: only on a terminal).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context, app_id: str | None, app_port: int | None, http_port: int | None,
    resources_paths: tuple[str, ...], config: str | None, log_level: str | None, max_body_size: str | None,
    app_channel_address: str | None, app_protocol: str | None, listen_addresses: str | None, grpc_port: int | None,
    metrics_port: int | None, enable_api_logging: bool, run_file: str | None, watch: bool, with_dashboard: bool,
    dashboard_port: int | None, color: str, command: tuple[str, ...], http_read_header_timeout: float | None,
    http_idle_timeout: float | None, app_startup_wait: float | None,
) -> None:
    """Run a sidecar (tandemd) and, if given, COMMAND as the app beside it; or, with -f, every app of a run file.

    \b
    tandem run --app-id nodeapp --app-port 3000 --port 3500 node app.js
    tandem run -a myapp -p 8000 -- python app.py --reload
    tandem run -f tandem.yaml --watch --dashboard
    """
    if command and command[0].startswith("-"):
        raise click.UsageError(f"No such option: {command[0]}")
    console = Console(color=wants_color(sys.stdout.buffer, color))
    _pass_to_sidecars(TANDEM_HTTP_READ_HEADER_TIMEOUT=http_read_header_timeout,
                      TANDEM_HTTP_IDLE_TIMEOUT=http_idle_timeout, TANDEM_APP_STARTUP_WAIT=app_startup_wait)
    if run_file is not None:
        _run_file(ctx, run_file, watch, with_dashboard, dashboard_port, console)
    for flag, given in (("--watch", watch), ("--dashboard", with_dashboard),
                        ("--dashboard-port", dashboard_port is not None)):
        if given:
            raise click.UsageError(f"{flag} goes with -f <run file>")
    resources = resolve_resources(resources_paths)
    if resources is None:
        raise click.ClickException(
            f"no components folder at {default_components_path()}: run `tandem init` first, "
            "or pass --resources-path <folder>"
        )
    if config is None and default_config_path().is_file():
        config = str(default_config_path())
    opts = RunOptions(
        app_id=app_id or random_app_id(),
        http_port=http_port or free_port(),
        resources_paths=resources,
        command=command,
        app_port=app_port,
        config=str(Path(config).expanduser().absolute()) if config else None,
        log_level=log_level.lower() if log_level else None,
        max_body_size=max_body_size,
        app_channel_address=app_channel_address,
        app_protocol=app_protocol.lower() if app_protocol else None,
        listen_addresses=listen_addresses,
        grpc_port=grpc_port,
        metrics_port=metrics_port or free_port(),  # many sidecars on one machine: never a fixed default
        enable_api_logging=enable_api_logging,
    )
    raise SystemExit(run_app(opts, console))


def _pass_to_sidecars(**settings: float | None) -> None:
    """Settings every sidecar of this run takes alike: through tandemd's environment variables, which each
    sidecar (one, or every app of a run file) inherits."""
    for name, value in settings.items():
        if value is not None:
            os.environ[name] = repr(value)


_RUN_FILE_FLAGS = {"app_id", "app_port", "http_port", "resources_paths", "config", "log_level", "max_body_size",
                   "app_channel_address", "app_protocol", "listen_addresses", "grpc_port", "metrics_port",
                   "enable_api_logging", "command"}


def _run_file(ctx: click.Context, given: str, watch: bool, with_dashboard: bool, dashboard_port: int | None,
              console: Console) -> None:
    """``tandem run -f``: the run file says everything about each app, so no per-app flag is taken."""
    clashing = sorted(name for name in _RUN_FILE_FLAGS if ctx.params.get(name))
    if clashing:
        names = ", ".join("the app command" if n == "command" else "--" + n.replace("_", "-") for n in clashing)
        raise click.UsageError(f"-f runs the apps of a run file; set {names} in the file instead")
    try:
        run_file = load_run_file(given)
    except RunFileError as exc:
        raise click.ClickException(str(exc)) from None
    if dashboard_port is not None and not with_dashboard:
        raise click.UsageError("--dashboard-port goes with --dashboard")
    dashboard = ("127.0.0.1", 8080 if dashboard_port is None else dashboard_port) if with_dashboard else None
    raise SystemExit(run_many(run_file, console, watch=watch, dashboard=dashboard,
                              dashboard_port_given=dashboard_port is not None))
