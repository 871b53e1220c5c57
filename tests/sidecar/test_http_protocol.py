"""Reading any method token with llhttp (which knows a fixed list), and the JSON body of a parse error."""
from __future__ import annotations

import json

import pytest

from tandem.sidecar.http_protocol import llhttp_knows, malformed_body, stand_in_method


@pytest.mark.parametrize("method", [b"GET", b"POST", b"DELETE", b"PATCH", b"PROPFIND", b"PURGE"])
def test_methods_llhttp_knows_are_left_alone(method: bytes) -> None:
    data = method + b" /v1.0/state/s HTTP/1.1\r\nhost: x\r\n\r\n"
    assert stand_in_method(data) == (data, None)


@pytest.mark.parametrize("method", [b"FOO", b"X-CUSTOM", b"get", b"BREW!"])
def test_an_unknown_method_token_is_swapped_and_remembered(method: bytes) -> None:
    assert not llhttp_knows(method)
    data, real = stand_in_method(method + b" /path HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi")
    assert real == method
    assert data == b"GET /path HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi"


@pytest.mark.parametrize("data", [b"\x16\x03\x01 binary", b"FO", b"(bad) / HTTP/1.1\r\n", b""])
def test_what_is_no_method_token_is_left_for_the_parser_to_refuse(data: bytes) -> None:
    assert stand_in_method(data) == (data, None)


def test_the_error_body_has_dapr_shape() -> None:
    assert json.loads(malformed_body("Invalid header token")) == {
        "errorCode": "ERR_MALFORMED_REQUEST", "message": "invalid HTTP request: Invalid header token"}
