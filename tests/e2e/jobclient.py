"""A Socket.IO test client that records job events per jobId, as the seed's client would see them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

from tests.support import eventually


@dataclass
class JobClient:
    base_url: str
    api_key: str
    transports: list[str] | None = None
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    events: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))

    async def connect(self) -> JobClient:
        for name in ("job:progress", "job:completed", "job:error"):
            self.sio.on(name, self._recorder(name))
        await self.sio.connect(self.base_url, transports=self.transports, wait_timeout=10)
        return self

    def _recorder(self, name: str) -> Any:
        async def record(payload: dict[str, Any]) -> None:
            self.events[payload.get("jobId") or "?"].append((name, payload))

        return record

    async def close(self) -> None:
        await self.sio.disconnect()

    async def post(self, url: str, *, path: str = "/api/getinfo/async", timeout: float = 30) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout) as http:
            return await http.post(path, json={"url": url}, headers={"X-API-Key": self.api_key})

    async def subscribe(self, job_id: str) -> dict[str, Any]:
        return await self.sio.call("job:subscribe", job_id, timeout=10)

    async def run_job(self, url: str) -> str:
        """The seed's flow: POST, read data.jobId, subscribe."""
        response = await self.post(url)
        assert response.status_code == 202, response.text
        job_id = response.json()["data"]["jobId"]
        ack = await self.subscribe(job_id)
        assert ack["ok"], ack
        return job_id

    async def finished(self, job_id: str, timeout: float = 60) -> list[tuple[str, dict[str, Any]]]:
        def done() -> bool:
            return any(name in ("job:completed", "job:error") for name, _ in self.events[job_id])

        await eventually(done, timeout=timeout, what=f"job {job_id} to end")
        await asyncio.sleep(0.05)  # anything emitted right after the terminal event
        return list(self.events[job_id])

    def progress(self, job_id: str) -> list[int]:
        return [p["progress"] for n, p in self.events[job_id] if n == "job:progress"]

    def terminal(self, job_id: str) -> tuple[str, dict[str, Any]]:
        return next((n, p) for n, p in self.events[job_id] if n in ("job:completed", "job:error"))
