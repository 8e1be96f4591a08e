"""The OpenAPI 3.1 document of every REST endpoint (served at GET /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.schema import STR, Schema, enum_of, obj
from streams.errors import ErrorCode
from streams.events.livestream import AccessType, Role, StreamStatus, StreamType
from streams.events.netflix import JobStatus, Source, TitleData
from streams.livestream import commands

# Response schemas are closed (`additionalProperties: false`): a field a handler returns that the
# document does not name fails the contract test, so code and document cannot drift apart.

NSTR: Schema = {"type": ["string", "null"]}
TIME: Schema = {"type": "string", "format": "date-time"}
NTIME: Schema = {"type": ["string", "null"], "format": "date-time"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
OBJECT_ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{24}$"}


def _text(max_len: int, *, nullable: bool = False) -> Schema:
    """A text field as streams.livestream.commands checks it: trimmed, not blank, at most
    `max_len` characters."""
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_len, "pattern": r"\S"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(name: str) -> Schema:
    return {"anyOf": [ref(name), {"type": "null"}]}


def _title_data() -> Schema:
    schema = TitleData.model_json_schema(by_alias=True, mode="serialization")
    schema.pop("title", None)
    schema["additionalProperties"] = False
    schema["required"] = list(schema["properties"])  # the gateway always sends every field
    return schema


def _title_result() -> Schema:
    base = _title_data()
    props = {"jobId": STR, "source": enum_of(Source), **base["properties"]}
    return obj(props)


PAGINATION = obj(
    {
        "currentPage": INT,
        "totalPages": INT,
        "totalItems": INT,
        "itemsPerPage": INT,
        "hasNextPage": BOOL,
        "hasPrevPage": BOOL,
    }
)
PROFILE = obj({"_id": STR, "username": NSTR, "name": NSTR, "surname": NSTR, "profilePhoto": NSTR})
LIVE_STREAM = obj(
    {
        "id": OBJECT_ID,
        "title": STR,
        "liveStreamType": enum_of(StreamType),
        "channelName": STR,
        "broadcasters": {"type": "array"},
        "guests": {"type": "array"},
        "creator": {"anyOf": [ref("UserProfile"), {"type": "null"}]},
        "thumbnailUrl": NSTR,
        "recording": BOOL,
        "recordingUrl": NSTR,
        "status": enum_of(StreamStatus),
        "accessType": enum_of(AccessType),
        "price": {"type": "number"},
        "interest": NSTR,
        "durationGoal": {"type": ["integer", "null"]},
        "motivation": NSTR,
        "isActiveReplayOnCreatorProfile": {"type": ["boolean", "null"]},
        "replayCreditPrice": {"type": ["number", "null"]},
        "startedAt": NTIME,
        "plannedStartDate": NTIME,
        "endedAt": NTIME,
        "plannedEndDate": NTIME,
        "createdAt": NTIME,
        "updatedAt": NTIME,
        "fundingGoal": {"type": ["number", "null"]},
        "collectedFunding": {"type": ["number", "null"]},
        "fundingPercentage": {"type": ["number", "null"]},
        "role": enum_of(Role, nullable=True),
        "miniCrowdFundings": {"type": "array"},
    }
)
JOB_STATE = obj(
    {
        "jobId": STR,
        "status": enum_of(JobStatus),
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "step": NSTR,
        "stepCode": NSTR,
        "source": enum_of(Source, nullable=True),
        "data": nullable("TitleData"),
        "error": {"anyOf": [ref("JobError"), {"type": "null"}]},
        "createdAt": NTIME,
        "updatedAt": NTIME,
        "url": NSTR,
        "country": NSTR,
        "titleId": NSTR,
    }
)

SCHEMAS: dict[str, Schema] = {
    "TitleData": _title_data(),
    "TitleResult": _title_result(),
    "JobError": obj({"code": STR, "message": STR}),
    "JobAccepted": obj(
        {"jobId": STR, "status": {"const": JobStatus.PENDING.value}, "progress": {"const": 0}}
    ),
    "JobState": JOB_STATE,
    "Health": obj({"status": {"const": "ok"}}),
    # workers / projections: present unless READY_REQUIRE_WORKERS=0 / READY_MAX_PROJECTION_LAG_SECONDS=0
    "Readiness": obj(
        {"kafka": STR, "database": STR, "workers": STR, "projections": STR}, required=["kafka", "database"]
    ),
    "UserProfile": PROFILE,
    "Pagination": PAGINATION,
    "LiveStream": LIVE_STREAM,
    "LiveStreamPage": obj(
        {"list": {"type": "array", "items": ref("LiveStream")}, "pagination": ref("Pagination")}
    ),
    "CommandAccepted": obj({"id": OBJECT_ID, "projected": {"const": False}}),
    "StreamDeleted": obj({"id": OBJECT_ID, "deleted": {"const": True}, "deletedAt": NTIME}),
    "JoinResult": obj(
        {"liveStreamId": OBJECT_ID, "role": enum_of(Role), "joinedAt": TIME, "projected": BOOL}
    ),
    "TitleRequest": obj(
        {"url": {"type": "string", "examples": ["https://www.netflix.com/tr/title/81616256"]}}
    ),
    "JoinRequest": obj({"liveStreamId": OBJECT_ID}),
    "DevTokenRequest": obj({"userId": STR, "username": NSTR, "name": NSTR, "surname": NSTR}, ["userId"]),
    "DevToken": obj({"token": STR, "expiresIn": INT}),
    "DevConfig": obj({"devToken": BOOL, "apiKey": STR}, ["devToken"]),
    "CreateStreamRequest": obj(
        {
            "title": _text(commands.MAX_TITLE),
            "liveStreamType": enum_of(StreamType),
            "channelName": _text(commands.MAX_CHANNEL_NAME),
            "accessType": enum_of(AccessType),
            "price": {"type": "number", "minimum": 0, "maximum": commands.MAX_PRICE},
            "interest": _text(commands.MAX_INTEREST, nullable=True),
            "guests": {"type": "array", "items": OBJECT_ID, "maxItems": commands.MAX_GUESTS},
            "plannedStartDate": NTIME,
            "plannedEndDate": NTIME,
            "durationGoal": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": commands.MAX_DURATION_GOAL,
            },
            "motivation": _text(commands.MAX_MOTIVATION, nullable=True),
            "thumbnailUrl": {
                **_text(commands.MAX_URL, nullable=True),
                "pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^/?#@:\s]",
            },
            "recording": BOOL,
        },
        ["title", "liveStreamType", "channelName"],
    ),
}


def success(data: Schema) -> Schema:
    return obj(
        {
            "isSuccess": {"const": True},
            "statusCode": INT,
            "data": data,
            "errors": {"type": "array", "maxItems": 0},
            "timestamp": TIME,
        }
    )


FAILURE = obj(
    {
        "isSuccess": {"const": False},
        "statusCode": INT,
        "code": enum_of(ErrorCode),
        "data": {},
        "errors": {"type": "array", "items": STR, "minItems": 1},
        "timestamp": TIME,
    }
)
SCHEMAS["Success"] = success({})
SCHEMAS["Failure"] = FAILURE

_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted (not yet visible in the read model)",
    204: "No content",
    400: "Bad input (the message says what)",
    401: "Missing or bad credentials",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the resource's state",
    413: "Body larger than MAX_BODY_BYTES (PAYLOAD_TOO_LARGE)",
    429: "Too many jobs from this API key (RATE_LIMITED): retry after Retry-After seconds",
    502: "Netflix failed (SCRAPE_ERROR, PARSE_ERROR)",
    503: "A dependency is down",
    504: "Timed out (the data carries the jobId)",
}


def responses(ok: dict[int, Schema], errors: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, data in ok.items():
        out[str(status)] = {
            "description": _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": success(data)}},
        }
    for status in errors:
        out[str(status)] = {
            "description": _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ref("Failure")}},
        }
        if status == 429:
            out[str(status)]["headers"] = {
                "Retry-After": {
                    "description": "Seconds (whole, at least 1) until a token is there again",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    return out


Security = list[dict[str, list[str]]]
API_KEY: Security = [{"apiKey": []}]
BEARER: Security = [{"bearer": []}]
OPTIONAL_BEARER: Security = [{"bearer": []}, {}]
PAGE_PARAMS = [
    {
        "name": "page",
        "in": "query",
        "description": "Past the last page: an empty list. At most (2^63 - 1) // limit + 1 (400 beyond).",
        "schema": {"type": "integer", "minimum": 1, "default": 1},
    },
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    },
]
ID_PARAM = [{"name": "id", "in": "path", "required": True, "schema": OBJECT_ID}]


def op(
    summary: str,
    ok: dict[int, Schema],
    errors: list[int],
    *,
    security: Any = None,
    body: str | None = None,
    params: list[Any] | None = None,
    tag: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses(ok, errors)}
    if security is not None:
        out["security"] = security
    if body:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if params:
        out["parameters"] = params
    return out


DEV_OFF = " (development only: 404 NOT_FOUND unless DEV_TOKEN_ENDPOINT is on)"
LS = "/api/v1/live-stream"
PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": op("The process answers", {200: ref("Health")}, [], tag="health")},
    "/readyz": {
        "get": op(
            "Kafka and the database answer, a worker is in the consumer group, the read models are "
            "within READY_MAX_PROJECTION_LAG_SECONDS of the log; a 503 names the check that failed",
            {200: ref("Readiness")},
            [503],
            tag="health",
        )
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics of this gateway (text format, or OpenMetrics when asked)",
            "tags": ["health"],
            "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["meta"],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    },
    "/api/getinfo/async": {
        "post": op(
            "Start a title job; follow it on Socket.IO (job:subscribe) or GET /api/jobs/{jobId}",
            {202: ref("JobAccepted")},
            [400, 401, 413, 429, 503],
            security=API_KEY,
            body="TitleRequest",
            tag="netflix",
        )
    },
    "/api/getinfo": {
        "post": op(
            "Run a title job and answer when it ends (504 with the jobId after JOB_WAIT_TIMEOUT_SECONDS)",
            {200: ref("TitleResult")},
            [400, 401, 404, 413, 429, 502, 503, 504],
            security=API_KEY,
            body="TitleRequest",
            tag="netflix",
        )
    },
    "/api/jobs/{jobId}": {
        "get": op(
            "A job's current state",
            {200: ref("JobState")},
            [401, 404],
            security=API_KEY,
            params=[{"name": "jobId", "in": "path", "required": True, "schema": STR}],
            tag="netflix",
        )
    },
    LS: {
        "post": op(
            "Create a live stream (the caller is its host)",
            {201: ref("LiveStream"), 202: ref("CommandAccepted")},
            [400, 401, 413, 503],
            security=BEARER,
            body="CreateStreamRequest",
            tag="live-stream",
        )
    },
    f"{LS}/join": {
        "post": op(
            "Join a stream (role: host, guest or audience)",
            {200: ref("JoinResult"), 202: ref("JoinResult")},
            [400, 401, 404, 409, 413, 503],
            security=BEARER,
            body="JoinRequest",
            tag="live-stream",
        )
    },
    f"{LS}/my-broadcasted-streams": {
        "get": op(
            "Ended streams the caller hosted or guested in, newest endedAt first",
            {200: ref("LiveStreamPage")},
            [400, 401],
            security=BEARER,
            params=PAGE_PARAMS,
            tag="live-stream",
        )
    },
    f"{LS}/my-watched-streams": {
        "get": op(
            "Ended streams the caller watched as audience, newest endedAt first",
            {200: ref("LiveStreamPage")},
            [400, 401],
            security=BEARER,
            params=PAGE_PARAMS,
            tag="live-stream",
        )
    },
    f"{LS}/whats-live-now": {
        "get": op(
            "Streams live now",
            {200: ref("LiveStreamPage")},
            [400, 401],
            security=OPTIONAL_BEARER,
            params=PAGE_PARAMS,
            tag="live-stream",
        )
    },
    f"{LS}/{{id}}/start": {
        "post": op(
            "Start a stream (creator only)",
            {200: ref("LiveStream"), 202: ref("CommandAccepted")},
            [400, 401, 403, 404, 409, 503],
            security=BEARER,
            params=ID_PARAM,
            tag="live-stream",
        )
    },
    f"{LS}/{{id}}/end": {
        "post": op(
            "End a stream (creator only)",
            {200: ref("LiveStream"), 202: ref("CommandAccepted")},
            [400, 401, 403, 404, 409, 503],
            security=BEARER,
            params=ID_PARAM,
            tag="live-stream",
        )
    },
    f"{LS}/{{id}}": {
        "get": op(
            "One stream",
            {200: ref("LiveStream")},
            [400, 401, 404],
            security=OPTIONAL_BEARER,
            params=ID_PARAM,
            tag="live-stream",
        ),
        "delete": op(
            "Soft-delete a stream (creator only)",
            {200: ref("StreamDeleted"), 202: ref("CommandAccepted")},
            [400, 401, 403, 404, 409, 503],
            security=BEARER,
            params=ID_PARAM,
            tag="live-stream",
        ),
    },
    "/api/dev/token": {
        "post": op(
            "Sign a 12-hour HS256 user token (sub = userId) with JWT_SECRET" + DEV_OFF,
            {200: ref("DevToken")},
            [400, 404, 413],
            body="DevTokenRequest",
            tag="development",
        )
    },
    "/api/dev/config": {
        "get": op(
            "What the demo page may use: the token endpoint, and the development API key when "
            "API_KEYS accepts it" + DEV_OFF,
            {200: ref("DevConfig")},
            [404],
            tag="development",
        )
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "streamproc gateway",
            "version": "1.0.0",
            "description": "Netflix title jobs and live-stream history. Every answer is the "
            "BaseResponseDto envelope {isSuccess, statusCode, data, errors, "
            "timestamp}; failures add a machine-readable `code`. Socket.IO events "
            "and Kafka topics are in docs/asyncapi.json.",
        },
        "servers": [{"url": "http://localhost:3000"}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 with JWT_SECRET, or RS256 with JWT_PUBLIC_KEY; "
                    "`exp` required; user id from sub, userId or _id",
                },
            },
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def routes() -> list[web.RouteDef]:
    return [web.get("/api/openapi.json", serve)]


if __name__ == "__main__":  # python -m gateway.openapi [--out FILE]
    import sys

    from gateway.openapi_cli import main

    sys.exit(main())
