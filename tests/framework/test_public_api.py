"""`tandem.__all__` is honest: everything listed exists, everything public is listed."""

from __future__ import annotations

import types

import tandem


def test_all_names_exist() -> None:
    missing = [name for name in tandem.__all__ if not hasattr(tandem, name)]
    assert missing == []


def test_every_public_name_is_listed() -> None:
    public = {
        name
        for name, value in vars(tandem).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} == set(tandem.__all__)


def test_no_duplicates() -> None:
    assert len(tandem.__all__) == len(set(tandem.__all__))
