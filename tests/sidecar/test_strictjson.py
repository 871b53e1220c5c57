"""The one JSON reader of the API: what Python's ``json`` accepts but no store or peer can keep."""
from __future__ import annotations

import json

import pytest

from tandem.sidecar import strictjson
from tandem.sidecar.strictjson import MAX_DEPTH, InvalidJson


@pytest.mark.parametrize("body", [b"NaN", b"[1, Infinity]", b'{"v": -Infinity}', b'[{"key": "k", "value": NaN}]'])
def test_nan_and_infinity_are_not_json(body: bytes) -> None:
    with pytest.raises(InvalidJson, match="invalid character"):
        strictjson.loads(body)


@pytest.mark.parametrize("body", [b"1e400", b"[-1e999]", b'{"v": 123e456789}'])
def test_numbers_beyond_float64_are_refused_as_go_refuses_them(body: bytes) -> None:
    with pytest.raises(InvalidJson, match="cannot unmarshal number"):
        strictjson.loads(body)


@pytest.mark.parametrize("body", [b'"\\ud800"', b'["a", "x\\udfffy"]', b'{"\\udc00": 1}', b'{"k": {"v": ["\\uD83D"]}}',
                                  b'"\\ude00\\ud83d"'])
def test_lone_surrogates_are_refused_in_keys_and_values(body: bytes) -> None:
    with pytest.raises(InvalidJson, match="surrogate"):
        strictjson.loads(body)


def test_a_surrogate_pair_is_one_character_and_kept() -> None:
    value = strictjson.loads(b'{"k": "\\ud83d\\ude00"}')
    assert value == {"k": "\U0001F600"}
    assert json.dumps(value, ensure_ascii=False).encode() == '{"k": "\U0001F600"}'.encode()


def test_an_escaped_backslash_before_u_is_text_not_a_surrogate() -> None:
    assert strictjson.loads(b'"\\\\ud800"') == "\\ud800"


def test_lone_surrogates_can_be_let_through_for_a_caller_that_replaces_them() -> None:
    assert strictjson.loads(b'"\\ud800"', lone_surrogates=True) == "\ud800"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 100_000])
def test_nesting_deeper_than_the_limit_is_refused_without_recursion_error(depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth):
        with pytest.raises(InvalidJson):
            strictjson.loads(body)


def test_nesting_at_the_limit_is_read_and_can_be_encoded_again() -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert json.dumps(strictjson.loads(body)).encode().replace(b" ", b"") == body


def test_many_shallow_containers_are_fine() -> None:
    body = json.dumps([{"a": [i]} for i in range(2000)]).encode()
    assert len(strictjson.loads(body)) == 2000


def test_plain_json_is_read_as_json_reads_it() -> None:
    body = '{"a": [1, 2.5, true, null, "é"], "b": {}}'.encode()
    assert strictjson.loads(body) == json.loads(body)


def test_number_reads_every_number() -> None:
    assert strictjson.loads(b"[1, 2.5]", number=lambda text: f"n{text}") == ["n1", "n2.5"]


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"[1,]"])
def test_what_is_not_json_is_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidJson):
        strictjson.loads(body)
