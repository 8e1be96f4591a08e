"""A local fake www.netflix.com (aiohttp): serves the fixture corpus, programmable, counts requests.

In-process: `async with FakeNetflix() as fake: base_url = fake.base_url`.
In a background thread (for code on another event loop): `fake.start_in_thread()` / `stop_thread()`.
In another process: `python -m tests.fakes.netflix_server --port N` prints
`FAKE_NETFLIX_URL=http://127.0.0.1:N` and serves these control endpoints:
  GET  /__counts    -> {"total": n, "titles": {titleId: n}}
  GET  /__inflight  -> {"inFlight": n, "maxInFlight": n}  (page requests being answered, most seen)
  POST /__reset     -> counts and behaviours cleared
  POST /__behaviour {path, status?, delay?, failTimes?, redirect?, headers?}  (path "*": every page)
  POST /__pages     {path, html?, status?, title?: {titleId, title, year, ...}} (ad-hoc page)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import render_title_page

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "netflix"
_TITLE_ID = re.compile(r"/(?:title|watch)/(\d+)")


def load_index() -> list[dict[str, Any]]:
    """The fixture corpus entries (see tests/fixtures/netflix/README.md)."""
    data = json.loads((FIXTURES_DIR / "index.json").read_text(encoding="utf-8"))
    return list(data["pages"])


@dataclass
class Page:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Behaviour:
    """How one path misbehaves. With fail_times, the first N requests get `status` (default 503)
    and later ones the page; without it, `status` (if set) is answered every time."""

    status: int | None = None
    delay: float = 0.0
    fail_times: int = 0
    redirect: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    served_failures: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: str
    headers: dict[str, str]
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass(frozen=True)
class RecordedAnswer:
    path: str
    status: int
    at: float  # time.monotonic() when the answer was ready


class FakeNetflix:
    """The fake site. Pages are keyed by request path (query strings ignored)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, load_fixtures: bool = True) -> None:
        self._host = host
        self._port = port
        self._pages: dict[str, Page] = {}
        self._behaviours: dict[str, Behaviour] = {}
        self._global: Behaviour | None = None
        self._counts: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self.answers: list[RecordedAnswer] = []
        self.in_flight = 0  # page requests being answered now
        self.max_in_flight = 0  # the most seen at once since the last reset
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        if load_fixtures:
            self._load_fixtures()

    # -- content --------------------------------------------------------------------------------

    def _load_fixtures(self) -> None:
        for entry in load_index():
            body = (
                (FIXTURES_DIR / entry["file"]).read_bytes()
                if entry.get("file")
                else str(entry.get("body", "")).encode("utf-8")
            )
            self.add_page(entry["path"], body, status=entry["status"], headers=entry.get("headers"))

    def add_page(
        self,
        path: str,
        html: str | bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = html.encode("utf-8") if isinstance(html, str) else html
        self._pages[_norm(path)] = Page(body, status, dict(headers or {}))

    def add_title(self, path: str, **title: Any) -> None:
        """A generated title page at `path` (unique ids per test); see render_title_page."""
        match = _TITLE_ID.search(path)
        if match is None:
            raise ValueError(f"{path!r} is not a title path")
        self.add_page(path, render_title_page(match.group(1), **title))

    def set_behaviour(
        self,
        path: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        fail_times: int = 0,
        redirect: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._behaviours[_norm(path)] = Behaviour(
            status=status,
            delay=delay,
            fail_times=fail_times,
            redirect=redirect,
            headers=dict(headers or {}),
        )

    def set_global_behaviour(
        self,
        *,
        status: int | None = None,
        delay: float = 0.0,
        fail_times: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """How every page request misbehaves (a path's own behaviour wins over it): `delay` for
        each request, and `status` (with `headers`) for the first `fail_times` requests to any
        page, or for every one without fail_times. E.g. "429 with Retry-After: 2 once":
        set_global_behaviour(status=429, fail_times=1, headers={"Retry-After": "2"})."""
        self._global = Behaviour(
            status=status, delay=delay, fail_times=fail_times, headers=dict(headers or {})
        )

    def reset(self) -> None:
        """Forget counts, recorded requests and answers, behaviours and the in-flight maximum
        (pages stay)."""
        self._counts.clear()
        self.requests.clear()
        self.answers.clear()
        self._behaviours.clear()
        self._global = None
        self.max_in_flight = self.in_flight

    # -- counts ---------------------------------------------------------------------------------

    def requests_for(self, title_id: str) -> int:
        return self._counts[str(title_id)]

    @property
    def total_requests(self) -> int:
        return len(self.requests)

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    # -- serving --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeNetflix is not started")
        return self._base_url

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/__counts", self._get_counts)
        app.router.add_get("/__inflight", self._get_in_flight)
        app.router.add_post("/__reset", self._post_reset)
        app.router.add_post("/__behaviour", self._post_behaviour)
        app.router.add_post("/__pages", self._post_page)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        # handler_cancellation: a delayed response is dropped when the client gives up, so
        # stop() never waits on a sleeping handler.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base_url = f"http://{self._host}:{port}"
        return self._base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeNetflix:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start_in_thread(self) -> str:
        """Serve from a daemon thread with its own event loop; returns the base URL."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._thread_loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-netflix", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Netflix did not start within 10s")
        return self.base_url

    def stop_thread(self) -> None:
        if self._thread is None or self._thread_loop is None:
            return
        self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
        self._thread.join(10)
        self._thread = None
        self._thread_loop = None

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = _norm(request.path)
        self.requests.append(
            RecordedRequest(request.path, request.query_string, dict(request.headers), time.monotonic())
        )
        match = _TITLE_ID.search(path)
        if match:
            self._counts[match.group(1)] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status = 0  # no answer (the client went away)
        try:
            response = await self._answer(path)
            status = response.status
            return response
        finally:
            self.in_flight -= 1
            self.answers.append(RecordedAnswer(request.path, status, time.monotonic()))

    async def _answer(self, path: str) -> web.StreamResponse:
        page = self._pages.get(path)
        behaviour = self._behaviours.get(path, self._global)
        if behaviour is not None:
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            if behaviour.redirect:
                headers = {**behaviour.headers, "Location": behaviour.redirect}
                return web.Response(status=behaviour.status or 302, headers=headers)
            failing = behaviour.served_failures < behaviour.fail_times
            if failing or (behaviour.status is not None and not behaviour.fail_times):
                behaviour.served_failures += 1 if failing else 0
                status = behaviour.status or 503
                body = page.body if page is not None and status == page.status else b"fake failure"
                return web.Response(
                    body=body,
                    status=status,
                    headers=behaviour.headers,
                    content_type="text/html",
                    charset="utf-8",
                )
        if page is None:
            return web.Response(text="Not Found", status=404)
        return web.Response(
            body=page.body,
            status=page.status,
            headers=page.headers,
            content_type="text/html",
            charset="utf-8",
        )

    async def _get_counts(self, request: web.Request) -> web.Response:
        return web.json_response({"total": self.total_requests, "titles": self.counts()})

    async def _get_in_flight(self, request: web.Request) -> web.Response:
        return web.json_response({"inFlight": self.in_flight, "maxInFlight": self.max_in_flight})

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _post_behaviour(self, request: web.Request) -> web.Response:
        data = await request.json()
        if data["path"] == "*":
            self.set_global_behaviour(
                status=data.get("status"),
                delay=float(data.get("delay") or 0),
                fail_times=int(data.get("failTimes") or 0),
                headers=data.get("headers"),
            )
            return web.json_response({"ok": True})
        self.set_behaviour(
            data["path"],
            status=data.get("status"),
            delay=float(data.get("delay") or 0),
            fail_times=int(data.get("failTimes") or 0),
            redirect=data.get("redirect"),
            headers=data.get("headers"),
        )
        return web.json_response({"ok": True})

    async def _post_page(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "title" in data:
            title = dict(data["title"])
            title.pop("titleId", None)
            self.add_title(data["path"], **title)
        else:
            self.add_page(data["path"], data["html"], status=int(data.get("status") or 200))
        return web.json_response({"ok": True})


def _norm(path: str) -> str:
    return path.rstrip("/") or "/"


async def _serve_forever(port: int, host: str, load_fixtures: bool) -> None:
    fake = FakeNetflix(host=host, port=port, load_fixtures=load_fixtures)
    base_url = await fake.start()
    print(f"FAKE_NETFLIX_URL={base_url}", flush=True)  # the parent process reads this line
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Netflix fixture corpus locally.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-fixtures", action="store_true", help="start with no pages")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve_forever(args.port, args.host, not args.no_fixtures))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
