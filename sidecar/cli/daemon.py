"""``tandemd``: the sidecar alone, with daprd's flag names."""
from __future__ import annotations

import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from ..components.values import parse_size
from ..config import APP_PROTOCOLS, DEFAULT_MAX_BODY_SIZE, RuntimeConfig
from ..observability import logs
from ..server import run

__all__ = ["main"]

#: daprd flags taken so that daprd command lines work, which change nothing here.
_NOT_APPLIED = {
    "dapr_grpc_port": "Tandem serves no gRPC API",
    "app_max_concurrency": "the sidecar does not limit concurrent calls to the app",
    "placement_host_address": "actors are placed without a placement service",
    "scheduler_host_address": "reminders are kept without a scheduler service",
}


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--app-id", default="", help="The id of the app this sidecar serves.")
@click.option("--app-port", type=int, default=None,
              help="The port the app listens on (no app channel if omitted).")
@click.option("--dapr-http-port", "http_port", type=int, default=3500,
              help="The port of the HTTP API (0 = any free port).")
@click.option("--dapr-listen-addresses", default="127.0.0.1", help="Comma-separated addresses to listen on.")
@click.option("--resources-path", multiple=True, type=click.Path(path_type=Path),
              help="A folder of component files (repeatable).")
@click.option("--components-path", multiple=True, type=click.Path(path_type=Path), help="Old name of --resources-path.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, help="A Configuration file.")
@click.option("--log-level", type=click.Choice(sorted(logs.LEVELS), case_sensitive=False), default="info",
              help="The lowest level logged.")
@click.option("--log-as-json", is_flag=True, default=False, help="Log JSON lines (daprd's fields) instead of text.")
@click.option("--max-body-size", callback=_size, default=None, help="Largest request body, e.g. 4Mi or 16M.")
@click.option("--dapr-http-max-request-size", type=int, default=None, help="Old form of --max-body-size, in MB.")
@click.option("--app-channel-address", default="127.0.0.1", help="The address the app listens on.")
@click.option("--app-protocol", type=click.Choice(APP_PROTOCOLS), default="http", help="How to talk to the app.")
@click.option("--mode", default="standalone", hidden=True)
@click.option("--dapr-grpc-port", type=int, default=None, hidden=True,
              help="Accepted for daprd compatibility; no gRPC API.")
@click.option("--dapr-internal-port", "--dapr-internal-grpc-port", "internal_port", type=int, default=0,
              help="The port other sidecars call this one on (0 = any free port).")
@click.option("--internal-secret-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Read the secret sidecars show each other from this file (sidecars on several hosts) "
                   "[default: TANDEM_INTERNAL_SECRET, else this TANDEM_HOME's own].")
@click.option("--http-read-header-timeout", "read_header_timeout", type=click.FloatRange(min=0), default=10.0,
              envvar="TANDEM_HTTP_READ_HEADER_TIMEOUT", show_envvar=True,
              help="Seconds a client has to send a request's headers before its connection is closed (0: no bound).")
@click.option("--http-idle-timeout", "idle_timeout", type=click.FloatRange(min=0, min_open=True), default=65.0,
              envvar="TANDEM_HTTP_IDLE_TIMEOUT", show_envvar=True,
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--app-startup-wait", type=click.FloatRange(min=0), default=5.0,
              envvar="TANDEM_APP_STARTUP_WAIT", show_envvar=True,
              help="Seconds an invocation waits for an app id no sidecar serves yet, or for an app that has not "
                   "opened its port yet, before failing (0: fail at once).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9090,
              help="The port of the Prometheus metrics (GET /metrics; 0 = any free port).")
@click.option("--enable-metrics", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Serve metrics (--enable-metrics=false: no metrics port).")
@click.option("--placement-host-address", default=None, hidden=True)
@click.option("--app-max-concurrency", type=int, default=None, hidden=True)
@click.option("--scheduler-host-address", default=None, hidden=True)
@click.option("--enable-api-logging", type=click.BOOL, default=None, is_flag=False, flag_value=True,
              help="Log one line per API call [default: the Configuration's logging.apiLogging.enabled].")
def main(
    app_id: str, app_port: int | None, http_port: int, dapr_listen_addresses: str,
    resources_path: tuple[Path, ...], components_path: tuple[Path, ...], config_path: Path | None,
    log_level: str, log_as_json: bool, max_body_size: int | None, dapr_http_max_request_size: int | None,
    app_channel_address: str, app_protocol: str, internal_port: int, metrics_port: int, enable_metrics: bool,
    enable_api_logging: bool | None, internal_secret_file: Path | None, read_header_timeout: float,
    idle_timeout: float, app_startup_wait: float, **ignored: object,
) -> None:
    """Run the Tandem sidecar: Dapr's HTTP API v1.0 over pluggable components."""
    logs.configure(log_level, as_json=log_as_json, app_id=app_id, version=_version())
    for name, why in _NOT_APPLIED.items():
        if ignored.get(name) is not None:
            logging.getLogger("tandem.sidecar").warning("--%s is accepted for daprd compatibility but not applied: %s",
                                                        name.replace("_", "-"), why)
    if max_body_size is None:
        max_body_size = (dapr_http_max_request_size * 1024 * 1024 if dapr_http_max_request_size
                         else DEFAULT_MAX_BODY_SIZE)
    config = RuntimeConfig.from_env(
        app_id=app_id, http_port=http_port, app_port=app_port or None, internal_port=internal_port,
        listen_addresses=tuple(a.strip() for a in dapr_listen_addresses.split(",") if a.strip()),
        app_channel_address=app_channel_address, app_protocol=app_protocol,
        resources_paths=tuple(resources_path) + tuple(components_path),
        config_path=config_path, log_level=log_level.lower(), max_body_size=max_body_size,
        log_as_json=log_as_json, metrics_port=metrics_port, enable_metrics=enable_metrics,
        enable_api_logging=enable_api_logging, internal_secret_file=internal_secret_file,
        read_header_timeout=read_header_timeout, idle_timeout=idle_timeout, app_startup_wait=app_startup_wait,
    )
    sys.exit(run(config))


def _version() -> str:
    try:
        return version("tandem")
    except PackageNotFoundError:
        return "0.0.0+source"


if __name__ == "__main__":
    main()
