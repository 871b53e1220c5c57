"""The Query API DSL: parsing, evaluation, the drivers' prefix/expiry scoping and the block's checks."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tandem.sidecar.blocks.base import LoadedComponent
from tandem.sidecar.blocks.state import StateBlock
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.state import GetRequest, SetRequest, StateError, StateFeature, StateStore
from tandem.sidecar.components.state_query import (
    And,
    Compare,
    CompareOp,
    In,
    Or,
    Query,
    QueryPage,
    QueryRow,
    SortKey,
    parse_query,
    run_query,
)
from tandem.sidecar.drivers.memory_state import MemoryStateStore
from tandem.sidecar.drivers.sqlite_state import SqliteStateStore
from tandem.sidecar.errors import DaprError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Dapr's docs example, trimmed: employees with an org, an id, a city and a state.
PEOPLE: dict[str, dict[str, Any]] = {
    "1": {"person": {"org": "Dev Ops", "id": 1036}, "city": "San Francisco", "state": "CA"},
    "2": {"person": {"org": "Hardware", "id": 1028}, "city": "Seattle", "state": "WA"},
    "3": {"person": {"org": "Finance", "id": 1071}, "city": "Sacramento", "state": "CA"},
    "4": {"person": {"org": "Dev Ops", "id": 1042}, "city": "Spokane", "state": "WA"},
    "5": {"person": {"org": "Hardware", "id": 1007}, "city": "Los Angeles", "state": "CA"},
    "6": {"person": {"org": "Dev Ops", "id": 1054}, "city": "Portland", "state": "OR"},
}


def rows(docs: dict[str, Any]) -> list[QueryRow]:
    return [(key, json.dumps(doc).encode(), f"etag-{key}") for key, doc in docs.items()]


def keys(query: dict[str, Any], docs: dict[str, Any] | None = None) -> list[str]:
    page = run_query(parse_query(query), rows(PEOPLE if docs is None else docs))
    return [item.key for item in page.results]


# -- parsing -----------------------------------------------------------------------


def test_parse_a_full_query() -> None:
    query = parse_query({
        "filter": {"OR": [{"EQ": {"person.org": "Dev Ops"}},
                          {"AND": [{"IN": {"state": ["CA", "WA"]}}, {"GT": {"person.id": 1000}}]}]},
        "sort": [{"key": "state", "order": "DESC"}, {"key": "person.id"}],
        "page": {"limit": 3, "token": "6"},
    })
    assert query == Query(
        filter=Or((Compare(CompareOp.EQ, "person.org", "Dev Ops"),
                   And((In("state", ("CA", "WA")), Compare(CompareOp.GT, "person.id", 1000))))),
        sort=(SortKey("state", descending=True), SortKey("person.id")),
        limit=3, token="6",
    )


def test_parse_an_empty_query_means_everything() -> None:
    assert parse_query({}) == Query()
    assert parse_query({"filter": None, "sort": [], "page": {"token": ""}}) == Query()


def test_sort_and_page_fields_are_case_insensitive_like_go_structs() -> None:
    query = parse_query({"sort": [{"Key": "city", "Order": "desc"}], "page": {"Limit": 2}})
    assert query.sort == (SortKey("city", descending=True),) and query.limit == 2


@pytest.mark.parametrize("body,message", [
    ([], "query must be a JSON object"),
    ({"filter": "EQ"}, "filter: must be an object with one operator"),
    ({"filter": {}}, "filter: must have exactly one operator"),
    ({"filter": {"EQ": {"a": 1}, "IN": {"b": [1]}}}, "got EQ, IN"),
    ({"filter": {"LIKE": {"a": "x%"}}}, "filter.LIKE: unknown operator 'LIKE'"),
    ({"filter": {"eq": {"a": 1}}}, "unknown operator 'eq'"),
    ({"filter": {"EQ": {"a": 1, "b": 2}}}, "filter.EQ: must contain exactly one field/value pair, got 2"),
    ({"filter": {"EQ": {}}}, "exactly one field/value pair, got 0"),
    ({"filter": {"EQ": [1]}}, "filter.EQ: must be an object"),
    ({"filter": {"IN": {"state": "CA"}}}, "the value of 'state' must be an array, got a string"),
    ({"filter": {"GT": {"n": True}}}, "filter.GT: the value of 'n' must be a number or a string, got a boolean"),
    ({"filter": {"LTE": {"n": None}}}, "got null"),
    ({"filter": {"EQ": {"a..b": 1}}}, "invalid field path 'a..b'"),
    ({"filter": {"EQ": {"": 1}}}, "invalid field path ''"),
    ({"filter": {"AND": {"EQ": {"a": 1}}}}, "filter.AND: must be an array of filters"),
    ({"filter": {"OR": [{"EQ": {"a": 1}}]}}, "filter.OR: must contain at least two filters, got 1"),
    ({"filter": {"AND": [{"EQ": {"a": 1}}, {"NOPE": {"a": 1}}]}}, "filter.AND[1].NOPE: unknown operator"),
    ({"sort": {"key": "a"}}, "sort: must be an array"),
    ({"sort": ["a"]}, "sort[0]: must be an object"),
    ({"sort": [{"order": "ASC"}]}, "sort[0]: \"key\" must be a string"),
    ({"sort": [{"key": "a", "order": "UP"}]}, "sort[0]: invalid order 'UP'; use ASC or DESC"),
    ({"sort": [{"key": "a", "order": 1}]}, "invalid order 1"),
    ({"page": [10]}, "page: must be an object"),
    ({"page": {"limit": -1}}, "page.limit: must be a non-negative integer, got -1"),
    ({"page": {"limit": 2.5}}, "got 2.5"),
    ({"page": {"limit": "10"}}, "got \"10\""),
    ({"page": {"limit": True}}, "got true"),
    ({"page": {"token": "abc"}}, "page.token: invalid token 'abc'"),
    ({"page": {"token": "-3"}}, "invalid token '-3'"),
    ({"page": {"token": 3}}, "page.token: must be a string, got a number"),
])
def test_parse_errors_name_the_problem(body: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_query(body)
    assert message in str(caught.value)


# -- evaluation ----------------------------------------------------------------------


@pytest.mark.parametrize("filter_,expected", [
    ({"EQ": {"state": "CA"}}, ["1", "3", "5"]),
    ({"EQ": {"person.org": "Dev Ops"}}, ["1", "4", "6"]),
    ({"NEQ": {"state": "CA"}}, ["2", "4", "6"]),
    ({"GT": {"person.id": 1042}}, ["3", "6"]),
    ({"GTE": {"person.id": 1042}}, ["3", "4", "6"]),
    ({"LT": {"person.id": 1036}}, ["2", "5"]),
    ({"LTE": {"person.id": 1036}}, ["1", "2", "5"]),
    ({"GT": {"city": "San Francisco"}}, ["2", "4"]),
    ({"IN": {"state": ["OR", "WA"]}}, ["2", "4", "6"]),
    ({"IN": {"state": []}}, []),
    ({"AND": [{"EQ": {"person.org": "Dev Ops"}}, {"EQ": {"state": "WA"}}]}, ["4"]),
    ({"OR": [{"EQ": {"state": "OR"}}, {"LT": {"person.id": 1030}}]}, ["2", "5", "6"]),
    ({"AND": [{"IN": {"state": ["CA", "WA"]}},
              {"OR": [{"EQ": {"person.org": "Finance"}}, {"GTE": {"person.id": 1040}}]}]}, ["3", "4"]),
    ({"EQ": {"person.missing": 1}}, []),
    ({"EQ": {"state.deeper": "CA"}}, []),
])
def test_every_operator_and_nesting(filter_: dict[str, Any], expected: list[str]) -> None:
    assert keys({"filter": filter_}) == expected


def test_no_filter_returns_every_row_in_key_order_with_data_and_etag() -> None:
    page = run_query(Query(), rows({"b": {"x": 1}, "a": {"x": 2}}))
    assert [(i.key, json.loads(i.data), i.etag) for i in page.results] == [("a", {"x": 2}, "etag-a"),
                                                                          ("b", {"x": 1}, "etag-b")]
    assert page.token is None


def test_equality_is_json_equality() -> None:
    docs = {"int": {"v": 1}, "float": {"v": 1.0}, "true": {"v": True}, "str": {"v": "1"},
            "list": {"v": [1, True]}, "obj": {"v": {"a": 1}}, "null": {"v": None}}
    assert keys({"filter": {"EQ": {"v": 1}}}, docs) == ["float", "int"]
    assert keys({"filter": {"EQ": {"v": True}}}, docs) == ["true"]
    assert keys({"filter": {"EQ": {"v": [1, True]}}}, docs) == ["list"]
    assert keys({"filter": {"EQ": {"v": [1, 1]}}}, docs) == []
    assert keys({"filter": {"EQ": {"v": {"a": 1.0}}}}, docs) == ["obj"]
    assert keys({"filter": {"EQ": {"v": None}}}, docs) == ["null"]
    assert keys({"filter": {"IN": {"v": ["1", None]}}}, docs) == ["null", "str"]


def test_ordering_comparisons_only_between_numbers_or_between_strings() -> None:
    docs = {"n": {"v": 5}, "s": {"v": "5"}, "b": {"v": True}, "z": {"v": None}, "l": {"v": [9]}}
    assert keys({"filter": {"GT": {"v": 1}}}, docs) == ["n"]
    assert keys({"filter": {"GT": {"v": "1"}}}, docs) == ["s"]
    assert keys({"filter": {"LT": {"v": 10.5}}}, docs) == ["n"]


def test_rows_that_are_not_objects_or_lack_the_field_never_match_a_field_filter() -> None:
    raw: list[QueryRow] = [("array", b"[1, 2]", None), ("string", b'"CA"', None), ("binary", b"\xff\x00", None),
                           ("text", b"not json", None), ("nofield", b'{"other": 1}', None),
                           ("match", b'{"state": "WA"}', None)]
    assert [i.key for i in run_query(parse_query({"filter": {"NEQ": {"state": "CA"}}}), raw).results] == ["match"]
    # ... but they are results when there is no filter.
    assert len(run_query(Query(), raw).results) == 6


def test_sort_ascending_descending_and_by_several_keys() -> None:
    assert keys({"sort": [{"key": "person.id"}]}) == ["5", "2", "1", "4", "6", "3"]
    assert keys({"sort": [{"key": "person.id", "order": "DESC"}]}) == ["3", "6", "4", "1", "2", "5"]
    assert keys({"sort": [{"key": "state"}, {"key": "person.id", "order": "DESC"}]}) == ["3", "1", "5", "6", "4", "2"]
    assert keys({"sort": [{"key": "state", "order": "DESC"}, {"key": "city"}]}) == ["2", "4", "6", "5", "3", "1"]
    assert keys({"filter": {"EQ": {"person.org": "Dev Ops"}}, "sort": [{"key": "city"}]}) == ["6", "1", "4"]


def test_sort_is_stable_and_ties_keep_key_order() -> None:
    docs = {"c": {"g": 1}, "a": {"g": 2}, "b": {"g": 1}, "d": {"g": 2}}
    assert keys({"sort": [{"key": "g"}]}, docs) == ["b", "c", "a", "d"]
    assert keys({"sort": [{"key": "g", "order": "DESC"}]}, docs) == ["a", "d", "b", "c"]


def test_mixed_types_sort_by_type_rank_with_missing_first() -> None:
    docs = {"obj": {"v": {"a": 1}}, "list": {"v": [1]}, "str": {"v": "a"}, "num": {"v": 2}, "num0": {"v": -1.5},
            "bool": {"v": False}, "null": {"v": None}, "missing": {}, "scalar": 7}
    ascending = ["missing", "scalar", "null", "bool", "num0", "num", "str", "list", "obj"]
    assert keys({"sort": [{"key": "v"}]}, docs) == ascending
    assert keys({"sort": [{"key": "v", "order": "DESC"}]}, docs) == ["obj", "list", "str", "num", "num0", "bool",
                                                                       "null", "missing", "scalar"]


@pytest.mark.parametrize("limit", [1, 2, 4, 6])
def test_paging_through_all_results_with_tokens(limit: int) -> None:
    query = parse_query({"sort": [{"key": "person.id"}], "page": {"limit": limit}})
    seen: list[str] = []
    pages = 0
    while True:
        page = run_query(query, rows(PEOPLE))
        pages += 1
        assert 0 < len(page.results) <= limit
        seen += [item.key for item in page.results]
        if page.token is None:
            break
        query = parse_query({"sort": [{"key": "person.id"}], "page": {"limit": limit, "token": page.token}})
    assert seen == ["5", "2", "1", "4", "6", "3"]
    assert pages == -(-6 // limit)


def test_paging_edge_cases() -> None:
    assert run_query(Query(limit=10), rows(PEOPLE)).token is None
    assert [i.key for i in run_query(Query(token="4"), rows(PEOPLE)).results] == ["5", "6"]
    assert run_query(Query(limit=2, token="99"), rows(PEOPLE)) == QueryPage(results=[], token=None)
    assert run_query(Query(), []) == QueryPage(results=[])


@pytest.mark.parametrize("token", ["x", "-1", "1.5", " 2"])
def test_run_query_refuses_an_invalid_token(token: str) -> None:
    with pytest.raises(ValueError, match="invalid token"):
        run_query(Query(token=token), rows(PEOPLE))


# -- drivers: only this app's live keys ---------------------------------------------


def meta(type_: str, **props: str) -> ComponentMetadata:
    return ComponentMetadata(name="statestore", type=type_, properties=props, app_id="app")


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    s: StateStore
    if request.param == "memory":
        s = MemoryStateStore()
        await s.init(meta("state.in-memory", cleanupInterval="0"))
    else:
        s = SqliteStateStore()
        await s.init(meta("state.sqlite", connectionString=str(tmp_path / "state.db")))
    yield s
    await s.close()


async def test_drivers_declare_and_scope_queries(store: StateStore) -> None:
    assert StateFeature.QUERY_API.value in store.features()
    for key in ("app||1", "app||2", "APP||3", "other||1", "ap_||1", "app", "app%||1"):
        await store.set(SetRequest(key=key, value=b'{"n": 1}'))
    page = await store.query(Query(), "app||")
    assert [item.key for item in page.results] == ["app||1", "app||2"]
    got = await store.get(GetRequest("app||1"))
    assert got is not None and page.results[0].etag == got.etag
    assert [i.key for i in (await store.query(Query(), "ap_||")).results] == ["ap_||1"]
    assert [i.key for i in (await store.query(Query(), "app%||")).results] == ["app%||1"]
    assert len((await store.query(Query(), "")).results) == 7


async def test_drivers_skip_expired_keys(store: StateStore) -> None:
    await store.set(SetRequest(key="app||short", value=b'{"n": 1}', ttl=1))
    await store.set(SetRequest(key="app||long", value=b'{"n": 1}', ttl=60))
    assert len((await store.query(Query(), "app||")).results) == 2
    await asyncio.sleep(1.1)
    assert [i.key for i in (await store.query(Query(), "app||")).results] == ["app||long"]


async def test_drivers_filter_sort_and_page(store: StateStore) -> None:
    for key, doc in PEOPLE.items():
        await store.set(SetRequest(key=f"app||{key}", value=json.dumps(doc).encode()))
    body = {"filter": {"IN": {"state": ["CA", "WA"]}}, "sort": [{"key": "person.id", "order": "DESC"}]}
    first = await store.query(parse_query({**body, "page": {"limit": 3}}), "app||")
    assert [i.key for i in first.results] == ["app||3", "app||4", "app||1"] and first.token
    rest = await store.query(parse_query({**body, "page": {"limit": 3, "token": first.token}}), "app||")
    assert [i.key for i in rest.results] == ["app||2", "app||5"] and rest.token is None


# -- the building block -------------------------------------------------------------------


class _NoQuery(MemoryStateStore):
    def features(self) -> frozenset[str]:
        return frozenset({StateFeature.ETAG.value})


class _Broken(MemoryStateStore):
    async def query(self, query: Query, key_prefix: str) -> QueryPage:
        raise StateError("disk on fire")


async def block_with(driver: StateStore, **props: str) -> StateBlock:
    block = StateBlock("app")
    await driver.init(meta("state.in-memory", cleanupInterval="0", **props))
    block.add(LoadedComponent(meta("state.in-memory", **props), driver))
    return block


async def test_block_strips_the_prefix_and_hides_other_apps() -> None:
    driver = MemoryStateStore()
    block = await block_with(driver)
    await block.save("statestore", [SetRequest(key="mine", value=b'{"n": 1}')])
    await driver.set(SetRequest(key="other||theirs", value=b'{"n": 1}'))
    page = await block.query("statestore", Query())
    assert [item.key for item in page.results] == ["mine"]


async def test_block_without_prefix_sees_every_key_verbatim() -> None:
    driver = MemoryStateStore()
    block = await block_with(driver, keyPrefix="none")
    await driver.set(SetRequest(key="k", value=b"1"))
    assert [item.key for item in (await block.query("statestore", Query())).results] == ["k"]


async def test_block_refuses_a_store_without_the_feature() -> None:
    block = await block_with(_NoQuery())
    with pytest.raises(DaprError) as caught:
        await block.query("statestore", Query())
    error = caught.value
    assert (error.status, error.code, error.reason) == (500, "ERR_STATE_STORE_NOT_SUPPORTED",
                                                        "DAPR_STATE_QUERYING_NOT_SUPPORTED")


async def test_block_maps_driver_failures() -> None:
    block = await block_with(_Broken())
    with pytest.raises(DaprError) as caught:
        await block.query("statestore", Query())
    assert (caught.value.status, caught.value.code) == (500, "ERR_STATE_QUERY")
    assert "disk on fire" in caught.value.message
    with pytest.raises(DaprError) as caught:
        await block.query("nostore", Query())
    assert caught.value.code == "ERR_STATE_STORE_NOT_FOUND"
