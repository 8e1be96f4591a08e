"""Netflix title URL parsing: what is accepted, what is refused, and what we fetch."""

from __future__ import annotations

import pytest

from streams.errors import ErrorCode, ValidationError
from streams.netflix.urls import (
    DEFAULT_COUNTRY,
    TitleRef,
    build_fetch_url,
    canonical_url,
    parse_title_url,
)

pytestmark = pytest.mark.unit

ACCEPTED = [
    # (url, country, language, title_id)
    ("https://www.netflix.com/tr/title/81616256", "tr", None, "81616256"),
    ("https://www.netflix.com/tr-en/title/81616256", "tr", "en", "81616256"),
    ("https://www.netflix.com/de/title/80047616", "de", None, "80047616"),
    ("https://www.netflix.com/title/80047616", None, None, "80047616"),
    ("https://www.netflix.com/watch/80047616", None, None, "80047616"),
    ("https://netflix.com/tr/title/81616256", "tr", None, "81616256"),
    ("http://www.netflix.com/tr/title/81616256", "tr", None, "81616256"),
    ("HTTPS://WWW.NETFLIX.COM/tr/title/81616256", "tr", None, "81616256"),
    ("https://www.netflix.com/TR-EN/title/81616256", "tr", "en", "81616256"),
    ("https://www.netflix.com/tr/title/81616256/", "tr", None, "81616256"),
    (
        "https://www.netflix.com/tr/title/81616256?s=a&trkid=13747225&vlang=tr",
        "tr",
        None,
        "81616256",
    ),
    ("https://www.netflix.com/tr/title/81616256#details", "tr", None, "81616256"),
    ("https://www.netflix.com/watch/80047616?trackId=255824129&tctx=0%2C0", None, None, "80047616"),
    ("https://www.netflix.com:443/tr/title/81616256", "tr", None, "81616256"),
    ("http://www.netflix.com:80/tr/title/81616256", "tr", None, "81616256"),
    ("  https://www.netflix.com/tr/title/81616256\n", "tr", None, "81616256"),
    ("www.netflix.com/tr/title/81616256", "tr", None, "81616256"),
    ("netflix.com/title/1", None, None, "1"),
    ("https://www.netflix.com/title/123456789012", None, None, "123456789012"),
    ("https://www.netflix.com/tr/title/81616256?next=http://evil.test/", "tr", None, "81616256"),
]

REJECTED = [
    # (value, what the message must mention)
    ("https://evil.test/tr/title/81616256", "host"),
    ("https://netflix.com.evil.test/tr/title/81616256", "host"),
    ("https://www.netflix.com.evil.test/title/1", "host"),
    ("https://evilnetflix.com/title/1", "host"),
    ("https://evil.test/netflix.com/title/1", "host"),
    ("evil.test/netflix.com/title/1", "http"),
    ("https://user@netflix.com/title/1", "user name"),
    ("https://user:pass@www.netflix.com/title/1", "user name"),
    ("https://www.netflix.com@evil.test/title/1", "user name"),
    ("https://www.netflix.com:8443/title/1", "port"),
    ("http://www.netflix.com:443/title/1", "port"),
    ("https://www.netflix.com:/title/1", "port"),
    ("https://www.netflix%2Ecom/title/1", "percent"),
    ("https://%77ww.netflix.com/title/1", "percent"),
    ("https://www.netflix.com./title/1", "host"),
    ("https:///title/1", "host"),
    ("https://www.netflix.com/title/abc", "title id"),
    ("https://www.netflix.com/tr/title/8161625x", "title id"),
    ("https://www.netflix.com/tr/title/", "title id"),
    ("https://www.netflix.com/title/1234567890123", "title id"),
    ("https://www.netflix.com/title/8161%36256", "title id"),
    ("https://www.netflix.com/title/-1", "title id"),
    ("https://www.netflix.com/browse", "path"),
    ("https://www.netflix.com/", "path"),
    ("https://www.netflix.com", "path"),
    ("https://www.netflix.com/tr/title/81616256/extra", "path"),
    ("https://www.netflix.com//title/1", "path"),
    ("https://www.netflix.com/tur/title/1", "path"),
    ("https://www.netflix.com/tr-eng/title/1", "path"),
    ("https://www.netflix.com/%74r/title/1", "path"),
    ("https://www.netflix.com/title/../browse/1", "path"),
    ("ftp://www.netflix.com/title/1", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("javascript:alert(1)//www.netflix.com/title/1", "http"),
    ("data:text/html,<a href=https://www.netflix.com/title/1>", "whitespace"),
    ("data:text/html;base64,aHR0cHM6Ly93d3cubmV0ZmxpeC5jb20vdGl0bGUvMQ==", "http"),
    ("//www.netflix.com/title/1", "http"),
    ("/title/1", "http"),
    ("81616256", "http"),
    ("", "empty"),
    ("   ", "empty"),
    ("https://www.netflix.com/ti tle/1", "whitespace"),
    ("https://www.netflix.com/title/1\x00", "control"),
    ("https://www.netflix.com/title/\t1", "whitespace"),
    ("https://www.net\u2028flix.com/title/1", "whitespace"),
    ("https://www.netflix.com\\@evil.test/title/1", "backslash"),
    ("https:\\\\www.netflix.com\\title\\1", "backslash"),
    ("https://www.netflix.com/title/" + "1" * 3000, "longer"),
    ("https://www.netflix.com/title/1?" + "a" * 2100, "longer"),
    ("https://ｎｅｔｆｌｉｘ.com/title/1", "host"),
]
NOT_STRINGS = [
    None,
    81616256,
    b"https://www.netflix.com/title/1",
    ["https://www.netflix.com/title/1"],
    {"url": "x"},
]


@pytest.mark.parametrize(("url", "country", "language", "title_id"), ACCEPTED)
def test_accepted_forms(url: str, country: str | None, language: str | None, title_id: str) -> None:
    ref = parse_title_url(url)
    assert ref == TitleRef(country=country, language=language, title_id=title_id)


@pytest.mark.parametrize(("value", "mentions"), REJECTED)
def test_rejected_forms_are_invalid_url(value: str, mentions: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_title_url(value)
    assert caught.value.code is ErrorCode.INVALID_URL
    assert caught.value.http_status == 400
    assert mentions.lower() in caught.value.message.lower()


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_non_strings_are_invalid_url(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_title_url(value)
    assert caught.value.code is ErrorCode.INVALID_URL
    assert "string" in caught.value.message


def test_keys_use_the_country_and_default_to_us() -> None:
    assert parse_title_url("https://www.netflix.com/tr/title/81616256").key == "tr:81616256"
    assert parse_title_url("https://www.netflix.com/TR-en/title/81616256").key == "tr:81616256"
    bare = parse_title_url("https://www.netflix.com/title/80047616")
    assert bare.country is None
    assert DEFAULT_COUNTRY == "us"
    assert bare.key == "us:80047616"
    assert parse_title_url("https://www.netflix.com/watch/80047616").key == "us:80047616"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://www.netflix.com/tr/title/81616256?s=a", "/tr/title/81616256"),
        ("https://netflix.com/tr-en/title/81616256/#x", "/tr-en/title/81616256"),
        ("https://www.netflix.com/title/80047616", "/title/80047616"),
        ("https://www.netflix.com/watch/80047616?trackId=1", "/title/80047616"),
    ],
)
def test_fetch_path_is_rebuilt_from_parts(url: str, path: str) -> None:
    ref = parse_title_url(url)
    assert ref.fetch_path() == path
    assert build_fetch_url("http://127.0.0.1:8123", ref) == "http://127.0.0.1:8123" + path
    assert build_fetch_url("https://www.netflix.com/", ref) == "https://www.netflix.com" + path
    assert canonical_url(ref) == "https://www.netflix.com" + path


@pytest.mark.parametrize(
    "url",
    [
        "https://www.netflix.com/tr/title/81616256?next=http://evil.test/steal",
        "https://www.netflix.com/tr/title/81616256#@evil.test",
        "https://www.netflix.com/tr/title/81616256?url=https%3A%2F%2Fevil.test%2F",
        "HTTP://NETFLIX.COM:80/tr/title/81616256/?redirect=//evil.test",
    ],
)
def test_nothing_from_the_users_string_reaches_the_fetch_url(url: str) -> None:
    fetch_url = build_fetch_url("https://www.netflix.com", parse_title_url(url))
    assert fetch_url == "https://www.netflix.com/tr/title/81616256"
    assert "evil" not in fetch_url and "?" not in fetch_url and "#" not in fetch_url


@pytest.mark.parametrize(
    ("country", "language", "title_id"),
    [
        (None, None, "abc"),
        ("tur", None, "1"),
        ("TR", None, "1"),
        (None, "en", "1"),
        ("tr", None, ""),
    ],
)
def test_title_ref_refuses_parts_that_would_change_the_url(
    country: str | None, language: str | None, title_id: str
) -> None:
    with pytest.raises(ValueError):
        TitleRef(country=country, language=language, title_id=title_id)
