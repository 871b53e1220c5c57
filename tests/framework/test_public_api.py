"""`tandem.__all__` is honest: everything listed exists, everything public is listed."""

from __future__ import annotations

import types

import pytest

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


MOVED = ("BindingResult", "BulkPublishEntry", "BulkPublishFailure", "BulkStateItem",
         "SidecarResponse", "StateItem", "StateResult", "TransactionOperation")


def test_the_client_data_types_live_in_tandem_client() -> None:
    import tandem.client

    for name in MOVED:
        assert name not in tandem.__all__ and name not in vars(tandem)
        assert name in tandem.client.__all__


def test_the_old_names_still_import_with_a_deprecation_warning() -> None:
    import tandem.client

    for name in MOVED:
        with pytest.warns(DeprecationWarning, match=f"tandem.client.{name}"):
            assert getattr(tandem, name) is getattr(tandem.client, name)
    with pytest.raises(AttributeError):
        tandem.NoSuchName  # noqa: B018
