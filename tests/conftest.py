"""Shared fixtures: real ``tandemd`` processes on free ports, torn down after each test."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from leftover_check import (  # noqa: F401  (the run leaves nothing behind)
    pytest_addoption,
    pytest_configure,
    pytest_sessionfinish,
)

from support import Sidecar, SidecarLauncher

StartSidecar = Callable[..., Sidecar]


@pytest.fixture
def tandemd(tmp_path: Path) -> Iterator[StartSidecar]:
    """Factory: ``tandemd(components, app_id=..., env=..., args=...)`` starts a sidecar.

    ``components`` is raw YAML text, or ``{name: type}`` / ``{name: {"type": t, "metadata": {...}}}``.
    Each sidecar listens on a free port with ``TANDEM_HOME`` under ``tmp_path``, and
    is stopped at teardown.
    """
    launcher = SidecarLauncher(tmp_path)
    yield launcher.start
    launcher.stop_all()
