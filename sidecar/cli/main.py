"""The ``tandem`` command: Dapr's CLI verbs (init, run, list, stop, invoke, publish) for Tandem's sidecar."""
from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

import click

from .components_cmd import components
from .dashboard_cmd import dashboard
from .doctor_cmd import register as register_doctor
from .init_cmd import init
from .invoke_cmd import invoke
from .list_cmd import list_
from .logs_cmd import logs
from .new_cmd import new
from .publish_cmd import publish
from .run_cmd import run
from .stop_cmd import stop

__all__ = ["cli"]


def _versions() -> dict[str, str]:
    """Dapr's two lines; the CLI and the sidecar (tandemd) ship in one package, so they match."""
    try:
        number = version("tandem")
    except PackageNotFoundError:
        number = "0.0.0+source"
    return {"Cli version": number, "Runtime version": number}


def _version_text() -> str:
    found = _versions()
    return f"CLI version: {found['Cli version']}\nRuntime version: {found['Runtime version']}"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version_text())
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the CLI and runtime versions.")
def cli() -> None:
    """Run apps beside Tandem sidecars, with Dapr's command names and flags."""


@click.command("version")
@click.option("--output", "-o", type=click.Choice(["json"]), help="Print JSON, as `dapr version -o json` does.")
def version_(output: str | None) -> None:
    """Print the CLI and runtime versions."""
    click.echo(json.dumps(_versions()) if output == "json" else _version_text())


cli.add_command(init)
cli.add_command(run)
cli.add_command(list_)
cli.add_command(stop)
cli.add_command(invoke)
cli.add_command(publish)
cli.add_command(new)
cli.add_command(components)
cli.add_command(logs)
cli.add_command(dashboard)
register_doctor(cli)
cli.add_command(version_)

if __name__ == "__main__":
    cli(prog_name="tandem")
