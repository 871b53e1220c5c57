"""The conformance kit: the behavioural tests every component driver must pass.

The same suites run on Tandem's built-in drivers, on ``tandem-redis`` and on
any third-party plugin. Each suite is a pytest *mixin* class (its name does not
start with ``Test``, so pytest never collects it on its own); subclass it in a
test module under a ``Test…`` name and provide one fixture that yields an
initialised driver:

.. code-block:: python

    import pytest
    from tandem.sidecar.components.state import StateStore
    from tandem.sidecar.conformance import open_component
    from tandem.sidecar.conformance.state import StateStoreConformance

    COMPONENT = '''
    apiVersion: dapr.io/v1alpha1
    kind: Component
    metadata: {name: statestore}
    spec:
      type: state.mystore
      version: v1
      metadata:
      - {name: host, value: localhost:1234}
    '''

    class TestMyStore(StateStoreConformance):
        @pytest.fixture
        async def store(self):
            async with open_component(COMPONENT, StateStore) as driver:
                yield driver

Suites, the fixture each needs, and their modules:

* :class:`~.state.StateStoreConformance` — ``store`` (:mod:`tandem.sidecar.conformance.state`)
* :class:`~.pubsub.PubSubConformance` — ``pubsub`` (:mod:`tandem.sidecar.conformance.pubsub`)
* :class:`~.lock.LockStoreConformance` — ``lock_store`` (:mod:`tandem.sidecar.conformance.lock`)
* :class:`~.bindings.OutputBindingConformance` — ``output_binding`` (:mod:`tandem.sidecar.conformance.bindings`)
* :class:`~.bindings.InputBindingConformance` — ``input_binding`` (:mod:`tandem.sidecar.conformance.bindings`)
* :class:`~.placement.PlacementStoreConformance` — ``placement_store`` (:mod:`tandem.sidecar.conformance.placement`)

The fixture may be async (as above) or not; keep it function-scoped (the
default), as the ``anyio_backend`` fixture it runs under is. The
default registry for :func:`build_component` and :func:`open_component` holds
the built-in drivers and every installed plugin (the ``tandem.plugins`` entry
points), as ``tandemd`` sees them; pass ``registry=`` to choose.

The suites are async tests run by AnyIO's pytest plugin on asyncio; each
mixin provides its own ``anyio_backend`` fixture and ``anyio`` mark, so a
subclass needs nothing else. Tests a driver cannot pass because it does not
declare the feature (``features()``) are skipped with the reason. Every test
uses keys, topics, groups and resources with a fresh UUID in them, so the
suites can run against a server that is shared with other runs. Each module's
docstring lists the class attributes a subclass may set (time limits,
an ETag the driver can never have issued …).

Requires the ``test`` extra (pytest, anyio).
"""
from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar, overload

import pytest
import yaml

from ..components.base import Component, ComponentMetadata
from ..components.loader import parse_component
from ..plugins import ComponentRegistry, component_registry, plugin_manager

__all__ = ["ConformanceSuite", "build_component", "open_component", "unique"]

# Rewrite the suites' ``assert`` statements (for pytest's detailed failure messages);
# must run before they are imported, which this package never does itself.
pytest.register_assert_rewrite(
    "tandem.sidecar.conformance.state",
    "tandem.sidecar.conformance.pubsub",
    "tandem.sidecar.conformance.lock",
    "tandem.sidecar.conformance.bindings",
    "tandem.sidecar.conformance.placement",
)

C = TypeVar("C", bound=Component)
_SOURCE = "<conformance component>"


@functools.cache
def _default_registry() -> ComponentRegistry:
    """Built-in drivers plus every installed plugin, as ``tandemd`` would see them (built once)."""
    return component_registry(plugin_manager())


def _document(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, Mapping):
        docs: list[Any] = [document]
    else:
        docs = [d for d in yaml.safe_load_all(document) if d is not None]
    components = [d for d in docs if isinstance(d, Mapping) and d.get("kind", "Component") == "Component"]
    if len(components) != 1:
        raise ValueError(f"expected exactly one 'kind: Component' document, found {len(components)}")
    return components[0]


@overload
def build_component(
    document: str | Mapping[str, Any], app_id: str = ..., *, namespace: str | None = ...,
    env: Mapping[str, str] | None = ..., registry: ComponentRegistry | None = ...,
) -> tuple[Component, ComponentMetadata]: ...


@overload
def build_component(
    document: str | Mapping[str, Any], app_id: str = ..., *, contract: type[C], namespace: str | None = ...,
    env: Mapping[str, str] | None = ..., registry: ComponentRegistry | None = ...,
) -> tuple[C, ComponentMetadata]: ...


def build_component(
    document: str | Mapping[str, Any], app_id: str = "conformance", *, contract: type[Component] = Component,
    namespace: str | None = None, env: Mapping[str, str] | None = None, registry: ComponentRegistry | None = None,
) -> tuple[Component, ComponentMetadata]:
    """Create the driver a Dapr component document asks for, and the metadata to ``init`` it with.

    ``document`` is YAML text (one ``kind: Component`` document) or the decoded
    mapping. It is validated by the same loader ``tandemd`` uses, and the type is
    looked up among the built-in drivers and the installed plugins (or in
    ``registry``). ``envRef`` values are read from ``env`` (default: the process
    environment); ``secretKeyRef`` values cannot be resolved here and raise
    ``ValueError``. With ``contract`` (``StateStore``, ``PubSub``, ``LockStore`` …)
    the driver is checked to implement it, and typed accordingly.

    The driver is *not* initialised: ``await driver.init(metadata)``, and
    ``await driver.close()`` when done — or use :func:`open_component`.
    """
    spec = parse_component(_document(document), _SOURCE, os.environ if env is None else env)
    if spec.secret_refs:
        raise ValueError(f"component {spec.name!r}: secretKeyRef metadata ({', '.join(spec.secret_refs)}) "
                         "cannot be resolved by build_component; use value or envRef")
    factory = (_default_registry() if registry is None else registry).lookup(spec.type, spec.version)
    driver = factory.create()
    if not isinstance(driver, contract):
        raise TypeError(f"{spec.type} creates a {type(driver).__name__}, which is not a {contract.__name__}")
    metadata = ComponentMetadata(name=spec.name, type=spec.type, version=spec.version, properties=spec.metadata,
                                 app_id=app_id, namespace=namespace)
    return driver, metadata


@asynccontextmanager
async def open_component(
    document: str | Mapping[str, Any], contract: type[C], app_id: str = "conformance", *,
    namespace: str | None = None, env: Mapping[str, str] | None = None, registry: ComponentRegistry | None = None,
) -> AsyncIterator[C]:
    """``async with open_component(doc, StateStore) as store:`` — built, initialised, closed on exit."""
    driver, metadata = build_component(document, app_id, contract=contract, namespace=namespace, env=env,
                                       registry=registry)
    try:
        await driver.init(metadata)
    except BaseException:
        with contextlib.suppress(Exception):
            await driver.close()
        raise
    try:
        yield driver
    finally:
        await driver.close()


def unique(label: str = "") -> str:
    """``conformance-<label>-<32 hex>``: a name no other test run uses."""
    return f"conformance-{label + '-' if label else ''}{uuid.uuid4().hex}"


class ConformanceSuite:
    """What every suite shares: the ``anyio`` mark and backend (asyncio), so subclasses need neither."""

    pytestmark = [pytest.mark.anyio]

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"
