"""A real tandemd says once, at start-up, what it loaded but does not apply, naming the file."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from click.testing import CliRunner

from support import SidecarLauncher, component_yaml
from tandem.sidecar.cli.main import cli

pytestmark = pytest.mark.e2e

RESILIENCY = textwrap.dedent("""\
    apiVersion: dapr.io/v1alpha1
    kind: Resiliency
    metadata: {name: myresiliency}
    spec:
      policies: {retries: {retryForever: {policy: constant, duration: 5s, maxRetries: -1}}}
      targets: {apps: {orders: {retry: retryForever}}}
    """)
ENDPOINT = textwrap.dedent("""\
    apiVersion: dapr.io/v1alpha1
    kind: HTTPEndpoint
    metadata: {name: github}
    spec: {baseUrl: https://api.github.com}
    """)
CONFIG = textwrap.dedent("""\
    apiVersion: dapr.io/v1alpha1
    kind: Configuration
    metadata: {name: appconfig}
    spec:
      tracing: {samplingRate: "1"}
      accessControl: {defaultAction: deny}
      features: [{name: ActorStateTTL, enabled: true}, {name: SomethingNew, enabled: true}]
    """)


def test_the_sidecar_warns_once_about_each_thing_it_does_not_apply(tmp_path: Path) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "resiliency.yaml").write_text(RESILIENCY)
    (resources / "endpoint.yaml").write_text(ENDPOINT)
    (resources / "state.yaml").write_text(component_yaml(
        "statestore", "state.sqlite", {"connectionString": str(tmp_path / "s.db"), "tableNmae": "mine"}))
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    launcher = SidecarLauncher(tmp_path)
    try:
        sidecar = launcher.start(resources=resources, args=("--config", str(config), "--metrics-port", "0"))
        lines = sidecar.log().splitlines()
    finally:
        launcher.stop_all()

    def said(*parts: str) -> list[str]:
        return [line for line in lines if all(p in line for p in parts)]

    assert len(said("resiliency.yaml", "Resiliency 'myresiliency' is not applied")) == 1
    assert len(said("endpoint.yaml", "HTTPEndpoint 'github' is not applied")) == 1
    assert len(said("state.yaml", "'tableNmae'", "did you mean 'tableName'")) == 1
    assert len(said("config.yaml", "spec.accessControl: not applied")) == 1
    assert len(said("config.yaml", "'SomethingNew'")) == 1
    assert not said("tracing", "not applied") and not said("ActorStateTTL")  # applied: nothing to say

    # tandem doctor lists the very same warnings, from the same function.
    doctor = CliRunner().invoke(cli, ["doctor", "-d", str(resources), "-c", str(config), "-a", "testapp"])
    warnings = [line.removeprefix("warning").strip() for line in doctor.output.splitlines()
                if line.startswith("warning")]
    logged = [line.split("tandem.sidecar: ", 1)[1] for line in lines if " WARNING " in line and ".yaml: " in line]
    assert sorted(warnings) == sorted(logged) and len(warnings) == 5


def test_daprd_flags_it_ignores_are_named_once(tmp_path: Path) -> None:
    launcher = SidecarLauncher(tmp_path)
    try:
        sidecar = launcher.start({}, args=("--dapr-grpc-port", "50001", "--app-max-concurrency", "1",
                                           "--metrics-port", "0"))
        log = sidecar.log()
    finally:
        launcher.stop_all()
    assert log.count("--dapr-grpc-port is accepted for daprd compatibility but not applied") == 1
    assert log.count("--app-max-concurrency is accepted for daprd compatibility but not applied") == 1
    assert "--placement-host-address" not in log  # not given: nothing said
