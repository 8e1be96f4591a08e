"""Netflix title URLs: validating what users send, and rebuilding the URL we fetch from its parts.

Only `(country, language, title_id)` survive parsing; every URL we request is rebuilt from them
against the configured base URL, so nothing a user types (host, userinfo, query, fragment) can
steer the scraper anywhere else.

Default country: `/title/<id>` and `/watch/<id>` carry no country. Netflix redirects a bare
`/title/<id>` by the requester's IP country, except from the US, where it is served as is. Such
refs keep `country=None`, are keyed as `us:<id>` and fetched at `/title/<id>` (the US page has no
`/us/` prefix), so a scraper running outside the US may be redirected to its own country's page;
the fetcher follows that only to a title page of the same id on the same host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streams.errors import ErrorCode, ValidationError
from streams.topics import title_key

DEFAULT_COUNTRY = "us"
CANONICAL_BASE_URL = "https://www.netflix.com"
MAX_URL_LENGTH = 2048
ALLOWED_HOSTS = frozenset({"netflix.com", "www.netflix.com"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# scheme://authority rest. The authority ends at the first `/`, `?` or `#` (RFC 3986).
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)", re.S)
_SCHEMELESS = re.compile(r"(?:www\.)?netflix\.com(?=[/?#]|$)", re.I)
_PATH_END = re.compile(r"[?#]")
_TITLE_PATH = re.compile(
    r"/(?:(?P<country>[A-Za-z]{2})(?:-(?P<language>[A-Za-z]{2}))?/)?title/(?P<id>[^/]*)/?"
)
_WATCH_PATH = re.compile(r"/watch/(?P<id>[^/]*)/?")
_TITLE_ID = re.compile(r"[0-9]{1,12}")
# Whitespace and control characters (C0, DEL, C1) and Unicode line/paragraph separators.
_FORBIDDEN_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


@dataclass(frozen=True, slots=True)
class TitleRef:
    """A Netflix title as we address it: country (None = no prefix), language, numeric id."""

    country: str | None
    language: str | None
    title_id: str

    def __post_init__(self) -> None:
        # Guard the invariants here too: a TitleRef is rebuilt into a URL we request.
        if not _TITLE_ID.fullmatch(self.title_id):
            raise ValueError(f"title_id must be 1-12 digits, got {self.title_id!r}")
        for name, part in (("country", self.country), ("language", self.language)):
            if part is not None and not re.fullmatch(r"[a-z]{2}", part):
                raise ValueError(f"{name} must be 2 lower-case letters, got {part!r}")
        if self.language is not None and self.country is None:
            raise ValueError("a language needs a country")

    @property
    def key_country(self) -> str:
        return self.country or DEFAULT_COUNTRY

    @property
    def key(self) -> str:
        """The Kafka/cache key `<country>:<titleId>`."""
        return title_key(self.key_country, self.title_id)

    def fetch_path(self) -> str:
        """`/<cc>/title/<id>`, `/<cc>-<lang>/title/<id>` or `/title/<id>`."""
        if self.country is None:
            return f"/title/{self.title_id}"
        prefix = self.country if self.language is None else f"{self.country}-{self.language}"
        return f"/{prefix}/title/{self.title_id}"


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code=ErrorCode.INVALID_URL)


def parse_title_url(raw: object) -> TitleRef:
    """Parse a user's Netflix title URL; ValidationError(INVALID_URL) saying what is wrong."""
    if not isinstance(raw, str):
        raise _invalid(f"URL must be a string, got {type(raw).__name__}")
    # Surrounding whitespace is a copy-paste accident; whitespace inside is not accepted.
    text = raw.strip()
    if not text:
        raise _invalid("URL is empty")
    if len(text) > MAX_URL_LENGTH:
        raise _invalid(f"URL is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN_CHARS.search(text):
        raise _invalid("URL must not contain whitespace or control characters")
    if "\\" in text:
        raise _invalid("URL must not contain backslashes")
    if _SCHEMELESS.match(text):
        text = "https://" + text
    match = _URL.fullmatch(text)
    if match is None:
        raise _invalid("URL must start with http:// or https://")
    scheme = match["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        raise _invalid(f"URL scheme must be http or https, got {scheme!r}")
    host = _check_authority(match["authority"], scheme)
    if host not in ALLOWED_HOSTS:
        raise _invalid(f"URL host must be netflix.com or www.netflix.com, got {host!r}")
    path = _PATH_END.split(match["rest"], maxsplit=1)[0]
    return _ref_from_path(path)


def _check_authority(authority: str, scheme: str) -> str:
    """The lower-cased host; userinfo, odd ports and encoded tricks are refused."""
    if "@" in authority:
        raise _invalid("URL must not contain a user name or password")
    if "%" in authority:
        raise _invalid("URL host must not be percent-encoded")
    host, sep, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if sep:
        if port != _DEFAULT_PORTS[scheme]:
            raise _invalid(f"URL port {port!r} is not allowed")
    if not host:
        raise _invalid("URL has no host")
    return host.lower()


def _ref_from_path(path: str) -> TitleRef:
    title = _TITLE_PATH.fullmatch(path)
    found = title or _WATCH_PATH.fullmatch(path)
    if found is None:
        raise _invalid(
            "URL path must be /title/<id>, /<country>/title/<id>, "
            f"/<country>-<language>/title/<id> or /watch/<id>, got {path or '/'!r}"
        )
    title_id = found["id"]
    if not _TITLE_ID.fullmatch(title_id):
        raise _invalid(f"title id must be 1-12 digits, got {title_id!r}")
    if title is None:
        return TitleRef(country=None, language=None, title_id=title_id)
    country = title["country"].lower() if title["country"] else None
    language = title["language"].lower() if title["language"] else None
    return TitleRef(country=country, language=language, title_id=title_id)


def build_fetch_url(base_url: str, ref: TitleRef) -> str:
    """The URL we request: the configured base URL plus a path rebuilt from the ref's parts."""
    return base_url.rstrip("/") + ref.fetch_path()


def canonical_url(ref: TitleRef) -> str:
    """The public www.netflix.com URL of the ref (the `url` of a scraped title)."""
    return CANONICAL_BASE_URL + ref.fetch_path()
