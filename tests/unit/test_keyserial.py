"""KeySerial: one holder per key at a time, in the order they asked; other keys run meanwhile;
nothing is kept for a key once no one holds or waits for it."""

from __future__ import annotations

import asyncio

import pytest

from runtime.keyserial import KeySerial

pytestmark = pytest.mark.unit


async def test_one_key_is_serial_in_arrival_order_and_other_keys_pass() -> None:
    serial = KeySerial()
    log: list[str] = []
    release = asyncio.Event()

    async def job(key: bytes, name: str, wait: bool) -> None:
        async with serial.hold(key):
            log.append(f"start {name}")
            if wait:
                await release.wait()
            log.append(f"end {name}")

    slow = asyncio.create_task(job(b"tr:1", "a1", wait=True))
    await asyncio.sleep(0)
    same = [asyncio.create_task(job(b"tr:1", f"a{i}", wait=False)) for i in (2, 3)]
    other = asyncio.create_task(job(b"tr:2", "b1", wait=False))
    await other  # another key is not held up by the slow holder
    assert log == ["start a1", "start b1", "end b1"]
    assert len(serial) == 1  # b's lock is gone; a's is held and waited for
    release.set()
    await asyncio.gather(slow, *same)
    assert log[3:] == ["end a1", "start a2", "end a2", "start a3", "end a3"]
    assert len(serial) == 0


async def test_a_failing_holder_releases_its_key() -> None:
    serial = KeySerial()
    with pytest.raises(RuntimeError):
        async with serial.hold(b"k"):
            raise RuntimeError("boom")
    assert len(serial) == 0
    async with serial.hold(b"k"):
        assert len(serial) == 1
