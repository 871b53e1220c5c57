"""`tandem.payloads`: JSON values into annotated types, what does not fit, what cannot be honoured."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Optional, TypedDict, TypeVar, Union

import pydantic
import pytest

from tandem.payloads import PayloadError, decoder


def decode(annotation: Any, value: Any) -> Any:
    return decoder(annotation, where="test")(value)


@dataclass
class Line:
    sku: str
    qty: int = 1


@dataclass
class Order:
    id: int
    lines: list[Line]
    note: str | None = None
    tags: list[str] = field(default_factory=list)


class Address(TypedDict):
    city: str
    zip: NotRequired[str]


class Customer(pydantic.BaseModel):
    name: str
    age: int


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Tree:
    name: str
    children: list[Tree] = field(default_factory=list)


@dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


def test_a_dataclass_is_built_with_nested_fields_and_defaults() -> None:
    order = decode(Order, {"id": 7, "lines": [{"sku": "a"}, {"sku": "b", "qty": 3}], "extra": "ignored"})
    assert order == Order(7, [Line("a"), Line("b", 3)])


def test_a_typeddict_is_checked_and_stays_a_dict() -> None:
    assert decode(Address, {"city": "Oslo"}) == {"city": "Oslo"}
    with pytest.raises(PayloadError, match="field 'zip': expected str, got a JSON number"):
        decode(Address, {"city": "Oslo", "zip": 1})


def test_a_pydantic_model_is_validated_by_pydantic() -> None:
    assert decode(Customer, {"name": "Ada", "age": 36}) == Customer(name="Ada", age=36)
    with pytest.raises(PayloadError, match="field 'age'") as caught:
        decode(Customer, {"name": "Ada", "age": "old"})
    assert "valid integer" in str(caught.value)


def test_json_types_unions_literals_enums() -> None:
    assert decode(dict[str, list[int]], {"a": [1, 2]}) == {"a": [1, 2]}
    assert decode(tuple[int, str], [1, "x"]) == (1, "x")
    assert decode(Sequence[float], [1, 2.5]) == [1.0, 2.5]
    assert decode(set[str], ["a", "a"]) == {"a"}
    assert decode(Optional[int], None) is None  # noqa: UP007, UP045 - the spelling under test
    assert decode(Union[int, str], "x") == "x"  # noqa: UP007
    assert decode(Literal["a", "b"], "b") == "b"
    assert decode(Colour, "red") is Colour.RED
    assert decode(int, 2.0) == 2 and decode(Any, {"x": object}) == {"x": object}
    assert decode(Tree, {"name": "r", "children": [{"name": "c"}]}) == Tree("r", [Tree("c")])


@pytest.mark.parametrize(("annotation", "value", "message"), [
    (Order, [], "expected Order (a JSON object), got a JSON array"),
    (Order, {"lines": []}, "field 'id': expected int, got nothing (the field is missing)"),
    (Order, {"id": 1}, "field 'lines': expected list[Line], got nothing (the field is missing)"),
    (Order, {"id": 1, "lines": [{"sku": "a"}, {"sku": 5}]}, "field 'lines[1].sku': expected str, got a JSON number"),
    (int, True, "expected int, got a JSON boolean"),
    (bool, 1, "expected bool, got a JSON number"),
    (int | str, [], "expected int | str, got a JSON array"),
    (int | None, "1", "expected int, got a JSON string"),
    (Order | None, {"id": 1, "lines": "x"}, "field 'lines': expected list[Line] (a JSON array), got a JSON string"),
    (Literal["a", "b"], "c", "expected one of 'a', 'b', got a JSON string 'c'"),
    (Colour, "green", "expected Colour (one of 'red', 'blue'), got a JSON string 'green'"),
    (dict[str, int], {"a": "1"}, "field 'a': expected int, got a JSON string"),
    (tuple[int, int], [1], "expected tuple[int, int] (a JSON array of 2), got a JSON array of 1"),
    (Positive, {"n": -1}, "expected a valid Positive, got one it refused (n must be positive)"),
])
def test_what_does_not_fit_is_named(annotation: Any, value: Any, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode(annotation, value)
    assert str(caught.value) == message


class Plain:
    def __init__(self, x: int) -> None:
        self.x = x


T = TypeVar("T")


@pytest.mark.parametrize("annotation", [
    Plain, Callable[[int], int], Iterator[int], dict[int, str], Mapping[bytes, int], T, type[Order], "Order",
])
def test_an_annotation_that_cannot_be_honoured_is_a_type_error(annotation: Any) -> None:
    with pytest.raises(TypeError, match="handler h: cannot decode a payload into"):
        decoder(annotation, where="handler h")


def test_a_dataclass_field_that_cannot_be_honoured_is_refused_too() -> None:
    @dataclass
    class Holder:
        plain: Plain

    with pytest.raises(TypeError, match="Holder"):
        decoder(Holder, where="handler h")
