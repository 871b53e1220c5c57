"""``tandem run``: Dapr's ``dapr run`` flags, turned into :class:`RunOptions` for the runner.

The app command follows the flags, with or without ``--``; everything from the first
non-option on belongs to the app, so ``tandem run -a x python app.py --flag`` hands
``--flag`` to the app.
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..home import default_components_path, default_config_path
from ._names import random_app_id
from ._process import free_port
from ._runner import RunOptions
from ._runner import run as run_app

__all__ = ["run", "resolve_resources"]

_PROTOCOLS = ("http", "grpc", "https", "grpcs", "h2c")
_PORT = click.IntRange(1, 65535)


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
@click.option("--log-level", help="The sidecar's log level (debug, info, warn, error).")
@click.option("--max-body-size", help="The largest request body the sidecar accepts, e.g. 4Mi.")
@click.option("--app-channel-address", help="The address the app listens on (default 127.0.0.1).")
@click.option("--app-protocol", "-P", type=click.Choice(_PROTOCOLS, case_sensitive=False),
              help="The app's protocol (default http).")
@click.option("--dapr-listen-addresses", "listen_addresses",
              help="Where the sidecar's API listens (default 127.0.0.1).")
@click.option("--dapr-grpc-port", "-G", "grpc_port", type=_PORT,
              help="Passed on to the sidecar (Tandem serves HTTP only).")
@click.option("--metrics-port", "-M", type=_PORT, help="Passed on to the sidecar.")
@click.option("--enable-api-logging", is_flag=True, help="Accepted for Dapr compatibility; use --log-level debug.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    app_id: str | None, app_port: int | None, http_port: int | None, resources_paths: tuple[str, ...],
    config: str | None, log_level: str | None, max_body_size: str | None, app_channel_address: str | None,
    app_protocol: str | None, listen_addresses: str | None, grpc_port: int | None, metrics_port: int | None,
    enable_api_logging: bool, command: tuple[str, ...],
) -> None:
    """Run a sidecar (tandemd) and, if given, COMMAND as the app beside it.

    \b
    tandem run --app-id nodeapp --app-port 3000 --port 3500 node app.js
    tandem run -a myapp -p 8000 -- python app.py --reload
    """
    if command and command[0].startswith("-"):
        raise click.UsageError(f"No such option: {command[0]}")
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
        log_level=log_level,
        max_body_size=max_body_size,
        app_channel_address=app_channel_address,
        app_protocol=app_protocol.lower() if app_protocol else None,
        listen_addresses=listen_addresses,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
    )
    raise SystemExit(run_app(opts))
