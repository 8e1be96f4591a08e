"""Title-page parsing on the synthetic fixture corpus and on focused hand-written pages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from streams.errors import ErrorCode, ScrapeError
from streams.events.netflix import TitleData
from streams.netflix.parse import parse_title_page
from streams.netflix.reactcontext import ReactContextError, parse_js_object, read_react_context
from streams.netflix.urls import canonical_url, parse_title_url
from tests.fakes import js_literal, render_title_page
from tests.fakes.netflix_server import FIXTURES_DIR, load_index

pytestmark = pytest.mark.unit

PAGES = [entry for entry in load_index() if entry.get("file")]
RATING = re.compile(r"\d{1,2}\+?|TV-\w+|PG(-13)?|R|NC-17|U|A|L|G")


def parse_entry(entry: dict[str, Any]) -> TitleData:
    ref = parse_title_url("https://www.netflix.com" + entry["path"])
    body = (FIXTURES_DIR / entry["file"]).read_bytes()
    return parse_title_page(body, country=ref.key_country, title_id=ref.title_id, url=canonical_url(ref))


def parse(html: str, title_id: str = "80000001") -> TitleData:
    return parse_title_page(
        html, country="us", title_id=title_id, url=f"https://www.netflix.com/title/{title_id}"
    )


def page(head: str = "", body: str = "") -> str:
    return f'<!DOCTYPE html><html><head><meta charSet="utf-8"/>{head}</head><body>{body}</body></html>'


def ld(**fields: Any) -> str:
    data = {"@context": "http://schema.org", "@type": "Movie", **fields}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def og(prop: str, content: str) -> str:
    return f'<meta property="og:{prop}" content="{content}" data-rh="true"/>'


def react(models: dict[str, Any]) -> str:
    return f"<script>netflix.reactContext = {js_literal({'models': models})};</script>"


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_is_big_enough_and_labelled_synthetic() -> None:
    assert len(PAGES) >= 12
    for entry in PAGES:
        head = (FIXTURES_DIR / entry["file"]).read_text(encoding="utf-8")[:300]
        assert head.startswith("<!-- SYNTHETIC FIXTURE"), entry["file"]


@pytest.mark.parametrize("entry", PAGES, ids=[e["file"] for e in PAGES])
def test_fixture_parses_to_its_expected_result(entry: dict[str, Any]) -> None:
    if "expectError" in entry:
        with pytest.raises(ScrapeError) as caught:
            parse_entry(entry)
        assert caught.value.code == ErrorCode(entry["expectError"])
        return
    got = parse_entry(entry).model_dump(by_alias=True)
    expected = entry["expect"]
    assert {k: got[k] for k in expected} == expected
    ref = parse_title_url("https://www.netflix.com" + entry["path"])
    assert (got["titleId"], got["country"], got["url"]) == (
        ref.title_id,
        ref.key_country,
        canonical_url(ref),
    )


@pytest.mark.parametrize("entry", [e for e in PAGES if "expect" in e], ids=lambda e: e["file"])
def test_year_never_comes_from_date_created(entry: dict[str, Any]) -> None:
    html = (FIXTURES_DIR / entry["file"]).read_text(encoding="utf-8")
    created = re.search(r'"dateCreated":\s*"(\d{4})', html)
    title = parse_entry(entry)
    if created:
        assert title.year != int(created.group(1))


@pytest.mark.parametrize("entry", [e for e in PAGES if "expect" in e], ids=lambda e: e["file"])
def test_no_rating_among_genres(entry: dict[str, Any]) -> None:
    title = parse_entry(entry)
    assert title.genres, "every corpus title has genres"
    assert not [g for g in title.genres if RATING.fullmatch(g)]


def test_the_intern_matches_the_real_json_ld_example() -> None:
    entry = next(e for e in PAGES if e["file"] == "tr-en-80047616-movie.html")
    title = parse_entry(entry)
    assert title.title == "The Intern"
    assert title.genres == ["Comedies"]
    assert title.maturity_rating == "16+"
    assert title.cast[:3] == ["Robert De Niro", "Anne Hathaway", "Rene Russo"]
    assert title.directors == ["Nancy Meyers"]
    assert title.year == 2015  # JSON-LD dateCreated says 2019-8-31


# -- year ---------------------------------------------------------------------------------------


def test_date_created_alone_gives_no_year() -> None:
    title = parse(page(ld(name="Old Film", dateCreated="2019-8-31", genre="Dramas")))
    assert title.year is None


def test_start_date_is_the_last_resort_year_for_series() -> None:
    html = page(
        ld(
            **{"@type": "TVSeries"},
            name="Show",
            startDate="2017-05-02",
            dateCreated="2020-4-3",
            numberOfSeasons=3,
        )
    )
    title = parse(html)
    assert (title.year, title.type, title.seasons) == (2017, "series", 3)
    with_context = html.replace(
        "</body>", react({"nmTitleGQL": {"data": {"metaData": {"releaseYear": 2021}}}}) + "</body>"
    )
    assert parse(with_context).year == 2021


@pytest.mark.parametrize(
    "line",
    [
        "<div>2023 | 13+ | 2h 6m | Dramas</div>",
        '<div><span>2023</span><span aria-hidden="true"> | </span><span>13+</span><span> | </span>'
        "<span>2h 6m</span><span> | </span><span>Dramas</span></div>",
        "<ul><li>2023</li><li>|</li><li>13+</li><li>|</li><li>2h 6m</li><li>|</li><li>Dramas</li></ul>",
    ],
)
def test_hero_line_gives_year_rating_and_genre(line: str) -> None:
    footer = "<footer><p>© 1997-2024 Netflix, Inc.</p><p>2024 | Privacy | Terms</p></footer>"
    decoy = '<script>var x = "1999 | 18+ | 9h | Decoy";</script>'
    title = parse(page(og("title", "Watch Otto | Netflix Official Site"), decoy + line + footer))
    assert (title.year, title.maturity_rating, title.genres) == (2023, "13+", ["Dramas"])


# -- genres and ratings ------------------------------------------------------------------------


def test_rating_given_as_a_genre_is_moved_to_maturity_rating() -> None:
    title = parse(page(ld(name="Otto", genre="18+")))
    assert (title.genres, title.maturity_rating) == ([], "18+")
    # The seed's example: ["18+", "Komedi"] from a list source keeps only the genre.
    title = parse(
        page(
            react(
                {
                    "nmTitleGQL": {
                        "data": {
                            "copy": {"title": "Otto"},
                            "genreInfo": {"coreGenre": {"name": [{"name": "18+"}, {"name": "Komedi"}]}},
                        }
                    }
                }
            )
        )
    )
    assert (title.genres, title.maturity_rating) == (["Komedi"], "18+")


def test_tv_rating_is_never_a_genre() -> None:
    title = parse(page(ld(name="Show", genre="TV-14", contentRating="TV-MA")))
    assert (title.genres, title.maturity_rating) == ([], "TV-MA")


# -- per-field fallbacks -------------------------------------------------------------------------


def test_json_ld_without_description_takes_the_plot_from_react_context() -> None:
    html = page(
        ld(name="Otto", genre="Dramas") + og("description", "og plot"),
        react({"nmTitleGQL": {"data": {"copy": {"title": "Otto", "synopsis": "context plot"}}}}),
    )
    assert parse(html).plot == "context plot"


def test_json_ld_without_description_or_context_takes_og_description_and_image() -> None:
    html = page(
        ld(name="Otto", genre="Dramas")
        + og("description", "og plot")
        + og("image", "https://occ-0-1-2.1.nflxso.net/x.jpg")
    )
    title = parse(html)
    assert (title.plot, title.backdrop) == ("og plot", "https://occ-0-1-2.1.nflxso.net/x.jpg")


def test_json_ld_wins_over_every_other_source() -> None:
    html = page(
        ld(name="JSON-LD Title", description="ld plot", genre="Dramas")
        + og("title", "Watch Og Title | Netflix Official Site")
        + og("description", "og plot"),
        react({"nmTitleGQL": {"data": {"copy": {"title": "Context Title", "synopsis": "context plot"}}}}),
    )
    title = parse(html)
    assert (title.title, title.plot, title.genres) == ("JSON-LD Title", "ld plot", ["Dramas"])


@pytest.mark.parametrize(
    ("og_title", "expected"),
    [
        ("Watch A Man Called Otto | Netflix Official Site", "A Man Called Otto"),
        ("Hayata Röveşata Çeken Adam izleyin | Netflix Resmi Sitesi", "Hayata Röveşata Çeken Adam"),
        ("Man lernt nie aus ansehen | Netflix – offizielle Website", "Man lernt nie aus"),
        ("Regarder Squid Game | Site officiel de Netflix", "Squid Game"),
        ("Ver La casa de papel | Sitio oficial de Netflix", "La casa de papel"),
        ("Watch Watch Dogs | Netflix Official Site", "Watch Dogs"),
        ("Watch Love | Death | Netflix Official Site", "Love | Death"),
        ("Otto | Netflix", "Otto"),
    ],
)
def test_og_title_loses_its_localized_wrapper(og_title: str, expected: str) -> None:
    assert parse(page(og("title", og_title))).title == expected


@pytest.mark.parametrize(
    "og_title",
    [
        "Netflix",
        "Netflix Türkiye - Dizi ve film izleyin",
        "Netflix | Watch TV Shows Online",
        "Otto - Netflix",
        "",
    ],
)
def test_generic_og_title_is_no_title(og_title: str) -> None:
    with pytest.raises(ScrapeError) as caught:
        parse(page(og("title", og_title) + og("description", "Watch Netflix movies & TV shows online.")))
    assert caught.value.code is ErrorCode.PARSE_ERROR


# -- reactContext reading ----------------------------------------------------------------------


def test_hex_escapes_are_decoded() -> None:
    source = (
        r'{"a":"A\x20Man\x27s\x20\x2Fpath\x2F","b":"R\xF6ve\u015Fata",'
        r'"c":"\\x41","d":"\\\x41","e":"\uD83D\uDE00"}'
    )
    assert parse_js_object(source) == {
        "a": "A Man's /path/",
        "b": "Röveşata",
        "c": "\\x41",
        "d": "\\A",
        "e": "😀",
    }


def test_old_style_literal_with_newlines_regexes_and_unquoted_keys() -> None:
    source = (
        "{models:{a:{re:/^\\/title\\/(\\d+)[}{\"']/gi,s:'it\\'s {x}',n:\"line1\nline2\",t:!0,f:!1,"
        'u:undefined,h:0x10,list:[1,2,],/* } */ q:"\\x41"}}}'
    )
    assert parse_js_object(source) == {
        "models": {
            "a": {
                "re": None,
                "s": "it's {x}",
                "n": "line1\nline2",
                "t": True,
                "f": False,
                "u": None,
                "h": 16,
                "list": [1, 2],
                "q": "A",
            }
        }
    }


def test_react_context_is_found_past_decoys_and_ends_at_its_script() -> None:
    html = (
        '<script>var ctx = netflix.reactContext || {}; var s = "}";</script>'
        '<script>netflix.reactContext = {"models":{"x":{"data":"}{"}}};</script>'
        "<script>var t = {};</script>"
    )
    assert read_react_context(html) == {"models": {"x": {"data": "}{"}}}
    assert read_react_context("<script>nothing here</script>") is None


def test_unclosed_react_context_is_an_error_and_parsing_falls_back() -> None:
    broken = '<script>netflix.reactContext = {"models":{"nmTitleGQL":{"data":{"copy":'
    with pytest.raises(ReactContextError):
        read_react_context(broken)
    assert parse(page(ld(name="Otto", genre="Dramas"), broken)).title == "Otto"
    with pytest.raises(ScrapeError) as caught:
        parse(page("", broken))
    assert caught.value.code is ErrorCode.PARSE_ERROR


# -- failure shapes ------------------------------------------------------------------------------


def test_unavailable_flag_with_a_json_ld_title_is_still_parsed() -> None:
    # Decision (see streams/netflix/parse.py): unavailable pages have no JSON-LD, so a JSON-LD
    # title wins over isAvailable:false (e.g. a title Netflix describes but does not stream yet).
    html = page(
        ld(name="Coming Soon", genre="Dramas"),
        react(
            {"nmTitleGQL": {"data": {"copy": {"title": "Coming Soon"}, "metaData": {"isAvailable": False}}}}
        ),
    )
    assert parse(html).title == "Coming Soon"


def test_unavailable_flag_without_json_ld_is_title_not_found() -> None:
    html = page(
        og("title", "Watch Gone | Netflix Official Site"),
        react({"nmTitleGQL": {"data": {"copy": {"title": "Gone"}, "metaData": {"isAvailable": False}}}}),
    )
    with pytest.raises(ScrapeError) as caught:
        parse(html)
    assert caught.value.code is ErrorCode.TITLE_NOT_FOUND
    assert caught.value.http_status == 404


@pytest.mark.parametrize("body", [b"", b"<html></html>", b"\xff\xfe garbage \x00", b'{"not": "html"}'])
def test_pages_without_title_data_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ScrapeError) as caught:
        parse_title_page(body, country="us", title_id="1", url="https://www.netflix.com/title/1")
    assert caught.value.code is ErrorCode.PARSE_ERROR


def test_bytes_are_decoded_as_utf8() -> None:
    html = page(ld(name="Hayata Röveşata Çeken Adam", genre="Komedi"))
    assert (
        parse_title_page(html.encode("utf-8"), country="tr", title_id="81616256", url="u").title
        == "Hayata Röveşata Çeken Adam"
    )


def test_a_real_sized_page_parses() -> None:
    html = render_title_page(
        "80047616",
        title="The Intern",
        year=2015,
        plot="Ben is an intern.",
        genres=["Comedies"],
        cast=["Robert De Niro", "Anne Hathaway"],
        rating="16+",
        directors=["Nancy Meyers"],
        pad_to_bytes=500_000,
    )
    assert len(html.encode()) >= 480_000 and "\n" not in html
    title = parse(html, "80047616")
    assert (title.title, title.year, title.genres, title.maturity_rating) == (
        "The Intern",
        2015,
        ["Comedies"],
        "16+",
    )
    assert title.cast == ["Robert De Niro", "Anne Hathaway"]
