"""Fakes of the outside world for tests; here: synthetic Netflix title pages built on demand.

`render_title_page` writes a modern (2023+) title page per tests/fixtures/netflix/STRUCTURE
facts: JSON-LD, `data-rh` og tags, hashed class names, the hero metadata line and a
`netflix.reactContext` with `\\xHH` escapes. `pad_to_bytes` adds realistic bulk (emotion styles,
scripts, large reactContext models) so the parser can be measured on a real-sized page.
It is synthetic, not a saved page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

_LINE_SEP = '<span class="default-ltr-cache-1ai9ox1" aria-hidden="true"> | </span>'


def js_string(text: str) -> str:
    """A JS string literal the way Netflix writes them: non-alphanumerics as \\xHH / \\uXXXX."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02X}")
        elif code < 0x10000:
            out.append(f"\\u{code:04X}")
        else:
            high, low = divmod(code - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04X}\\u{0xDC00 + low:04X}")
    return '"' + "".join(out) + '"'


def js_literal(value: object) -> str:
    """Python data as a reactContext-style JS object literal."""
    if isinstance(value, dict):
        return "{" + ",".join(f'"{k}":{js_literal(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return js_string(value)
    return json.dumps(value)


def _hash(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:7]


def _styles(count: int, seed: str) -> str:
    return "".join(
        f'<style data-emotion="default-ltr-cache {_hash(seed + str(i))}">.default-ltr-cache-'
        f"{_hash(seed + str(i))}{{display:flex;align-items:center;padding:{i % 5}rem {i % 3}rem;"
        f"color:rgba(255,255,255,0.{i % 9});}}@media screen and (min-width:960px){{"
        f".default-ltr-cache-{_hash(seed + str(i))}{{padding:{i % 4}rem;}}}}</style>"
        for i in range(count)
    )


def _scripts(count: int) -> str:
    return "".join(
        f"<script>(self.webpackChunk=self.webpackChunk||[]).push([[{i}],{{{i}:function(e,t,n){{"
        f'var r={{"open":"{{","close":"}}","path":"/title/{i}"}};t.m=function(s){{return /[{{}}]/'
        f'.test(s)?s.replace(/\\}}/g,""):r}}}}}}]);</script>'
        for i in range(count)
    )


def _bulk_models(count: int) -> dict[str, object]:
    rows = [
        {
            "id": f"row{i}",
            "label": f"Popular on Netflix — row {i}",
            "context": "genre",
            "items": [
                {
                    "videoId": 80000000 + i * 10 + j,
                    "title": f"Title {i}-{j} l'été",
                    "boxart": f"https://occ-0-{i}-{j}.1.nflxso.net/dnm/api/v6/{_hash(str(j))}.jpg",
                    "isAvailable": True,
                }
                for j in range(8)
            ],
        }
        for i in range(count)
    ]
    strings = {
        f"key_{i}": f"Translated string number {i}: “quotes”, {{braces}} & /slashes/"
        for i in range(count * 4)
    }
    return {"nmHomepage": {"data": {"rows": rows}}, "i18nStrings": {"data": strings}}


def render_title_page(
    title_id: str,
    *,
    title: str,
    year: int | None = None,
    plot: str = "",
    genres: Sequence[str] = (),
    cast: Sequence[str] = (),
    rating: str | None = None,
    kind: str = "movie",
    seasons: int | None = None,
    backdrop: str | None = None,
    directors: Sequence[str] = (),
    creators: Sequence[str] = (),
    country: str = "us",
    date_created: str = "2019-8-31",
    pad_to_bytes: int = 0,
) -> str:
    """A synthetic modern title page for `title_id` (see the module docstring)."""
    image = backdrop or f"https://occ-0-2773-2774.1.nflxso.net/dnm/api/v6/x/{title_id}.jpg?r=2ce"
    ld: dict[str, object] = {
        "@context": "http://schema.org",
        "@type": "TVSeries" if kind == "series" else "Movie",
        "url": f"https://www.netflix.com/title/{title_id}",
        "name": title,
        "description": plot,
        "genre": genres[0] if genres else "",
        "image": image,
        "dateCreated": date_created,
        "actors": [{"@type": "Person", "name": n} for n in cast],
        "director": [{"@type": "Person", "name": n} for n in directors],
        "creator": [{"@type": "Person", "name": n} for n in creators],
    }
    if rating:
        ld["contentRating"] = rating
    if seasons:
        ld["numberOfSeasons"] = seasons
    meta: dict[str, object] = {"type": "show" if kind == "series" else "movie", "isAvailable": True}
    if year:
        meta["releaseYear"] = year
    if seasons:
        meta["seasonCount"] = seasons
    models: dict[str, object] = {
        "geo": {"data": {"requestCountry": {"id": country.upper()}}},
        "nmTitleGQL": {
            "data": {
                "videoId": int(title_id),
                "copy": {"title": title, "synopsis": plot},
                "genreInfo": {"coreGenre": {"name": [{"name": g} for g in genres]}},
                "artwork": {"billboard": {"url": image}},
                "metaData": meta,
            }
        },
    }
    line = [str(year)] if year else []
    line += [rating] if rating else []
    line += [f"{seasons} Seasons" if seasons else "2h 6m"] + [", ".join(genres)] * bool(genres)
    og_title = f"Watch {title} | Netflix Official Site".replace('"', "&quot;")
    og_plot = plot.replace('"', "&quot;")

    def head_and_body(pad_styles: int, pad_scripts: int, pad_rows: int) -> str:
        if pad_rows:
            models.update(_bulk_models(pad_rows))
        return (
            f'<!DOCTYPE html><html lang="en-{country.upper()}"><head><meta charSet="utf-8"/>'
            f"<title>Watch {title} | Netflix</title>"
            f'<meta property="og:title" content="{og_title}" data-rh="true"/>'
            f'<meta property="og:description" content="{og_plot}" data-rh="true"/>'
            f'<meta property="og:image" content="{image}" data-rh="true"/>'
            f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
            f'{_styles(pad_styles, "h" + title_id)}</head><body><div id="appMountPoint">'
            f'<main><section class="default-ltr-cache-{_hash(title_id)}"><h1>{title}</h1>'
            f'<div class="default-ltr-cache-1r5gb7q">{_LINE_SEP.join(line)}</div><p>{plot}</p>'
            f"</section></main>{_styles(pad_styles, 'b' + title_id)}</div>"
            f"<script>window.netflix = window.netflix || {{}} ; netflix.reactContext = "
            f"{js_literal({'models': models})};</script>{_scripts(pad_scripts)}</body></html>"
        )

    page = head_and_body(0, 0, 0)
    if pad_to_bytes > len(page.encode()):
        # Roughly real proportions: 40% styles, 15% scripts, 45% reactContext models.
        extra = pad_to_bytes - len(page.encode())
        page = head_and_body(int(extra * 0.2 / 240), int(extra * 0.15 / 205), int(extra * 0.45 / 2140))
    return page
