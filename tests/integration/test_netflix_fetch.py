"""NetflixFetcher against a local fake Netflix: retries, error mapping, redirects, real pages."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.errors import ErrorCode, ScrapeError
from streams.netflix.fetch import MAX_BODY_BYTES, NetflixFetcher
from streams.netflix.urls import TitleRef, parse_title_url
from tests.fakes import render_title_page
from tests.fakes.netflix_server import FakeNetflix, load_index

pytestmark = pytest.mark.integration
REPO_ROOT = str(Path(__file__).resolve().parents[2])


class RecordingSleep:
    """Injected instead of asyncio.sleep: records backoff delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeNetflix]:
    async with FakeNetflix() as server:
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def fetcher(fake: FakeNetflix, sleep: RecordingSleep) -> AsyncIterator[NetflixFetcher]:
    async with NetflixFetcher(
        fake.base_url,
        timeout_seconds=2.0,
        max_attempts=3,
        backoff_seconds=0.5,
        accept_language="tr-TR,tr;q=0.9",
        sleep=sleep,
    ) as client:
        yield client


def ref(path: str) -> TitleRef:
    return parse_title_url("https://www.netflix.com" + path)


def add_title(fake: FakeNetflix, path: str, title: str = "Fresh Title") -> None:
    fake.add_title(path, title=title, year=2020, genres=["Dramas"], rating="13+", plot="A plot.")


async def test_403_is_a_scrape_error_with_the_seed_message_and_no_retry(
    fake: FakeNetflix, fetcher: NetflixFetcher, sleep: RecordingSleep
) -> None:
    with pytest.raises(ScrapeError) as caught:
        await fetcher.scrape(ref("/tr/title/80000403"))
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    assert caught.value.message == "Failed to fetch Netflix page: 403"
    assert fake.requests_for("80000403") == 1
    assert sleep.delays == []


async def test_404_is_title_not_found_without_retry(fake: FakeNetflix, fetcher: NetflixFetcher) -> None:
    with pytest.raises(ScrapeError) as caught:
        await fetcher.fetch(ref("/tr/title/80000404"))
    assert caught.value.code is ErrorCode.TITLE_NOT_FOUND
    assert fake.requests_for("80000404") == 1


async def test_503_twice_then_200_succeeds_on_the_third_request(
    fake: FakeNetflix, fetcher: NetflixFetcher, sleep: RecordingSleep
) -> None:
    fake.set_behaviour("/tr/title/81616256", status=503, fail_times=2)
    title = await fetcher.scrape(ref("/tr/title/81616256"))
    assert title.title == "Hayata Röveşata Çeken Adam"
    assert fake.requests_for("81616256") == 3
    assert len(sleep.delays) == 2
    assert 0.5 <= sleep.delays[0] <= 0.55 and 1.0 <= sleep.delays[1] <= 1.1  # 0.5 * 2^n + jitter


async def test_429_every_time_gives_up_after_max_attempts_honouring_retry_after(
    fake: FakeNetflix, sleep: RecordingSleep
) -> None:
    fake.set_behaviour("/tr/title/81616256", status=429, headers={"Retry-After": "7"})
    async with NetflixFetcher(fake.base_url, max_attempts=4, backoff_seconds=0.1, sleep=sleep) as client:
        with pytest.raises(ScrapeError) as caught:
            await client.fetch(ref("/tr/title/81616256"))
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    assert caught.value.message == "Failed to fetch Netflix page: 429"
    assert fake.requests_for("81616256") == 4
    assert sleep.delays == [7.0, 7.0, 7.0]


async def test_retry_after_is_capped(fake: FakeNetflix, sleep: RecordingSleep) -> None:
    fake.set_behaviour("/tr/title/81616256", status=503, fail_times=1, headers={"Retry-After": "86400"})
    async with NetflixFetcher(fake.base_url, sleep=sleep) as client:
        await client.fetch(ref("/tr/title/81616256"))
    assert sleep.delays == [30.0]


async def test_a_delay_beyond_the_timeout_is_timeout(fake: FakeNetflix, sleep: RecordingSleep) -> None:
    fake.set_behaviour("/tr/title/81616256", delay=2.0)
    async with NetflixFetcher(fake.base_url, timeout_seconds=0.2, max_attempts=2, sleep=sleep) as client:
        with pytest.raises(ScrapeError) as caught:
            await client.fetch(ref("/tr/title/81616256"))
    assert caught.value.code is ErrorCode.TIMEOUT
    assert caught.value.http_status == 504
    assert fake.requests_for("81616256") == 2


async def test_connection_refused_is_a_scrape_error_after_retries(sleep: RecordingSleep) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with NetflixFetcher(f"http://127.0.0.1:{port}", max_attempts=2, sleep=sleep) as client:
        with pytest.raises(ScrapeError) as caught:
            await client.fetch(ref("/tr/title/81616256"))
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    assert "ConnectError" in caught.value.message
    assert len(sleep.delays) == 1


async def test_redirect_to_another_host_is_not_followed(fake: FakeNetflix, fetcher: NetflixFetcher) -> None:
    async with FakeNetflix() as evil:
        fake.set_behaviour("/tr/title/81616256", redirect=evil.base_url + "/tr/title/81616256")
        with pytest.raises(ScrapeError) as caught:
            await fetcher.fetch(ref("/tr/title/81616256"))
        assert evil.total_requests == 0
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    assert "another host" in caught.value.message
    assert fake.requests_for("81616256") == 1


@pytest.mark.parametrize(
    "location",
    [
        "/NotFound?prev=https%3A%2F%2Fwww.netflix.com%2Ftr%2Ftitle%2F81616256",
        "/tr/title/80047616",
        "/browse",
    ],
)
async def test_redirect_away_from_the_title_is_not_followed(
    fake: FakeNetflix, fetcher: NetflixFetcher, location: str
) -> None:
    fake.set_behaviour("/tr/title/81616256", redirect=location)
    with pytest.raises(ScrapeError) as caught:
        await fetcher.fetch(ref("/tr/title/81616256"))
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    assert fake.total_requests == 1


async def test_redirect_to_the_same_title_in_a_country_is_followed(
    fake: FakeNetflix, fetcher: NetflixFetcher
) -> None:
    # A bare /title/<id> redirects by IP country on the real site.
    fake.set_behaviour("/title/81616256", redirect="/tr/title/81616256?from=redirect")
    title = await fetcher.scrape(ref("/title/81616256"))
    assert title.title == "Hayata Röveşata Çeken Adam"
    assert (title.country, title.url) == ("us", "https://www.netflix.com/title/81616256")
    assert fake.requests_for("81616256") == 2


async def test_concurrent_redirected_fetches_each_check_their_own_title(
    fake: FakeNetflix, fetcher: NetflixFetcher
) -> None:
    ids = [str(90000000 + i) for i in range(12)]
    for title_id in ids:
        add_title(fake, f"/gb/title/{title_id}", title=f"Title {title_id}")
        fake.set_behaviour(f"/title/{title_id}", redirect=f"/gb/title/{title_id}")
    titles = await asyncio.gather(*(fetcher.scrape(ref(f"/title/{i}")) for i in ids))
    assert [t.title for t in titles] == [f"Title {i}" for i in ids]


async def test_browser_headers_are_sent(fake: FakeNetflix, fetcher: NetflixFetcher) -> None:
    await fetcher.fetch(ref("/tr/title/81616256"))
    headers = {k.lower(): v for k, v in fake.requests[-1].headers.items()}
    assert headers["accept-language"] == "tr-TR,tr;q=0.9"
    assert headers["user-agent"].startswith("Mozilla/5.0")
    assert "text/html" in headers["accept"]


async def test_oversized_body_is_refused(fake: FakeNetflix, fetcher: NetflixFetcher) -> None:
    fake.add_page("/tr/title/80000999", b"<html>" + b"x" * (MAX_BODY_BYTES + 1024) + b"</html>")
    with pytest.raises(ScrapeError) as caught:
        await fetcher.fetch(ref("/tr/title/80000999"))
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    assert "larger than" in caught.value.message


async def test_ad_hoc_pages_and_counts(fake: FakeNetflix, fetcher: NetflixFetcher) -> None:
    add_title(fake, "/de/title/91234567", title="Neu")
    for _ in range(2):
        title = await fetcher.scrape(ref("/de/title/91234567?s=a"))
    assert (title.title, title.year, title.genres, title.maturity_rating) == (
        "Neu",
        2020,
        ["Dramas"],
        "13+",
    )
    assert fake.requests_for("91234567") == 2
    fake.reset()
    assert fake.requests_for("91234567") == 0 and fake.total_requests == 0


async def test_a_real_sized_page_is_fetched_and_parsed(fake: FakeNetflix, fetcher: NetflixFetcher) -> None:
    html = render_title_page("91111111", title="Big", year=2021, genres=["Dramas"], pad_to_bytes=800_000)
    fake.add_page("/us/title/91111111", html)
    title = await fetcher.scrape(ref("/us/title/91111111"))
    assert (title.title, title.year) == ("Big", 2021)


ENTRIES = load_index()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
async def test_every_fixture_through_the_fetcher(
    fake: FakeNetflix, fetcher: NetflixFetcher, entry: dict[str, Any]
) -> None:
    if "expectError" in entry:
        with pytest.raises(ScrapeError) as caught:
            await fetcher.scrape(ref(entry["path"]))
        assert caught.value.code == ErrorCode(entry["expectError"])
        if "expectMessage" in entry:
            assert caught.value.message == entry["expectMessage"]
        return
    got = (await fetcher.scrape(ref(entry["path"]))).model_dump(by_alias=True)
    assert {k: got[k] for k in entry["expect"]} == entry["expect"]


# -- the fake's other modes (other suites run the scraper on another loop or in another process)


async def test_fake_in_a_background_thread(sleep: RecordingSleep) -> None:
    server = FakeNetflix()
    base_url = server.start_in_thread()
    try:
        async with NetflixFetcher(base_url, sleep=sleep) as client:
            title = await client.scrape(ref("/tr-en/title/80047616"))
        assert title.title == "The Intern"
        assert server.requests_for("80047616") == 1
    finally:
        server.stop_thread()


async def test_fake_as_a_subprocess_with_control_endpoints(sleep: RecordingSleep) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.netflix_server",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line.startswith("FAKE_NETFLIX_URL="), line
        base_url = line.split("=", 1)[1]
        async with httpx.AsyncClient(base_url=base_url) as control:
            await control.post(
                "/__behaviour", json={"path": "/tr/title/81616256", "status": 503, "failTimes": 1}
            )
            await control.post(
                "/__pages",
                json={
                    "path": "/us/title/92000001",
                    "title": {
                        "titleId": "92000001",
                        "title": "Remote",
                        "year": 2024,
                        "genres": ["Dramas"],
                    },
                },
            )
            async with NetflixFetcher(base_url, sleep=sleep) as client:
                assert (await client.scrape(ref("/tr/title/81616256"))).year == 2022
                assert (await client.scrape(ref("/us/title/92000001"))).title == "Remote"
            counts = (await control.get("/__counts")).json()
            assert counts == {"total": 3, "titles": {"81616256": 2, "92000001": 1}}
            await control.post("/__reset")
            assert (await control.get("/__counts")).json() == {"total": 0, "titles": {}}
    finally:
        proc.terminate()
        await proc.wait()
