"""``tandem --version`` and ``tandem version``: Dapr's two lines (CLI and runtime), from the installed package."""
from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from tandem.sidecar.cli.main import cli


@pytest.mark.parametrize("args", [["--version"], ["-v"], ["version"]])
def test_the_versions_are_printed_as_dapr_prints_them(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    number = version("tandem")
    assert result.output == f"CLI version: {number}\nRuntime version: {number}\n"


def test_version_as_json() -> None:
    result = CliRunner().invoke(cli, ["version", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"Cli version": version("tandem"), "Runtime version": version("tandem")}
