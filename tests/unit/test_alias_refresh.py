"""The alias map's refresh with the database away: concurrent callers share one refresh and its
failure (they used to queue on a lock and fail one after another, a server-selection timeout
each: the n-th read of a burst answered after n times 5 s). Found by
tests/faults/test_database_restart.py."""

from __future__ import annotations

import asyncio

import pytest
from pymongo import AsyncMongoClient

from devstack.procs import free_ports
from projections.store import AliasMap, Doc
from streams.errors import UnavailableError

pytestmark = pytest.mark.unit


class CountingAliasMap(AliasMap):
    """The real map; it only counts the refreshes that reach the database."""

    refreshes = 0

    async def refresh(self) -> None:
        self.refreshes += 1
        await super().refresh()


async def test_concurrent_callers_share_one_failed_refresh() -> None:
    [port] = free_ports(1)  # nothing listens there: connection refused, as with a stopped server
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true",
        serverSelectionTimeoutMS=300,
        connectTimeoutMS=300,
    )
    try:
        aliases = CountingAliasMap(client["db"]["projection_aliases"])
        results = await asyncio.gather(*(aliases.resolve("jobs") for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, UnavailableError) for r in results), results
        assert aliases.refreshes == 1
        # a later caller tries again (the failure is not cached)
        with pytest.raises(UnavailableError):
            await aliases.resolve("jobs")
        assert aliases.refreshes == 2
    finally:
        await client.close()


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    [port] = free_ports(1)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true",
        serverSelectionTimeoutMS=300,
        connectTimeoutMS=300,
    )
    try:
        aliases = CountingAliasMap(client["db"]["projection_aliases"])
        first = asyncio.ensure_future(aliases.resolve("jobs"))
        second = asyncio.ensure_future(aliases.resolve("jobs"))
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(UnavailableError):
            await second
        assert first.cancelled() and aliases.refreshes == 1
    finally:
        await client.close()
