"""Parsing a Netflix title page into TitleData (pure and synchronous: page in, TitleData out).

Sources, per field, in order (the first non-empty value wins):
  1. JSON-LD (`Movie` / `TVSeries` / `TVShow`); never the year from `dateCreated` (a catalogue
     date) — `startDate` is only used as the very last year fallback.
  2. `netflix.reactContext`: `models.nmTitleGQL.data` (2023+), or the older
     `models.nmTitleUI.data.sectionData[]` (hero section first).
  3. `og:title` (localized "Watch <Title> | Netflix ..." wrapper removed), `og:description`,
     `og:image`, `og:type`.
  4. Visible markup: legacy `data-uia` attributes, then the hero metadata line
     ("2023 | 13+ | 2h 6m | Dramas") for year, rating, seasons and genres.
A maturity rating is never a genre: it is moved to `maturity_rating`.

Failures (ScrapeError):
  TITLE_NOT_FOUND — the page says the title is unavailable: reactContext
    `metaData.isAvailable` is false, or an "Oh no!" heading is shown; in both cases only when the
    page has no JSON-LD title (unavailable pages carry none; a JSON-LD title wins, so a
    not-yet-playable title that Netflix still describes is parsed). An upstream 404 is mapped
    to TITLE_NOT_FOUND by the fetcher, not here.
  PARSE_ERROR — any other page without a title: cookie/welcome walls, the NotFound page,
    bot checks, truncated pages. Such a page is never turned into a title.
"""

from __future__ import annotations

import html as htmllib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from streams.errors import ErrorCode, ScrapeError
from streams.events.netflix import TitleData
from streams.netflix.reactcontext import ReactContextError, read_react_context, title_models

log = logging.getLogger(__name__)

_LD_TYPES = {"movie": "movie", "tvseries": "series", "tvshow": "series", "tvseason": "series"}
_RATING = re.compile(
    r"(?:\d{1,2}\+?|TV-(?:Y7?|G|PG|14|MA)(?:-FV)?|PG(?:-?\d{1,2})?|R(?:\d{2}\+?)?|NC-17|N?R|UR|"
    r"U|UA|U/A(?: \d{1,2}\+)?|A|L|G|M|MA(?:\d{2}\+?)?|ALL|AL|T|K-?\d{1,2}|\d{1,2} ?[Jj]ahren?)",
)
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
# "2023 | 13+ | 2h 6m | Dramas" as one text node or split over elements (joined by newlines).
_HERO_LINE = re.compile(
    r"(?<![\d|])(?:19|20)\d{2}(?:[ \t\xa0]*\n?[ \t\xa0]*\|[ \t\xa0]*\n?[ \t\xa0]*[^|\n]{1,80})+"
)
_SEASONS = re.compile(
    r"(\d{1,3})\s+(?:Seasons?|Parts?|Volumes?|Sezon|Staffeln?|saisons?|temporadas?|stagion[ei]|"
    r"seizoen(?:en)?|sezon(?:y|ów)?|Teile?|Kısım)",
    re.IGNORECASE,
)
_NOT_GENRES = frozenset({"hd", "4k", "ultra hd", "ultra hd 4k", "hdr", "dolby vision", "ad", "new"})
# Localized words around the title in og:title ("Watch X | Netflix Official Site"); one of each
# is removed, so a title that itself starts with "Watch " survives ("Watch Watch Dogs").
_OG_PREFIXES = tuple(
    "Watch |Ver |Regarder |Guarda |Assista a |Assista |Assistir |Oglądaj |Sledujte |Pozrite si |"
    "Titta på |Se |Katso |Смотрите |Дивіться |Δείτε |Nézd |Urmărește |Tonton |Xem |ดู ".split("|")
)
_OG_SUFFIXES = tuple(" izleyin| ansehen| kijken| bekijken|を観る|を視聴| 시청하기| 시청".split("|"))
_DATA_UIA = tuple(
    "title-info-title item-year title-info-synopsis item-genre item-maturity info-starring "
    "more-details-item-cast more-details-item-genres".split()
)


def parse_title_page(html: bytes | str, *, country: str, title_id: str, url: str) -> TitleData:
    """The title described by a Netflix title page; ScrapeError if the page describes none."""
    text = bytes(html).decode("utf-8", errors="replace") if not isinstance(html, str) else html
    tree = LexborHTMLParser(text)
    fields: dict[str, Any] = {}
    has_ld = _fill(fields, _from_json_ld(tree))
    start_date_year = fields.pop("_start_year", None)

    react, available = _from_react_context(text, title_id)
    if not has_ld and (available is False or _shows_oh_no(tree)):
        reason = "isAvailable:false" if available is False else "oh-no page"
        raise ScrapeError(
            f"Title {title_id} is not available on Netflix ({country})",
            code=ErrorCode.TITLE_NOT_FOUND,
            details={"reason": reason},
        )
    for record in react:
        _fill(fields, record)
    _fill(fields, _from_meta(tree))
    _fill(fields, _from_data_uia(tree))
    # The hero line costs a pass over the visible text: only when it can add something.
    wants_seasons = fields.get("type") != "movie" and not fields.get("seasons")
    if wants_seasons or any(not fields.get(k) for k in ("year", "genres", "maturity_rating")):
        _fill(fields, _from_hero_line(tree))
    _fill(fields, {"year": start_date_year})

    if not fields.get("title"):
        raise ScrapeError(
            f"No title data on the Netflix page for {title_id}{_page_hint(text)}",
            code=ErrorCode.PARSE_ERROR,
        )
    return _build(fields, country=country, title_id=title_id, url=url)


def _build(fields: dict[str, Any], *, country: str, title_id: str, url: str) -> TitleData:
    rating = fields.get("maturity_rating")
    genres: list[str] = []
    for genre in fields.get("genres") or []:
        if _RATING.fullmatch(genre):
            rating = rating or genre  # the seed showed "18+" among genres: it is the rating
        elif genre.lower() not in _NOT_GENRES and genre not in genres:
            genres.append(genre)
    seasons = fields.get("seasons")
    kind = fields.get("type") or ("series" if seasons else None)
    if kind not in ("movie", "series", None):
        kind = None  # the readers normalise to these; anything else is not worth a wrong label
    return TitleData(
        title=fields["title"],
        year=fields.get("year"),
        plot=fields.get("plot"),
        genres=genres,
        cast=_unique(fields.get("cast") or []),
        backdrop=fields.get("backdrop"),
        type=kind,  # type: ignore[arg-type]  # narrowed to the Literal's values just above
        maturity_rating=rating,
        seasons=seasons if kind == "series" else None,
        directors=_unique(fields.get("directors") or []),
        creators=_unique(fields.get("creators") or []),
        title_id=title_id,
        country=country.lower(),
        url=url,
    )


def _fill(fields: dict[str, Any], found: dict[str, Any]) -> bool:
    """Copy the non-empty values of `found` into the still-empty slots; True if any was new."""
    added = False
    for key, value in found.items():
        if value not in (None, "", []) and fields.get(key) in (None, "", []):
            fields[key] = value
            added = True
    return added


# -- values -----------------------------------------------------------------------------------


def _clean(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("value") or value.get("text") or value.get("name")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    if "&" in value:
        value = htmllib.unescape(value)
    value = " ".join(value.split()).strip(" ,")
    return value or None


def _names(value: Any) -> list[str]:
    """Names from a string, a {name} object, or a list of either (JSON-LD Person, GQL lists)."""
    items = value if isinstance(value, list) else [value]
    return [n for n in (_clean(item) for item in items) if n]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _year(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = str(int(value))
    if not isinstance(value, str):
        return None
    match = _YEAR.search(value)
    return int(match.group()) if match else None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _image(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    return value.strip() if isinstance(value, str) and value.strip().startswith("http") else None


def _kind(value: Any) -> str | None:
    word = value.lower().replace("_", "").replace(".", "") if isinstance(value, str) else ""
    if word in ("movie", "film", "videomovie"):
        return "movie"
    if word in ("show", "series", "tvseries", "tvshow", "videotvshow", "season", "videoepisode"):
        return "series"
    return None


_NORMALIZE: dict[str, Callable[[Any], Any]] = {
    "title": _clean,
    "plot": _clean,
    "maturity_rating": _clean,
    "genres": _names,
    "cast": _names,
    "directors": _names,
    "creators": _names,
    "backdrop": _image,
    "type": _kind,
    "year": _year,
    "seasons": _positive_int,
}


def _normalized(raw: dict[str, Any]) -> dict[str, Any]:
    """Raw source values (str, {name}/{url} objects, lists, numbers) as clean field values."""
    return {key: _NORMALIZE[key](value) for key, value in raw.items()}


# -- 1. JSON-LD -------------------------------------------------------------------------------


def _from_json_ld(tree: LexborHTMLParser) -> dict[str, Any]:
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text(deep=True) or "null", strict=False)
        except ValueError:
            log.debug("netflix.parse json_ld=unreadable")
            continue
        for item in _ld_items(data):
            types = item.get("@type")
            kinds = [_LD_TYPES.get(str(t).lower()) for t in (types if isinstance(types, list) else [types])]
            kind = next((k for k in kinds if k), None)
            if kind is None or not _clean(item.get("name")):
                continue
            raw = {
                "title": item.get("name"),
                "plot": item.get("description"),
                "genres": item.get("genre"),
                "cast": item.get("actors") or item.get("actor"),
                "directors": item.get("director"),
                "creators": item.get("creator"),
                "maturity_rating": item.get("contentRating"),
                "backdrop": item.get("image"),
                "seasons": item.get("numberOfSeasons"),
                "type": kind,
            }
            # startDate is kept apart: it is only the last-resort year (see the docstring).
            return _normalized(raw) | {"_start_year": _year(item.get("startDate"))}
    return {}


def _ld_items(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            out.append(item)
            out.extend(g for g in item.get("@graph") or [] if isinstance(g, dict))
    return out


# -- 2. reactContext --------------------------------------------------------------------------


def _from_react_context(text: str, title_id: str) -> tuple[list[dict[str, Any]], bool | None]:
    """Normalized records from reactContext, and its `isAvailable` flag (None if silent)."""
    try:
        context = read_react_context(text)
    except ReactContextError as exc:
        log.warning("netflix.parse react_context=unreadable title_id=%s error=%s", title_id, exc)
        return [], None
    if context is None:
        return [], None
    records, available = title_models(context)
    return [_normalized(r) for r in records], available


# -- 3. meta tags -----------------------------------------------------------------------------


def _from_meta(tree: LexborHTMLParser) -> dict[str, Any]:
    metas: dict[str, str] = {}
    for node in tree.css('meta[property^="og:"], meta[name^="og:"]'):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name")
        if key and key not in metas and attrs.get("content"):
            metas[key] = attrs["content"] or ""
    # Generic pages (home, walls) carry a Netflix-only og:title: no title from it, and without a
    # title from some source the page is a PARSE_ERROR, so their other og values never leak.
    return {
        "title": _strip_og_title(metas.get("og:title", "")),
        "plot": _clean(metas.get("og:description")),
        "backdrop": _image(metas.get("og:image")),
        "type": _kind(metas.get("og:type")),
    }


def _strip_og_title(raw: str) -> str | None:
    """The title inside og:title's localized wrapper ("Watch X | Netflix Official Site" gives X);
    None unless og:title has that shape."""
    head, sep, tail = raw.rpartition(" | ")
    if not sep or "netflix" not in tail.lower() and "넷플릭스" not in tail:
        return None
    head = head.strip()
    for prefix in _OG_PREFIXES:
        if head.startswith(prefix):
            head = head[len(prefix) :]
            break
    for suffix in _OG_SUFFIXES:
        if head.endswith(suffix):
            head = head[: -len(suffix)]
            break
    title = _clean(head)
    return None if title is None or title.lower().startswith("netflix") else title


# -- 4. visible markup ------------------------------------------------------------------------


def _from_data_uia(tree: LexborHTMLParser) -> dict[str, Any]:
    found: dict[str, list[str]] = {}
    selector = ", ".join(f'[data-uia="{name}"]' for name in _DATA_UIA)
    for node in tree.css(selector):
        value = _clean(node.text(deep=True, separator=" "))
        if value:
            found.setdefault(node.attributes.get("data-uia") or "", []).append(value)
    if not found:
        return {}

    def first(name: str) -> str | None:
        return found.get(name, [None])[0]

    def listed(*names: str) -> list[str]:
        for name in names:
            if name in found:
                parts = [p for v in found[name] for p in v.split(",")]
                return [p for p in (_clean(_drop_label(p)) for p in parts) if p]
        return []

    return {
        "title": first("title-info-title"),
        "year": _year(first("item-year")),
        "plot": first("title-info-synopsis"),
        "genres": listed("more-details-item-genres", "item-genre"),
        "cast": listed("more-details-item-cast", "info-starring"),
        "maturity_rating": first("item-maturity"),
    }


def _drop_label(value: str) -> str:
    """Drop a leading label such as "Starring:" (legacy lists hold it in the same element)."""
    head, sep, tail = value.partition(":")
    return tail if sep and len(head) < 30 else value


def _from_hero_line(tree: LexborHTMLParser) -> dict[str, Any]:
    # Scripts and styles carry look-alikes ("2023 | ..." inside data); drop them first. This
    # mutates the tree, so it runs after every other query.
    tree.strip_tags(["script", "style", "noscript", "template", "svg"])
    body = tree.body
    visible = body.text(deep=True, separator="\n") if body is not None else ""
    best: list[str] | None = None
    for match in _HERO_LINE.finditer(visible):
        parts = [_clean(p) or "" for p in match.group().split("|")]
        if best is None:
            best = parts
        if any(_RATING.fullmatch(p) or p[:1].isdigit() for p in parts[1:]):
            best = parts  # a line with a rating or duration is the hero line, not a footer
            break
    if best is None:
        return {}
    fields: dict[str, Any] = {"year": _year(best[0]), "genres": []}
    for part in best[1:]:
        seasons = _SEASONS.fullmatch(part)
        if seasons:
            fields["seasons"] = int(seasons.group(1))
            fields["type"] = "series"
        elif _RATING.fullmatch(part):
            fields.setdefault("maturity_rating", part)
        elif part and not part[:1].isdigit():
            fields["genres"].extend(g for g in (_clean(x) for x in part.split(",")) if g)
    return fields


def _page_hint(text: str) -> str:
    """A short reason for a PARSE_ERROR message (never the page itself)."""
    if "botCheckHead" in text:
        return " (bot check page)"
    if "/NotFound" in text:
        return " (NotFound page)"
    return " (no JSON-LD, reactContext title or og:title; cookie or welcome wall?)"


def _shows_oh_no(tree: LexborHTMLParser) -> bool:
    return any(
        (node.text(deep=True) or "").strip().lower().startswith("oh no") for node in tree.css("h1, h2")
    )
