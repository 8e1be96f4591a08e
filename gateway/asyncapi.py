"""The AsyncAPI document of Socket.IO events and Kafka topics, generated from the code's types."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.realtime.livestream import NAMESPACES
from gateway.schema import STR, enum_of, obj
from streams import topics
from streams.events.catalog import CATALOG
from streams.events.docs import schema_name
from streams.events.livestream import Role
from streams.events.netflix import JobStatus, Source, TitleData

OUT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.json"

_ERR = obj({"code": STR, "message": STR})
# Connection state recovery (gateway/realtime/sessions.py): the last argument of every job event.
_OFFSET_ARG = {
    "type": "string",
    "description": "Connection state recovery offset, sent after the payload; socket.io-client keeps "
    "the last one and sends it back with its pid when it reconnects. Not sent to a connection "
    "whose handshake auth has recovery: false.",
}
_ROOT_NAMESPACE = (
    "Socket.IO namespace / (job events). Connection state recovery as socket.io 4.6+: the CONNECT "
    "packet carries {sid, pid}; a client reconnecting with auth {pid, offset} gets its job rooms "
    "back and the events it missed (socket.recovered is true), on any gateway."
)
_NULLABLE_STR = {"type": ["string", "null"]}

# Socket.IO: (namespace, direction, event) -> payload schema and notes.
SOCKET_EVENTS: list[dict[str, Any]] = [
    {
        "namespace": "/",
        "event": "job:subscribe",
        "direction": "client->server",
        "payload": {"oneOf": [STR, obj({"jobId": STR})]},
        "ack": {
            "oneOf": [
                obj({"ok": {"const": True}, "jobId": STR, "status": STR}),
                obj({"ok": {"const": False}, "error": _ERR}),
            ]
        },
        "description": "Join the job's room. A late subscriber at once gets the steps it missed, in "
        "order (the last one is the current state), then job:completed or job:error "
        "if the job has ended. Unknown jobs: error ack JOB_NOT_FOUND (and job:error). More than "
        "MAX_SUBSCRIPTIONS_PER_SOCKET unfinished jobs on one socket: error ack TOO_MANY_SUBSCRIPTIONS. "
        "A payload that is no job id: VALIDATION_ERROR. Any event the gateway does not know, on any "
        "namespace, gets an error ack UNKNOWN_EVENT when the client asked for an ack.",
    },
    {
        "namespace": "/",
        "event": "job:unsubscribe",
        "direction": "client->server",
        "payload": {"oneOf": [STR, obj({"jobId": STR})]},
        "ack": {
            "oneOf": [
                obj({"ok": {"const": True}, "jobId": STR}),
                obj({"ok": {"const": False}, "error": _ERR}),
            ]
        },
        "description": "Leave the job's room (a payload that is no job id: VALIDATION_ERROR).",
    },
    {
        "namespace": "/",
        "event": "job:progress",
        "direction": "server->client",
        "payload": obj(
            {
                "jobId": STR,
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "status": enum_of(JobStatus),
                "step": STR,
                "stepCode": STR,
            }
        ),
        "description": "Every job step: created 0, checking_cache 10, checking_database 30, "
        "scraping_netflix 50, saving_to_database 80, completed 100 (failed: the "
        "progress reached). `step` is the description, `stepCode` the code.",
    },
    {
        "namespace": "/",
        "event": "job:completed",
        "direction": "server->client",
        "payload": obj(
            {"jobId": STR, "data": {"$ref": "#/components/schemas/TitleData"}, "source": enum_of(Source)}
        ),
        "description": "The job ended with the title.",
    },
    {
        "namespace": "/",
        "event": "job:error",
        "direction": "server->client",
        "payload": obj({"jobId": _NULLABLE_STR, "error": _ERR}),
        "description": "The job failed: SCRAPE_ERROR, TITLE_NOT_FOUND, PARSE_ERROR, TIMEOUT (or "
        "JOB_NOT_FOUND for a subscription to an unknown job).",
    },
]
for _ns, _channel in NAMESPACES.items():
    SOCKET_EVENTS.append(
        {
            "namespace": _ns,
            "event": "joinStream",
            "direction": "client->server",
            "payload": obj({"liveStreamId": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}),
            "ack": {
                "oneOf": [
                    obj(
                        {
                            "ok": {"const": True},
                            "liveStreamId": STR,
                            "role": enum_of(Role, nullable=True),
                            "authenticated": {"type": "boolean"},
                        }
                    ),
                    obj({"ok": {"const": False}, "error": _ERR}),
                ]
            },
            "description": f"Join the stream's room. With a valid JWT (handshake auth.token or the "
            f"Authorization header) a participant.joined event (channel "
            f"'{_channel}') is appended; without one, no event is written.",
        }
    )


def build() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for i, ev in enumerate(SOCKET_EVENTS):
        name = f"socketio{ev['namespace'].replace('/', '_') or '_'}{ev['event'].replace(':', '_')}"
        messages[name] = {
            "name": ev["event"],
            "payload": ev["payload"],
            "description": ev["description"],
            **({"x-ack": ev["ack"]} if "ack" in ev else {}),
            **(
                {"x-offset-argument": _OFFSET_ARG}
                if ev["namespace"] == "/" and ev["direction"] == "server->client"
                else {}
            ),
        }
        channel = f"socketio:{ev['namespace']}"
        channels.setdefault(
            channel,
            {
                "address": ev["namespace"],
                "messages": {},
                "description": _ROOT_NAMESPACE
                if ev["namespace"] == "/"
                else f"Socket.IO namespace {ev['namespace']}",
            },
        )
        channels[channel]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        operations[f"op{i:02d}_{name}"] = {
            "action": "receive" if ev["direction"] == "client->server" else "send",
            "channel": {"$ref": f"#/channels/{channel.replace('/', '~1')}"},
            "messages": [{"$ref": f"#/channels/{channel.replace('/', '~1')}/messages/{name}"}],
        }
    for topic in topics.ALL_TOPICS:
        specs = [s for s in CATALOG.specs() if s.topic == topic]
        channel = f"kafka:{topic}"
        channels[channel] = {
            "address": topic,
            "description": f"Kafka topic {topic} (key = subject)",
            "messages": {},
        }
        for spec in specs:
            name = f"{spec.event_type.replace('.', '_')}_v{spec.version}"
            messages[name] = {
                "name": spec.event_type,
                "description": spec.description,
                "payload": {
                    "$ref": "schemas/envelope.json",
                    "x-data": {"$ref": f"schemas/{schema_name(spec)}"},
                },
                "x-version": spec.version,
                "x-latest": CATALOG.latest(spec.event_type) == spec.version,
            }
            channels[channel]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        operations[f"publish_{topic}"] = {"action": "send", "channel": {"$ref": f"#/channels/{channel}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "streamproc events",
            "version": "1.0.0",
            "description": "Socket.IO events of the gateway and the public Kafka topics. "
            "Generated by `python -m gateway.asyncapi`; a test fails on drift.",
        },
        "servers": {
            "gateway": {
                "host": "localhost:3000",
                "protocol": "ws",
                "description": "Socket.IO (WebSocket or long-polling), path /socket.io",
            },
            "kafka": {"host": "localhost:9092", "protocol": "kafka"},
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"TitleData": TitleData.model_json_schema(by_alias=True, mode="serialization")},
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.asyncapi",
        description=f"{__doc__} Writes {OUT.name}; --check exits 1 when it drifted.",
    )
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        ok = OUT.exists() and OUT.read_text(encoding="utf-8") == render()
        if not ok:
            print(f"{OUT} is stale: run python -m gateway.asyncapi", file=sys.stderr)
        return 0 if ok else 1
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
