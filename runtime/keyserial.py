"""Per-key serial sections: one record per Kafka key at a time, any number of keys at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeySerial:
    """Lets a concurrent agent keep what one partition used to give it: records with one key
    run one after the other, in the order they asked (asyncio.Lock wakes waiters first come,
    first served), while records with other keys run meanwhile.

    The scrape agent enters it with the title key, so N requests for one title still scrape
    once (the first fills the cache, the others find it there), whatever partition they share
    with slower titles. A lock lives only while some record holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[bytes | None, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: bytes | None) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            _, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        """Keys held or waited for now."""
        return len(self._locks)
