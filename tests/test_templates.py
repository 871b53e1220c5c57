"""The cookiecutter templates test themselves: generate, install in a fresh venv, run the project's tests.

Every option combination of the ``service`` template (with_method × with_topic ×
with_binding: 8) and every kind of the ``plugin`` template (state, pubsub, binding) is
generated with cookiecutter's API, installed into a new virtual environment and tested
with the generated project's own test command. All 8 service suites run (each takes a
few seconds), so no combination is left to chance.

The fresh venv: ``python -m venv --without-pip`` plus a ``.pth`` file that adds *this*
interpreter's site-packages (tandem, cookiecutter, pytest, pip … already installed) behind
its own. (``--system-site-packages`` would not do: run from a venv, it exposes the base
interpreter's packages, not ours.) The generated project itself is installed fresh, with
``pip install --no-deps --no-build-isolation -e``, so its own metadata — the plugin's
entry point above all — comes from the generated files.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "cookiecutter-template"
YES_NO = ("yes", "no")
SERVICE_OPTIONS = list(itertools.product(YES_NO, YES_NO, YES_NO))
PLUGIN_KINDS = {"state": "state.tplstate", "pubsub": "pubsub.tplpubsub", "binding": "bindings.tplbinding"}
#: What each sample driver is built on from the toolkit under the contracts.
TOOLKIT = {"state": "class MemoryStore(AtomicStateStore)", "pubsub": "SubscriptionLoop(source, handler"}
_LISTENING = re.compile(r"listening on http://[^:\s]+:(\d+)")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """Our environment minus pytest's own switches and any sidecar address, with a private TANDEM_HOME."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "DAPR_")) and k not in ("APP_ID", "APP_PORT", "PYTHONPATH")}
    env["TANDEM_HOME"] = str(tmp_path / "tandem-home")
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _venv(tmp_path: Path, env: dict[str, str]) -> Path:
    """A new venv whose packages fall back to this interpreter's; returns its python."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "_tandem_parent.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def _generate(template: str, tmp_path: Path, context: dict[str, str]) -> Path:
    from cookiecutter.main import cookiecutter

    out = tmp_path / "out"
    project = cookiecutter(str(TEMPLATES), directory=template, no_input=True, extra_context=context,
                           output_dir=str(out), default_config=True)
    return Path(project)


def _install_and_test(project: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Install `project` in a fresh venv and run its own test command there."""
    env = _clean_env(tmp_path)
    python = _venv(tmp_path, env)
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(project)],
         tmp_path, env)
    done = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env, timeout=150)
    assert re.search(r"\d+ passed", done.stdout), done.stdout
    return python, env


# -- the root: both templates on offer --------------------------------------------------


def test_root_lists_both_templates_for_plain_cookiecutter() -> None:
    root = json.loads((TEMPLATES / "cookiecutter.json").read_text())
    assert {name: spec["path"] for name, spec in root["templates"].items()} == {
        "service": "./service", "plugin": "./plugin"}
    for name in root["templates"]:
        assert (TEMPLATES / name / "cookiecutter.json").is_file()


def test_plain_cookiecutter_no_input_gives_the_first_template(tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    project = Path(cookiecutter(str(TEMPLATES), no_input=True, output_dir=str(tmp_path), default_config=True))
    assert (project / "app.py").is_file() and (project / "components" / "statestore.yaml").is_file()


# -- service ----------------------------------------------------------------------------


@pytest.mark.parametrize(("with_method", "with_topic", "with_binding"), SERVICE_OPTIONS,
                         ids=["-".join(f"{n}={v}" for n, v in zip("mtb", o, strict=True)) for o in SERVICE_OPTIONS])
def test_service_combination_installs_and_passes_its_tests(
    tmp_path: Path, with_method: str, with_topic: str, with_binding: str
) -> None:
    context = {"project_name": "Shop Orders", "app_id": "orders", "with_method": with_method,
               "with_topic": with_topic, "with_binding": with_binding}
    project = _generate("service", tmp_path, context)
    assert project.name == "shop-orders"
    app = (project / "app.py").read_text()
    assert ("@app.method(" in app) == (with_method == "yes")
    assert ("@app.topic(" in app) == (with_topic == "yes")
    assert ("@app.binding(" in app) == (with_binding == "yes")
    assert "@app.actor" not in app  # with_actor defaults to no
    assert (project / "components" / "cron.yaml").exists() == (with_binding == "yes")
    assert "./.tandem/state.db" in (project / "components" / "statestore.yaml").read_text()
    for name in ("Dockerfile", "README.md", "Makefile", "pyproject.toml", "tests/test_app.py"):
        assert (project / name).is_file(), name
    readme = (project / "README.md").read_text()
    assert "tandem run --app-id orders --app-port 8000 --resources-path components -- python app.py" in readme
    assert app.rstrip().endswith("app.run()  # uvicorn on $APP_PORT (set by `tandem run --app-port`), 127.0.0.1")
    assert "Client.from_env" not in app  # handlers take the app's one client
    _install_and_test(project, tmp_path)


def test_service_with_the_actor_installs_and_passes_its_tests(tmp_path: Path) -> None:
    context = {"project_name": "Counters", "with_method": "no", "with_topic": "no", "with_binding": "no",
               "with_actor": "yes"}
    project = _generate("service", tmp_path, context)
    app = (project / "app.py").read_text()
    assert "@app.actor\nclass Counter(Actor):" in app and "@app.method(" not in app
    assert "Counter" in (project / "README.md").read_text()
    _install_and_test(project, tmp_path)


# -- plugin -----------------------------------------------------------------------------


def _tandemd_loads(python: Path, env: dict[str, str], tmp_path: Path, ctype: str) -> dict[str, Any]:
    """Start ``tandemd`` from the venv on a component file of `ctype`; return its metadata."""
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "plugin.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: fromplugin\n"
        f"spec:\n  type: {ctype}\n  version: v1\n  metadata: []\n")
    log_path = tmp_path / "tandemd.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(python), "-m", "tandem.sidecar", "--app-id", "plugincheck",
                                 "--resources-path", str(resources), "--dapr-http-port", "0"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            assert proc.poll() is None, f"tandemd exited {proc.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"tandemd did not start:\n{log_path.read_text()}"
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            port = int(found.group(1)) if found else None
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1.0/healthz", timeout=2) as reply:
                    if reply.status == 204:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"tandemd never healthy:\n{log_path.read_text()}"
            time.sleep(0.05)
        with urllib.request.urlopen(f"{base}/v1.0/metadata", timeout=5) as reply:
            metadata: dict[str, Any] = json.loads(reply.read())
        return metadata
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("kind", sorted(PLUGIN_KINDS))
def test_plugin_kind_installs_passes_its_tests_and_loads_in_tandemd(tmp_path: Path, kind: str) -> None:
    ctype = PLUGIN_KINDS[kind]
    project = _generate("plugin", tmp_path, {"project_name": f"tandem-tpl{kind}", "kind": kind})
    package = f"tandem_tpl{kind}"
    assert (project / package / f"{kind}.py").is_file()
    assert sorted(p.name for p in (project / "tests").glob("test_*.py")) == [f"test_{kind}.py"]
    assert f"{package} = {package}.plugin" in (project / "setup.cfg").read_text()
    assert f"`{ctype}`" in (project / "README.md").read_text()
    if kind in TOOLKIT:  # the sample driver stands on the toolkit, and its own tests check that
        assert TOOLKIT[kind] in (project / package / f"{kind}.py").read_text()
        assert "toolkit" in (project / "tests" / f"test_{kind}.py").read_text()
    python, env = _install_and_test(project, tmp_path)

    listed = _run([str(python), "-c", "from tandem.sidecar.plugins import component_registry, plugin_manager; "
                   "print(component_registry(plugin_manager()).types())"], tmp_path, env).stdout
    assert repr(ctype) in listed

    metadata = _tandemd_loads(python, env, tmp_path, ctype)
    loaded = {c["name"]: c["type"] for c in metadata.get("components", [])}
    assert loaded.get("fromplugin") == ctype, metadata


def test_plugin_rejects_a_type_of_the_wrong_kind(tmp_path: Path) -> None:
    from cookiecutter.exceptions import FailedHookException

    with pytest.raises(FailedHookException):
        _generate("plugin", tmp_path, {"kind": "state", "component_type": "pubsub.oops"})


# -- the CLI ----------------------------------------------------------------------------


def _tandem(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tandem.sidecar.cli.main", *args], cwd=cwd,
                          env=_clean_env(cwd), capture_output=True, text=True, timeout=60)


def test_tandem_new_service_no_input(tmp_path: Path) -> None:
    done = _tandem("new", "service", "--no-input", "--output-dir", str(tmp_path / "x"),
                   "-x", "project_name=Billing", "-x", "with_binding=no", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "x" / "billing"
    assert f"Created {project}" in done.stdout
    assert 'APP_ID = "billing"' in (project / "app.py").read_text()
    assert not (project / "components" / "cron.yaml").exists()


def test_tandem_new_plugin_no_input(tmp_path: Path) -> None:
    done = _tandem("new", "plugin", "--no-input", "-o", str(tmp_path), "-x", "kind=pubsub", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "tandem-mystore"
    assert "type: pubsub.mystore" in (project / "README.md").read_text()
    assert (project / "tandem_mystore" / "pubsub.py").is_file()


def test_tandem_new_refuses_a_malformed_extra_context(tmp_path: Path) -> None:
    done = _tandem("new", "service", "--no-input", "-o", str(tmp_path), "-x", "oops", cwd=tmp_path)
    assert done.returncode != 0
    assert "NAME=VALUE" in done.stderr
