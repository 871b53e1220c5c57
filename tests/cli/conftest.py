"""Fixtures for the CLI tests: each test gets a :class:`Sandbox` with its own TANDEM_HOME."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    home = tmp_path / "home"
    monkeypatch.setenv("TANDEM_HOME", str(home))  # for in-process helpers too
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_", "NO_COLOR", "FORCE_COLOR"))}
    env["TANDEM_HOME"] = str(home)
    box = Sandbox(tmp_path, env)
    try:
        yield box
    finally:
        box.cleanup()
