"""The value formats Dapr users write in component metadata and flags."""
from __future__ import annotations

import pytest
from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.values import parse_bool, parse_duration, parse_size


@pytest.mark.parametrize("text,seconds", [
    ("5s", 5.0), ("1m30s", 90.0), ("250ms", 0.25), ("1h", 3600.0), ("1.5h", 5400.0),
    ("2000", 2.0), ("100us", 1e-4), ("-1s", -1.0),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "abc", "5x", "s5", "1m 30s"])
def test_bad_durations(text: str) -> None:
    if text == "5":
        assert parse_duration(text, bare_unit=1.0) == 5.0
        return
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text,size", [("4Mi", 4 << 20), ("16M", 16_000_000), ("512Ki", 512 << 10),
                                       ("1024", 1024), ("2MB", 2_000_000)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bools() -> None:
    assert parse_bool("TRUE") and parse_bool("1") and not parse_bool("false") and not parse_bool(None)
    with pytest.raises(ValueError):
        parse_bool("maybe")


def test_component_metadata_is_case_insensitive_and_names_bad_fields() -> None:
    meta = ComponentMetadata("s", "state.sqlite", properties={"ConnectionString": "x.db", "timeout": "soon"})
    assert meta.get("connectionString") == "x.db"
    with pytest.raises(MetadataError, match="timeout"):
        meta.get_duration("timeout", 20.0)
    with pytest.raises(MetadataError, match="tableName"):
        meta.require("tableName")
