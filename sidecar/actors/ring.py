"""A consistent-hash ring per actor type, on Dapr's scheme (spec §5.4).

Each host adds ``replicas`` virtual nodes hashed from ``host + str(i)``; a hash
is the first 8 bytes, little-endian, of BLAKE2b-512. An actor id's owner is the
host of the first virtual node at or after the id's hash (wrapping round).
Adding or removing one host moves only the ids that hash next to its nodes.
"""
from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

__all__ = ["HashRing", "ring_hash"]

DEFAULT_REPLICAS = 100


def ring_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode()).digest()[:8], "little")


class HashRing:
    """Immutable: rebuilt whenever the set of hosts changes."""

    def __init__(self, hosts: Iterable[str], replicas: int = DEFAULT_REPLICAS) -> None:
        self.hosts = tuple(sorted(set(hosts)))
        points = sorted((ring_hash(f"{host}{i}"), host) for host in self.hosts for i in range(replicas))
        self._hashes = [h for h, _ in points]
        self._owners = [host for _, host in points]

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def owner(self, actor_id: str) -> str | None:
        if not self._hashes:
            return None
        index = bisect.bisect_left(self._hashes, ring_hash(actor_id))
        return self._owners[index if index < len(self._owners) else 0]
