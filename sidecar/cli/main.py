"""The ``tandem`` command: Dapr's CLI verbs (init, run, list, stop, invoke, publish) for Tandem's sidecar."""
from __future__ import annotations

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Run apps beside Tandem sidecars, with Dapr's command names and flags."""


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

if __name__ == "__main__":
    cli(prog_name="tandem")
