"""Secret stores through a real ``tandemd``: the secrets API, scopes, ``secretKeyRef``, quiet logs."""
from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import component_yaml, free_port, http, http_json, run_tandemd_until_exit

pytestmark = pytest.mark.e2e

# Distinctive values: none of them may ever show in a log or in the metadata API.
SECRETS = {
    "password": "pw-7f3a9c-value",
    "db": {"user": "dbuser-value", "pass": "dbpass-5e2b-value"},
    "apiKey": "apikey-c4d1-value",
    "empty": {},
}
ENV_SECRET = "env-8b6e-value"
SECRET_VALUES = ("pw-7f3a9c-value", "dbuser-value", "dbpass-5e2b-value", "apikey-c4d1-value", ENV_SECRET)


def secrets_file(folder: Path, document: dict[str, Any] | None = None) -> Path:
    path = folder / "secrets.json"
    path.write_text(json.dumps(SECRETS if document is None else document))
    return path


def stores_yaml(path: Path) -> str:
    return "---\n".join([
        component_yaml("localsecrets", "secretstores.local.file", {"secretsFile": str(path)}),
        component_yaml("multisecrets", "secretstores.local.file",
                       {"secretsFile": str(path), "multiValued": "true"}),
        component_yaml("envsecrets", "secretstores.local.env", {"prefix": "TANDEM_E2E_"}),
    ])


def config_file(folder: Path, scopes: list[dict[str, Any]]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration",
                                    "metadata": {"name": "appconfig"}, "spec": {"secrets": {"scopes": scopes}}}))
    return path


def test_get_and_bulk_from_file_and_env_stores(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(stores_yaml(secrets_file(tmp_path)), env={"TANDEM_E2E_TOKEN": ENV_SECRET})
    base = f"{sidecar.url}/v1.0/secrets"
    assert http_json("GET", f"{base}/localsecrets/password") == (200, {"password": SECRETS["password"]})
    assert http_json("GET", f"{base}/localsecrets/db:user") == (200, {"db:user": "dbuser-value"})
    assert http_json("GET", f"{base}/multisecrets/db") == (200, SECRETS["db"])
    assert http_json("GET", f"{base}/envsecrets/TOKEN?metadata.ignored=1") == (200, {"TOKEN": ENV_SECRET})
    status, headers, body = http("GET", f"{base}/multisecrets/empty")
    assert (status, body) == (204, b"")
    status, bulk = http_json("GET", f"{base}/localsecrets/bulk")
    assert status == 200 and bulk == {
        "password": {"password": SECRETS["password"]}, "db:user": {"db:user": "dbuser-value"},
        "db:pass": {"db:pass": "dbpass-5e2b-value"}, "apiKey": {"apiKey": "apikey-c4d1-value"}}
    assert http_json("GET", f"{base}/envsecrets/bulk")[1] == {"TOKEN": {"TOKEN": ENV_SECRET}}
    status, headers, _ = http("GET", f"{base}/multisecrets/bulk")
    assert (status, headers["content-type"]) == (200, "application/json")


def test_errors_have_daprs_codes(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(stores_yaml(secrets_file(tmp_path)))
    base = f"{sidecar.url}/v1.0/secrets"
    assert http_json("GET", f"{base}/nope/password") == (
        401, {"errorCode": "ERR_SECRET_STORE_NOT_FOUND", "message": "failed finding secret store with key nope"})
    assert http_json("GET", f"{base}/nope/bulk")[0] == 401
    status, reply = http_json("GET", f"{base}/localsecrets/missing")
    assert (status, reply["errorCode"]) == (500, "ERR_SECRET_GET")
    assert reply["message"].startswith("failed getting secret with key missing from secret store localsecrets")
    status, reply = http_json("GET", f"{base}/multisecrets/db:user")  # flattened names only when single-valued
    assert (status, reply["errorCode"]) == (500, "ERR_SECRET_GET")
    empty = tandemd({"statestore": "state.in-memory"})
    assert http_json("GET", f"{empty.url}/v1.0/secrets/localsecrets/password") == (
        500, {"errorCode": "ERR_SECRET_STORES_NOT_CONFIGURED", "message": "secret store is not configured"})


def test_scopes_deny_with_403_and_bulk_leaves_denied_out(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = config_file(tmp_path, [
        {"storeName": "localsecrets", "defaultAccess": "deny", "allowedSecrets": ["password", "db:user"]},
        {"storeName": "multisecrets", "defaultAccess": "allow", "deniedSecrets": ["db"]},
        {"storeName": "envsecrets", "defaultAccess": "deny"},
    ])
    sidecar = tandemd(stores_yaml(secrets_file(tmp_path)), args=("--config", str(config)),
                      env={"TANDEM_E2E_TOKEN": ENV_SECRET})
    base = f"{sidecar.url}/v1.0/secrets"
    assert http_json("GET", f"{base}/localsecrets/password")[0] == 200
    assert http_json("GET", f"{base}/localsecrets/apiKey") == (403, {
        "errorCode": "ERR_PERMISSION_DENIED",
        "message": 'access denied by policy to get "apiKey" from "localsecrets"'})
    assert http_json("GET", f"{base}/localsecrets/missing")[0] == 403  # scopes first, then the store
    assert set(http_json("GET", f"{base}/localsecrets/bulk")[1]) == {"password", "db:user"}
    assert http_json("GET", f"{base}/multisecrets/db")[0] == 403
    assert set(http_json("GET", f"{base}/multisecrets/bulk")[1]) == {"password", "apiKey", "empty"}
    assert http_json("GET", f"{base}/envsecrets/TOKEN")[0] == 403
    assert http_json("GET", f"{base}/envsecrets/bulk") == (200, {})


def test_malformed_scopes_stop_the_sidecar(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    resources.mkdir()
    (resources / "stores.yaml").write_text(stores_yaml(secrets_file(tmp_path)))
    config = config_file(tmp_path, [{"storeName": "localsecrets", "defaultAccess": "sometimes"}])
    code, output = run_tandemd_until_exit(
        ["--app-id", "bad", "--dapr-http-port", "0", "--resources-path", str(resources), "--config", str(config)],
        env={"TANDEM_HOME": str(tmp_path / "home")})
    assert code != 0 and "config.yaml" in output and "defaultAccess" in output
    assert "Traceback" not in output


# -- secretKeyRef ---------------------------------------------------------------------------


def sqlite_from_secret(db: Path, ref: dict[str, str], store: str | None = "localsecrets") -> str:
    doc = yaml.safe_load(component_yaml("statestore", "state.sqlite"))
    doc["spec"]["metadata"] = [{"name": "connectionString", "secretKeyRef": ref}]
    if store is not None:
        doc["auth"] = {"secretStore": store}
    return yaml.safe_dump(doc, sort_keys=False)


def test_secret_key_ref_configures_a_component_and_stays_out_of_logs(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "db-from-secret-4d2c.sqlite"
    document = {**SECRETS, "sqlite": {"connection": str(db)}}
    # The state store's file comes before the secret store's: order in the files must not matter.
    components = sqlite_from_secret(db, {"name": "sqlite:connection"}) + "---\n" + stores_yaml(
        secrets_file(tmp_path, document))
    sidecar = tandemd(components, args=("--log-level", "debug"), env={"TANDEM_E2E_TOKEN": ENV_SECRET})
    state = f"{sidecar.url}/v1.0/state/statestore"
    assert http_json("POST", state, [{"key": "k", "value": {"n": 1}}])[0] == 204
    assert http_json("GET", f"{state}/k") == (200, {"n": 1})
    assert db.is_file()
    # The secrets API at debug level, success and failure, leaves no value in the log either.
    for path in ("localsecrets/password", "multisecrets/db", "localsecrets/bulk", "envsecrets/TOKEN",
                 "localsecrets/nope"):
        http("GET", f"{sidecar.url}/v1.0/secrets/{path}")
    status, _, body = http("GET", f"{sidecar.url}/v1.0/metadata")
    assert status == 200
    metadata = json.loads(body)
    assert {c["name"]: c["type"] for c in metadata["components"]} == {
        "statestore": "state.sqlite", "localsecrets": "secretstores.local.file",
        "multisecrets": "secretstores.local.file", "envsecrets": "secretstores.local.env"}
    sidecar.stop()
    log = sidecar.log()
    assert "DEBUG" in log and "secret with key nope" in log  # debug logging was on
    for value in (*SECRET_VALUES, db.name):
        assert value not in log, f"{value!r} leaked into the log"
        assert value not in body.decode(), f"{value!r} leaked into the metadata API"


def start_with_refs(tmp_path: Path, components: str) -> tuple[int, str]:
    resources = tmp_path / "components"
    resources.mkdir(exist_ok=True)
    (resources / "state.yaml").write_text(components)
    return run_tandemd_until_exit(
        ["--app-id", "bad", "--dapr-http-port", "0", "--resources-path", str(resources)],
        env={"TANDEM_HOME": str(tmp_path / "home")})


@pytest.mark.parametrize("ref,store,problem", [
    ({"name": "sqlite", "key": "nope"}, "localsecrets",
     "secret 'sqlite' key 'nope' not found in secret store 'localsecrets'"),
    ({"name": "nothing-here"}, "localsecrets",
     "secret 'nothing-here' key 'nothing-here' not found in secret store 'localsecrets'"),
    ({"name": "sqlite", "key": "connection"}, "vault", "secret store 'vault' (auth.secretStore) is not loaded"),
    ({"name": "sqlite", "key": "connection"}, None, "set auth.secretStore"),
])
def test_a_missing_secret_stops_the_sidecar_naming_component_and_secret(
    tmp_path: Path, ref: dict[str, str], store: str | None, problem: str
) -> None:
    db = tmp_path / "db-from-secret-4d2c.sqlite"
    document = {**SECRETS, "sqlite": {"connection": str(db)}}
    code, output = start_with_refs(tmp_path, sqlite_from_secret(db, ref, store) + "---\n" + stores_yaml(
        secrets_file(tmp_path, document)))
    assert code != 0
    assert "state.yaml" in output and "'statestore'" in output and "'connectionString'" in output
    assert problem in output
    assert "Traceback" not in output
    for value in (*SECRET_VALUES, db.name):
        assert value not in output


# -- a Redis password from a secret store (when tandem-redis and redis-server are installed) --------


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A private ``redis-server`` that requires a password: its address and the password."""
    binary = shutil.which("redis-server")
    if binary is None or importlib.util.find_spec("tandem_redis") is None:
        pytest.skip("needs redis-server and the tandem-redis plugin")
    port, password = free_port(), "redis-pw-31e8-value"
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", password, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield f"127.0.0.1:{port}", password
    finally:
        server.terminate()
        server.wait(10)


def test_a_redis_password_from_a_secret_store(tandemd, tmp_path: Path, redis_with_password) -> None:  # type: ignore[no-untyped-def]
    host, password = redis_with_password
    doc = yaml.safe_load(component_yaml("statestore", "state.redis", {"redisHost": host}))
    doc["spec"]["metadata"].append({"name": "redisPassword", "secretKeyRef": {"name": "redis", "key": "password"}})
    doc["auth"] = {"secretStore": "multisecrets"}  # multi-valued: secret "redis" holds the key "password"
    stores = stores_yaml(secrets_file(tmp_path, {**SECRETS, "redis": {"password": password}}))
    sidecar = tandemd(yaml.safe_dump(doc) + "---\n" + stores, args=("--log-level", "debug"))
    state = f"{sidecar.url}/v1.0/state/statestore"
    assert http_json("POST", state, [{"key": "k", "value": "v"}])[0] == 204
    assert http_json("GET", f"{state}/k") == (200, "v")
    sidecar.stop()
    assert password not in sidecar.log()
