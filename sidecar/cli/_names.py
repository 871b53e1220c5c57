"""Readable random app ids (``calm-otter``) for ``tandem run`` without ``--app-id``, as Dapr's CLI does."""
from __future__ import annotations

import secrets

__all__ = ["random_app_id"]

_ADJECTIVES = (
    "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively",
    "lucky", "merry", "nimble", "proud", "quick", "quiet", "shiny", "silly", "swift", "witty",
)
_NOUNS = (
    "badger", "beaver", "falcon", "ferret", "gecko", "heron", "koala", "lemur", "lynx", "marmot",
    "otter", "owl", "panda", "puffin", "quokka", "raven", "robin", "seal", "tapir", "walrus",
)


def random_app_id() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"
