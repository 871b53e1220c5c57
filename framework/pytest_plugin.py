"""Tandem's pytest plugin (entry point ``pytest11``: ``tandem``), loaded by pytest itself.

Fixtures:

* ``tandem_app`` — factory ``start(app, *, app_id="app", components=None, env=None, timeout=30.0)``
  returning a `tandem.testing.RunningService`: the app (an ASGI object run in-process, or
  ``"module:attr"`` run by a ``uvicorn`` subprocess) beside a real ``tandemd``; everything is
  stopped after the test. See `tandem.testing.ServiceHarness`.
* ``tandem_component`` — ``async with tandem_component(yaml_text, StateStore) as store:``
  builds, initialises and closes a component driver (the conformance kit's ``open_component``).

Heavy imports happen inside the fixtures, so loading the plugin costs nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import RunningService


@pytest.fixture
def tandem_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningService]]:
    """Factory: start an app under test with its own sidecar; all are stopped at teardown."""
    from .testing import ServiceHarness

    harness = ServiceHarness(Path(tmp_path_factory.mktemp("tandem")))
    try:
        yield harness.start
    finally:
        harness.close()


@pytest.fixture
def tandem_component() -> Callable[..., Any]:
    """``tandem_component(document, contract, app_id="conformance", **kw)``: an async context
    manager yielding the initialised driver (closed on exit)."""
    from .sidecar.conformance import open_component

    opener: Callable[..., Any] = open_component
    return opener
