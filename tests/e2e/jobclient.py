"""A Socket.IO test client that records job events per jobId, as the seed's client would see them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio


@dataclass
class JobClient:
    base_url: str
    api_key: str
    transports: list[str] | None = None
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    events: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))
    ended: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    http: httpx.AsyncClient | None = None

    async def connect(self) -> JobClient:
        for name in ("job:progress", "job:completed", "job:error"):
            self.sio.on(name, self._recorder(name))
        await self.sio.connect(self.base_url, transports=self.transports, wait_timeout=10)
        # One pooled HTTP client: building one per request costs ~20 ms (TLS context set-up).
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)
        return self

    def _recorder(self, name: str) -> Any:
        async def record(payload: dict[str, Any], offset: str | None = None) -> None:
            # `offset`: connection state recovery's tag on every job event (unused here)
            job_id = payload.get("jobId") or "?"
            self.events[job_id].append((name, payload))
            if name != "job:progress":
                self.ended[job_id].set()

        return record

    async def close(self) -> None:
        await self.sio.disconnect()
        if self.http is not None:
            await self.http.aclose()

    async def post(self, url: str, *, path: str = "/api/getinfo/async") -> httpx.Response:
        assert self.http is not None, "connect() first"
        return await self.http.post(path, json={"url": url}, headers={"X-API-Key": self.api_key})

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

    async def finished(
        self, job_id: str, timeout: float = 60, settle: float = 0.05
    ) -> list[tuple[str, dict[str, Any]]]:
        """Wait for job:completed / job:error (woken by the event itself, no polling); `settle`
        then leaves room for anything wrongly emitted after it, which tests check for."""
        try:
            await asyncio.wait_for(self.ended[job_id].wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"job {job_id} did not end within {timeout} s: {self.events.get(job_id)}"
            ) from None
        if settle:
            await asyncio.sleep(settle)
        return list(self.events[job_id])

    def progress(self, job_id: str) -> list[int]:
        return [p["progress"] for n, p in self.events[job_id] if n == "job:progress"]

    def terminal(self, job_id: str) -> tuple[str, dict[str, Any]]:
        return next((n, p) for n, p in self.events[job_id] if n in ("job:completed", "job:error"))
