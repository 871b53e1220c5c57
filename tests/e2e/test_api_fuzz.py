"""Fuzz every route of the public API against one real ``tandemd`` (beside an actor app).

Each example is one request: a route of a building block with fuzzed names,
query metadata, method token, content type and body (JSON shaped for the route,
salted with what JSON readers disagree on: NaN, lone surrogates, deep nesting,
huge numbers; or arbitrary bytes). Whatever comes in, the sidecar must answer in
Dapr's error shape, never with the catch-all 500 or a 5xx Dapr itself would not
give for that input, never log a traceback, and keep the data written before;
a value it accepted must read back as valid JSON, the same value.
"""
from __future__ import annotations

import http.client as http_client
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from support import Sidecar, SidecarLauncher, component_yaml, free_port, http, http_json, wait_until

pytestmark = pytest.mark.e2e

ACTOR_APP = Path(__file__).resolve().parents[1] / "apps" / "actor_app.py"
APP_ID = "fuzz"
SENTINEL = "sentinel"  # prefix of the data written before fuzzing: no fuzzed name starts with it
#: The 5xx codes Dapr itself answers for these bad requests (spec's error table), and nothing else.
DAPR_5XX = frozenset({
    "ERR_DIRECT_INVOKE",             # an app id that is invalid or that no sidecar serves
    "ERR_INVOKE_OUTPUT_BINDING",     # an unknown binding, a missing or unsupported operation
    "ERR_SECRET_GET",                # a secret the store does not hold
    "ERR_STATE_SAVE",                # an unparsable ttlInSeconds
    "ERR_STATE_TRANSACTION",         # any failure inside a transaction, an ETag mismatch included
    "ERR_PUBSUB_CLOUD_EVENTS_SER",   # a cloudevents+json body that is not a JSON CloudEvent
    "ERR_ACTOR_REMINDER_CREATE",     # a reminder or timer whose times cannot be read
    "ERR_ACTOR_TIMER_CREATE",
    "ERR_API_NOT_IMPLEMENTED",       # 501: an API this sidecar does not serve yet
})


@dataclass
class Call:
    family: str
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reaches_app: bool = False  # the app's own answer comes back: any status is the app's to give


# -- names, metadata and bodies -------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
NAME = _TEXT.filter(lambda s: not s.startswith(SENTINEL))
STATE_STORE = st.one_of(st.sampled_from(["mem", "sq"]), st.sampled_from(["mem", "sq"]), st.sampled_from(["nosuch", ""]),
                        NAME)
ACTOR_ID = NAME.filter(lambda s: s != "keeper")
POISON = st.sampled_from(["NaN", "Infinity", "-Infinity", '"\\ud800"', '"x\\udfff"', '"\\ud83d\\ude00"', "1e400",
                          "-0", "123456789012345678901234567890", '"\\u0000"', "null", '""'])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   _TEXT).map(lambda v: json.dumps(v))
DEEP = st.integers(100, 1200).map(lambda n: "[" * n + "]" * n)


def _container(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    array = st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
    obj = st.lists(st.tuples(_TEXT.map(json.dumps) | st.sampled_from(['"\\ud800"', '"\\udc00x"']), children),
                   max_size=4).map(
        lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}")
    return array | obj


VALUE = st.one_of(st.recursive(SCALAR | POISON, _container, max_leaves=12), POISON, DEEP)


def _obj(required: dict[str, st.SearchStrategy[str]] | None = None,
         **fields: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A JSON object with the ``required`` fields and some of ``fields`` (each a strategy of JSON text)."""
    return st.fixed_dictionaries(required or {}, optional=fields).map(
        lambda chosen: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in chosen.items()) + "}")


KEY = NAME.map(json.dumps) | POISON
META = st.dictionaries(_TEXT, _TEXT, max_size=3).map(json.dumps) | VALUE
STATE_ITEM = _obj({"key": NAME.map(json.dumps), "value": VALUE}, etag=SCALAR | POISON, metadata=META,
                  options=_obj(concurrency=SCALAR, consistency=SCALAR)) | _obj(key=KEY, value=VALUE)
SHAPED = {
    "save": st.lists(STATE_ITEM, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
    "bulk": _obj(keys=st.lists(KEY, max_size=3).map(lambda k: "[" + ",".join(k) + "]") | VALUE, metadata=META,
                 parallelism=VALUE),
    "transaction": _obj(operations=st.lists(_obj(
        operation=st.sampled_from(['"upsert"', '"delete"', '"merge"']) | VALUE, request=STATE_ITEM),
        max_size=3).map(lambda ops: "[" + ",".join(ops) + "]"), metadata=META),
    "query": _obj(filter=VALUE | _obj(EQ=VALUE, IN=VALUE, AND=VALUE), sort=VALUE, page=_obj(limit=VALUE, token=VALUE)),
    "bulk_publish": st.lists(_obj(entryId=SCALAR, event=VALUE, metadata=META, contentType=st.sampled_from(
        ['"application/json"', '"text/plain"', '"application/octet-stream"', '"application/cloudevents+json"'])),
        max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
    "lock": _obj(resourceId=SCALAR, lockOwner=SCALAR, expiryInSeconds=VALUE),
    "binding": _obj(operation=st.sampled_from(['"create"', '"get"', '"list"', '"delete"', '"nope"']) | VALUE,
                    data=VALUE, metadata=_obj(fileName=NAME.map(json.dumps) | VALUE)),
    "reminder": _obj(dueTime=SCALAR, period=SCALAR, ttl=SCALAR, data=VALUE, callback=SCALAR),
    "actor_state": st.lists(_obj(operation=st.sampled_from(['"upsert"', '"delete"']) | VALUE, request=_obj(
        key=KEY, value=VALUE, metadata=META)), max_size=3).map(lambda ops: "[" + ",".join(ops) + "]"),
}


def body_for(kind: str) -> st.SearchStrategy[bytes]:
    shaped = (SHAPED[kind] if kind in SHAPED else VALUE).map(lambda text: text.encode("utf-8", "surrogatepass"))
    return st.one_of(shaped, shaped, shaped, VALUE.map(lambda text: text.encode("utf-8", "surrogatepass")),
                     st.binary(max_size=64))


def seg(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return strategy.map(lambda s: quote(s, safe=""))


QUERY = st.dictionaries(_TEXT.map(lambda k: "metadata." + k) | _TEXT, _TEXT, max_size=3).map(
    lambda q: "?" + urlencode(q) if q else "")
METHOD_TOKEN = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO", "BREW", "M-SEARCH", "get"])
CONTENT_TYPE = st.sampled_from(["application/json", "text/plain", "application/octet-stream",
                                "application/cloudevents+json", "application/json; charset=utf-8", ""])


#: Every route family; those reading a JSON body several times, where bad input has most to break.
KINDS = [
    *["save"] * 6, *["transaction"] * 3, *["bulk"] * 2, *["query"] * 2, *["publish"] * 2, *["bulk_publish"] * 2,
    *["binding"] * 2, *["lock"] * 2, *["actor_state"] * 2, *["reminder"] * 2, "get", "delete", "invoke", "secret",
    "secret_bulk", "unlock", "actor_method", "actor_state_get", "timer", "metadata", "metadata_put", "healthz",
    "unimplemented", "unknown",
]


@st.composite
def calls(draw: st.DrawFn) -> Call:
    def m(*choices: str) -> str:
        return draw(st.one_of(st.sampled_from(choices), st.sampled_from(choices), METHOD_TOKEN))

    kind = draw(st.sampled_from(KINDS))
    store = draw(seg(STATE_STORE))
    name = draw(seg(NAME))
    call: Call
    if kind == "save":
        call = Call(kind, m("POST", "PUT"), f"/v1.0/state/{store}")
    elif kind in ("get", "delete"):
        call = Call(kind, m("GET" if kind == "get" else "DELETE"), f"/v1.0/state/{store}/{name or 'k'}")
    elif kind in ("bulk", "transaction"):
        call = Call(kind, m("POST", "PUT"), f"/v1.0/state/{store}/{kind}")
    elif kind == "query":
        call = Call(kind, m("POST", "PUT"), f"/v1.0-alpha1/state/{store}/query")
    elif kind == "publish":
        pubsub = draw(seg(st.sampled_from(["pubsub", "nosuch"]) | NAME))
        call = Call(kind, m("POST", "PUT"), f"/v1.0/publish/{pubsub}/{name}")
    elif kind == "bulk_publish":
        prefix = draw(st.sampled_from(["/v1.0-alpha1/publish/bulk", "/v1.0/publish/bulk"]))
        call = Call(kind, m("POST"), f"{prefix}/{draw(st.sampled_from(['pubsub', 'nosuch']))}/{name}")
    elif kind == "invoke":
        app = draw(seg(st.sampled_from([APP_ID]) | NAME))
        call = Call(kind, m("POST", "GET"), f"/v1.0/invoke/{app}/method/{name}", reaches_app=app == APP_ID)
    elif kind == "binding":
        call = Call(kind, m("POST", "PUT"), f"/v1.0/bindings/{draw(st.sampled_from(['files', 'nosuch']))}")
    elif kind == "secret":
        secrets = draw(st.sampled_from(["secrets", "nosuch"]))
        call = Call(kind, m("GET"), f"/v1.0/secrets/{secrets}/{name or 'x'}")
    elif kind == "secret_bulk":
        call = Call(kind, m("GET"), f"/v1.0/secrets/{draw(st.sampled_from(['secrets', 'nosuch']))}/bulk")
    elif kind in ("lock", "unlock"):
        locks = draw(st.sampled_from(["lock", "nosuch"]))
        call = Call(kind, m("POST"), f"/v1.0-alpha1/{kind}/{locks}")
    elif kind.startswith("actor") or kind in ("reminder", "timer"):
        actor = f"/v1.0/actors/{draw(seg(st.sampled_from(['Fuzz']) | NAME))}/{draw(seg(ACTOR_ID)) or 'a'}"
        if kind == "actor_method":
            call = Call(kind, m("PUT", "POST"), f"{actor}/method/{name}", reaches_app=True)
        elif kind == "actor_state":
            call = Call(kind, m("POST", "PUT"), f"{actor}/state")
        elif kind == "actor_state_get":
            call = Call(kind, m("GET"), f"{actor}/state/{name or 'k'}")
        else:
            call = Call(kind, m("POST", "PUT", "GET", "DELETE"), f"{actor}/{kind}s/{name or 'r'}")
    elif kind == "metadata":
        call = Call(kind, m("GET"), "/v1.0/metadata")
    elif kind == "metadata_put":
        call = Call(kind, m("PUT"), f"/v1.0/metadata/{name or 'attr'}")
    elif kind == "healthz":
        call = Call(kind, m("GET"), draw(st.sampled_from(["/v1.0/healthz", "/v1.0/healthz/outbound"])))
    elif kind == "unimplemented":
        prefix = draw(st.sampled_from(["/v1.0-alpha1/jobs", "/v1.0/configuration", "/v1.0-alpha1/configuration",
                                       "/v1.0-beta1/workflows", "/v1.0/workflows", "/v1.0-alpha1/crypto",
                                       "/v1.0-alpha1/conversation", "/v1.0-alpha2/conversation"]))
        call = Call(kind, m("GET", "POST"), f"{prefix}/{name}")
    else:
        call = Call(kind, m("GET", "POST"), f"/{name}/{draw(seg(NAME))}")
    call.path += draw(QUERY)
    if call.method not in ("GET", "HEAD", "get") or draw(st.booleans()):
        call.body = draw(body_for(kind))
    content_type = draw(CONTENT_TYPE)
    if content_type:
        call.headers["content-type"] = content_type
    if kind == "unknown" and draw(st.booleans()):
        target = draw(st.sampled_from([APP_ID]) | NAME.filter(lambda s: s.isascii() and s.isprintable()))
        call.headers["dapr-app-id"] = target
        call.reaches_app = target == APP_ID
    return call


# -- the sidecar under fuzz -------------------------------------------------------------------

@dataclass
class World:
    sidecar: Sidecar

    def send(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        conn = http_client.HTTPConnection("127.0.0.1", self.sidecar.http_port, timeout=30)
        try:
            conn.request(call.method, call.path, body=call.body or None,
                         headers={**call.headers, "content-length": str(len(call.body))})
            reply = conn.getresponse()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
        finally:
            conn.close()


def _listening(url: str) -> bool:
    try:
        return bool(http("GET", url, timeout=1)[0] == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("fuzz")
    (base / "files").mkdir()
    (base / "secrets.json").write_text(json.dumps({"db": {"password": "p"}, "token": "t"}))
    app_port, http_port = free_port(), free_port()
    app = subprocess.Popen([sys.executable, str(ACTOR_APP), str(app_port), str(http_port),
                            json.dumps({"entities": ["Fuzz"]})], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    launcher = SidecarLauncher(base)
    try:
        wait_until(lambda: _listening(f"http://127.0.0.1:{app_port}/stats"), "the actor app to listen")
        components = "---\n".join([
            component_yaml("mem", "state.in-memory"),
            component_yaml("sq", "state.sqlite", {"connectionString": str(base / "state.db"),
                                                  "actorStateStore": "true"}),
            component_yaml("pubsub", "pubsub.in-memory"),
            component_yaml("lock", "lock.in-memory"),
            component_yaml("files", "bindings.localstorage", {"rootPath": str(base / "files")}),
            component_yaml("secrets", "secretstores.local.file", {"secretsFile": str(base / "secrets.json")}),
        ])
        sidecar = launcher.start(components, app_id=APP_ID, args=(
            "--dapr-http-port", str(http_port), "--app-port", str(app_port), "--max-body-size", "64Ki"))
        wait_until(lambda: (http_json("GET", sidecar.url + "/v1.0/metadata")[1] or {})
                   .get("actorRuntime", {}).get("hostReady"), "the sidecar to host the app's actors")
        yield World(sidecar)
    finally:
        launcher.stop_all()
        app.terminate()
        app.wait()


def _write_sentinels(world: World) -> dict[str, Any]:
    url = world.sidecar.url
    written: dict[str, Any] = {}
    for store in ("mem", "sq"):
        items = [{"key": f"{SENTINEL}-{i}", "value": {"n": i, "text": "kept \U0001F600", "list": [1.5, None]}}
                 for i in range(3)]
        assert http_json("POST", f"{url}/v1.0/state/{store}", items)[0] == 204
        written.update({f"{store}/{item['key']}": item["value"] for item in items})
    assert http_json("POST", f"{url}/v1.0-alpha1/lock/lock",
                     {"resourceId": SENTINEL, "lockOwner": "keeper", "expiryInSeconds": 3600}) \
        == (200, {"success": True})
    assert http_json("PUT", f"{url}/v1.0/actors/Fuzz/keeper/method/increment", 7)[0] == 200
    return written


def _check_reply(call: Call, status: int, headers: dict[str, str], body: bytes) -> None:
    where = (f"{call.method} {call.path[:200]!r} body={call.body[:200]!r} headers={call.headers} "
             f"-> {status} {body[:300]!r}")
    if call.reaches_app:
        assert not (status == 500 and b'"errorCode":"ERROR"' in body.replace(b" ", b"")), where
        return
    if status < 400 or call.method == "HEAD":
        return
    assert headers.get("content-type", "").startswith("application/json"), where
    error = json.loads(body)
    assert isinstance(error, dict) and isinstance(error.get("errorCode"), str), where
    assert error["errorCode"].startswith("ERR_"), where  # never the catch-all ERROR
    assert isinstance(error.get("message"), str) or "failedEntries" in error, where
    if status >= 500:
        assert error["errorCode"] in DAPR_5XX, where


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _accepted_values(call: Call) -> list[tuple[str, str, Any]]:
    """``(store, key, value)`` of a save the sidecar accepted, as Python's lenient reader sees the body
    (NaN and 1e400 included, on purpose): each must read back as that very value, in valid JSON."""
    if call.family != "save" or "ttl" in call.path.lower():
        return []
    try:
        items = json.loads(call.body)
    except ValueError:
        return []
    store = unquote(call.path.split("?")[0].split("/")[3])
    found: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or "ttl" in json.dumps(item.get("metadata")).lower():
            return []  # an expiring value may be gone by the time it is read
        key = item.get("key")
        if not isinstance(key, str) or not key or key in found or "value" not in item:
            return []
        found[key] = item["value"]
    return [(store, key, value) for key, value in found.items()]


def _check_round_trip(world: World, store: str, key: str, value: Any) -> None:
    # Bulk get names the key in the body: any key the store took can be asked for.
    status, _, data = http("POST", f"{world.sidecar.url}/v1.0/state/{quote(store, safe='')}/bulk",
                           json.dumps({"keys": [key]}).encode(), {"content-type": "application/json"})
    assert status == 200, (store, key, status, data)
    [item] = json.loads(data, parse_constant=_no_constant)
    assert item.get("data") == value, (store, key, data)


_JSON = {"content-type": "application/json"}
#: Inputs known to have broken the sidecar once, tried on every run before the generated ones.
SEEDS = [
    Call("save", "POST", "/v1.0/state/mem", b'[{"key": "seed-nan", "value": NaN}]', _JSON),
    Call("save", "POST", "/v1.0/state/sq", b'[{"key": "seed-inf", "value": {"a": [-Infinity]}}]', _JSON),
    Call("save", "POST", "/v1.0/state/sq", b'[{"key": "seed-big", "value": 1e400}]', _JSON),
    Call("save", "PUT", "/v1.0/state/mem", b'[{"key": "seed-surrogate", "value": "\\ud800"}]', _JSON),
    Call("save", "POST", "/v1.0/state/sq", b'[{"key": "\\udfff", "value": 1}]', _JSON),
    Call("save", "POST", "/v1.0/state/mem", b'[{"key": "seed-deep", "value": ' + b"[" * 900 + b"]" * 900 + b"}]",
         _JSON),
    Call("transaction", "POST", "/v1.0/state/sq/transaction",
         b'{"operations": [{"operation": "upsert", "request": {"key": "seed-t", "value": "\\ud800"}}]}', _JSON),
    Call("publish", "POST", "/v1.0/publish/pubsub/seed", b'{"text": "\\udc00"}', _JSON),
    Call("bulk_publish", "POST", "/v1.0-alpha1/publish/bulk/pubsub/seed",
         b'[{"entryId": "1", "event": NaN, "contentType": "application/json"}]', _JSON),
    Call("save", "BREW", "/v1.0/state/mem", b"[]", _JSON),
    Call("unimplemented", "POST", "/v1.0-alpha1/jobs/seed", b"{}", _JSON),
    Call("bulk", "POST", "/v1.0/state/nosuch/bulk", b"{not json", _JSON),
]


def _seeds(test: Any) -> Any:
    for call in reversed(SEEDS):
        test = example(call=call)(test)
    return test


def test_no_request_gets_a_traceback_a_stray_5xx_or_a_shapeless_error(world: World) -> None:
    written = _write_sentinels(world)

    @settings(max_examples=500, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(calls())
    @_seeds
    def fuzz(call: Call) -> None:
        status, headers, body = world.send(call)
        _check_reply(call, status, headers, body)
        if 200 <= status < 300:
            for store, key, value in _accepted_values(call):
                _check_round_trip(world, store, key, value)

    fuzz()

    url = world.sidecar.url
    for where, value in written.items():
        store, key = where.split("/", 1)
        assert http_json("GET", f"{url}/v1.0/state/{store}/{key}") == (200, value), where
    assert http_json("POST", f"{url}/v1.0-alpha1/lock/lock",
                     {"resourceId": SENTINEL, "lockOwner": "thief", "expiryInSeconds": 5}) == (200, {"success": False})
    assert http_json("GET", f"{url}/v1.0/actors/Fuzz/keeper/state/count") == (200, 7)
    assert "Traceback" not in world.sidecar.log()
