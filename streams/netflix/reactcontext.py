"""`netflix.reactContext`: finding it in a page, reading the JS object literal, its title models."""

from __future__ import annotations

import json
import re
from typing import Any

# Where the object starts. A regex scan of the raw page is far cheaper than walking every
# <script> node of a 0.5-1 MB document (see bench/bench_parse.py).
_START = re.compile(r"netflix\.reactContext\s*=\s*\{")
_SCRIPT_END = re.compile(r"</script", re.IGNORECASE)
_DECODER = json.JSONDecoder(strict=False)

# JS string bodies (either quote, escapes skipped as pairs), comments, regex literals and braces.
# Strings/regexes are matched whole so braces and quotes inside them are never counted. Outside
# strings, a data literal has no division, so every other `/` opens a comment or a regex. Every
# alternative starts with one of `"'/{}`, which lets the regex engine skip the rest quickly.
_DQ = r'"(?:[^"\\]|\\[\s\S])*"'
_SQ = r"'(?:[^'\\]|\\[\s\S])*'"
_COMMENT = r"//[^\n]*|/\*[\s\S]*?\*/"
_REGEX = r"/(?:[^/\\\[\n]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[a-z]*"
_BRACE_TOKENS = re.compile(rf"{_DQ}|{_SQ}|{_COMMENT}|{_REGEX}|[{{}}]")

# Fast path: modern pages are JSON except for `\xHH` escapes, rewritten to `\u00HH` with plain
# string replaces (a regex with a replacement template costs ~40 ms on a real page). `\\` pairs
# are set aside first so `\\x41` (a backslash, then "x41") is left alone.
_PAIR_PLACEHOLDER = "\ue000"

# Slow path: a full tokenizer for JS literals (single quotes, unquoted keys, regexes, !0...).
_TOKEN = re.compile(
    rf"(?P<ws>\s+)|(?P<dq>{_DQ})|(?P<sq>{_SQ})|(?P<comment>{_COMMENT})|(?P<regex>{_REGEX})"
    r"|(?P<num>-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))"
    r"|(?P<bang>!\s*[01])"
    r"|(?P<ident>[A-Za-z_$][\w$]*)"
    r"|(?P<punct>[{}\[\]:,])"
    r"|(?P<other>.)",
    re.DOTALL,
)
_STRING_ESCAPE = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|(u[0-9a-fA-F]{4})|u\{([0-9a-fA-F]{1,6})\}|([\"\\/bfnrt])"
    r"|(\r\n|[\n\r\u2028\u2029])|([\s\S]))"
    r'|(")'
)
_JS_LITERALS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "undefined": "null",
    "NaN": "null",
    "Infinity": "null",
}
_SIMPLE_ESCAPES = {"v": "\\u000b", "0": "\\u0000"}


class ReactContextError(ValueError):
    """The page names a reactContext but its object literal cannot be read."""


def _script_segment(html: str) -> str | None:
    """From the object's `{` to the end of its <script> (an inline script cannot contain
    `</script`, so the object ends before it)."""
    start = _START.search(html)
    if start is None:
        return None
    begin = start.end() - 1
    end = _SCRIPT_END.search(html, begin)
    return html[begin : end.start() if end else len(html)]


def _match_braces(segment: str) -> str:
    depth = 0
    for match in _BRACE_TOKENS.finditer(segment):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                return segment[: match.end()]
    raise ReactContextError("netflix.reactContext object is not closed")


def read_react_context(html: str) -> dict[str, Any] | None:
    """The reactContext object as Python data, None if absent; ReactContextError if unreadable."""
    segment = _script_segment(html)
    if segment is None:
        return None
    try:
        # Fast path: JSON plus \xHH escapes (modern pages). raw_decode finds the object's end
        # itself; strict=False admits raw control characters inside strings.
        value, _ = _DECODER.raw_decode(_hex_escapes_to_json(segment))
    except ValueError:
        value = _parse_slow(_match_braces(segment))
    if not isinstance(value, dict):
        raise ReactContextError("netflix.reactContext is not an object")
    return value


def parse_js_object(source: str) -> dict[str, Any]:
    """Read a JS object literal made of data (no calls); regex literals become None."""
    try:
        value = json.loads(_hex_escapes_to_json(source), strict=False)
    except ValueError:
        value = _parse_slow(source)
    if not isinstance(value, dict):
        raise ReactContextError("the JS literal is not an object")
    return value


def _hex_escapes_to_json(source: str) -> str:
    if "\\x" not in source:
        return source
    if _PAIR_PLACEHOLDER in source:
        return source  # cannot set pairs aside safely; the slow path handles it
    text = source.replace("\\\\", _PAIR_PLACEHOLDER).replace("\\x", "\\u00")
    return text.replace(_PAIR_PLACEHOLDER, "\\\\")


def _parse_slow(source: str) -> Any:
    try:
        return json.loads(_to_json(source), strict=False)
    except ValueError as exc:
        raise ReactContextError(f"netflix.reactContext is not a readable literal: {exc}") from None


def _js_string_to_json(body: str) -> str:
    """A JS string body (between its quotes) as a JSON string body."""

    def replace(m: re.Match[str]) -> str:
        hex2, u4, ubrace, simple, continuation, other, quote = m.groups()
        if hex2 is not None:
            return "\\u00" + hex2
        if u4 is not None:
            return "\\" + u4
        if ubrace is not None:
            return json.dumps(chr(int(ubrace, 16)))[1:-1] if int(ubrace, 16) <= 0x10FFFF else ""
        if simple is not None:
            return "\\" + simple
        if continuation is not None:
            return ""
        if quote is not None:
            return '\\"'
        # `\'`, `\v`, `\0`, `\q`...: JS keeps the character (JSON would reject the escape).
        return _SIMPLE_ESCAPES.get(other, json.dumps(other)[1:-1])

    return _STRING_ESCAPE.sub(replace, body)


def _to_json(source: str) -> str:
    out: list[str] = []
    append = out.append
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup
        text = m.group()
        if kind == "ws" or kind == "comment":
            continue
        if kind == "dq" or kind == "sq":
            append('"' + _js_string_to_json(text[1:-1]) + '"')
        elif kind == "regex":
            append("null")  # a regex is code, not data: skipped
        elif kind == "num":
            append(str(int(text, 16)) if text.lower().startswith(("0x", "-0x")) else text)
        elif kind == "bang":
            append("true" if text[-1] == "0" else "false")
        elif kind == "ident":
            # An identifier used as a key (followed by `:`) is quoted; otherwise it is a value.
            rest = source[m.end() : m.end() + 64].lstrip()
            if rest.startswith(":"):
                append(json.dumps(text))
            else:
                append(_JS_LITERALS.get(text, "null"))
        elif kind == "punct":
            if text in "}]" and out and out[-1] == ",":
                out.pop()  # a trailing comma is legal JS, not JSON
            append(text)
        else:
            raise ReactContextError(f"unexpected {text!r} in netflix.reactContext")
    return "".join(out)


def dig(value: Any, *path: str | int) -> Any:
    """value[path[0]][path[1]]..., or None as soon as a step is missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
        elif not isinstance(value, dict):
            return None
        elif step not in value:
            return None
        value = value[step]
    return value


def title_models(context: dict[str, Any]) -> tuple[list[dict[str, Any]], bool | None]:
    """Raw (uncleaned) title values keyed by TitleData field names, most trusted first, and the
    `isAvailable` flag (None when the context does not say).

    `models.nmTitleGQL.data` (2023+): one record from the object holding `copy`/`metaData`.
    `models.nmTitleUI.data.sectionData[]` (~2020-23): the hero section, then every section.
    """
    gql = _title_node(dig(context, "models", "nmTitleGQL", "data"))
    if gql is not None:
        return _gql_record(gql)
    sections = dig(context, "models", "nmTitleUI", "data", "sectionData")
    if not isinstance(sections, list):
        return [], None
    datas = [s["data"] for s in sections if isinstance(s, dict) and isinstance(s.get("data"), dict)]
    heroes = [s["data"] for s in sections if isinstance(s, dict) and s.get("type") == "hero"]
    return [_title_ui_record(d) for d in heroes + datas if isinstance(d, dict)], None


def _title_node(data: Any, depth: int = 3) -> dict[str, Any] | None:
    """The object holding `copy`/`metaData`: `data` itself or a few levels below it."""
    if not isinstance(data, dict):
        return None
    if "copy" in data or "metaData" in data:
        return data
    if depth > 0:
        for value in data.values():
            found = _title_node(value, depth - 1)
            if found is not None:
                return found
    return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [], {})), None)


def _gql_record(node: dict[str, Any]) -> tuple[list[dict[str, Any]], bool | None]:
    found = node.get("metaData")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    core = dig(node, "genreInfo", "coreGenre")
    available = meta.get("isAvailable", node.get("isAvailable"))
    record = {
        "title": _first(dig(node, "copy", "title"), node.get("title")),
        "plot": _first(dig(node, "copy", "synopsis"), dig(node, "copy", "description")),
        "genres": _first(
            core.get("name") if isinstance(core, dict) else core,
            dig(node, "genreInfo", "genres"),
            node.get("genres"),
        ),
        "backdrop": _first(dig(node, "artwork", "billboard"), dig(node, "artwork", "backdrop")),
        "type": _first(meta.get("type"), node.get("__typename")),
        "year": _first(
            *(meta.get(k) for k in ("releaseYear", "year", "latestYear", "releaseDate")),
            node.get("releaseYear"),
        ),
        "maturity_rating": _first(meta.get("maturityRating"), dig(meta, "maturity", "rating")),
        "seasons": _first(meta.get("seasonCount"), node.get("seasonCount")),
        "cast": _first(node.get("cast"), dig(node, "credits", "cast")),
        "directors": _first(node.get("directors"), dig(node, "credits", "directors")),
        "creators": _first(node.get("creators"), dig(node, "credits", "creators")),
    }
    return [record], available if isinstance(available, bool) else None


def _title_ui_record(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": data.get("title"),
        "plot": _first(data.get("synopsis"), data.get("description")),
        "year": _first(data.get("year"), data.get("releaseYear")),
        "genres": data.get("genres"),
        "cast": _first(data.get("starring"), data.get("cast")),
        "directors": data.get("directors"),
        "creators": data.get("creators"),
        "backdrop": _first(data.get("backgroundImage"), data.get("billboard")),
        "type": _first(data.get("type"), data.get("videoType")),
        "maturity_rating": _first(dig(data, "maturity", "rating"), data.get("maturityRating")),
        "seasons": data.get("seasonCount"),
    }
