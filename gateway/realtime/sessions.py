"""Socket.IO connection state recovery (socket.io 4.6+'s protocol) for the job rooms of the
default namespace, in a form any gateway can recover, not only the one a client was on.

socket.io's own server keeps a disconnected session's rooms and missed packets in its memory for
two minutes. We derive both from what every gateway already has (the job-event log, a sequence
per job, the jobs read model):

- each session gets a private id, sent in its CONNECT packet as `{sid, pid}`;
- every job event sent to a socket carries, as its last argument, an offset naming each job room
  the socket is in and how far into that job it has been sent: `1|<jobId>:<position>,…`, where
  position = 2 × sequence + part (part 1 is the terminal event that follows a job's last
  `job:progress`). socket.io-client keeps the last offset it received;
- a client reconnecting with `{pid, offset}` in its CONNECT auth gets its pid back (so
  `socket.recovered` is true), rejoins those rooms and gets each job's events after its position.

A client that reconnects to the gateway it was on also gets back rooms it joined after the last
packet it received (a subscription whose first event was lost with the connection): the
gateway parks a closed session's rooms for `PARK_SECONDS`. Sent with `auth: {recovery: false}`,
a connection gets no offsets (for clients whose handlers cannot take an extra argument).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from gateway.metrics import SOCKETIO_EMITS
from streams.errors import AppError, ErrorCode

log = logging.getLogger(__name__)

OFFSET_VERSION = "1"
# A socket in more job rooms than this is recovered for the ones it heard from most recently.
MAX_RECOVERABLE_JOBS = 32
MAX_OFFSET_CHARS = MAX_RECOVERABLE_JOBS * 160
# How long a gateway remembers the rooms of a session whose connection dropped (socket.io's
# default maxDisconnectionDuration); recovery from the offset alone has no such limit.
PARK_SECONDS = 120.0
MAX_PARKED = 50_000  # a mass disconnect parks at most this many (the oldest go first)
_PID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_JOB_ID = re.compile(r"^[^,:|\s]{1,128}$")


def position(sequence: int, part: int) -> int:
    """Where one Socket.IO event of a job stands: its job event's sequence, then its part."""
    return 2 * sequence + part


def encode_offset(seen: Mapping[str, int]) -> str:
    return OFFSET_VERSION + "|" + ",".join(f"{job}:{pos}" for job, pos in seen.items())


def decode_offset(text: Any) -> dict[str, int] | None:
    """The rooms and positions an offset names; None for anything we did not write."""
    if not isinstance(text, str) or len(text) > MAX_OFFSET_CHARS:
        return None
    version, bar, body = text.partition("|")
    if version != OFFSET_VERSION or not bar:
        return None
    seen: dict[str, int] = {}
    for part in body.split(",") if body else ():
        job, colon, pos = part.rpartition(":")
        if not colon or not _JOB_ID.match(job) or not pos.isdigit() or len(pos) > 12:
            return None
        seen[job] = int(pos)
    return seen if len(seen) <= MAX_RECOVERABLE_JOBS else None


@dataclass(slots=True)
class Session:
    pid: str
    tagged: bool
    # job id -> the position of the last event sent to this socket, least recently moved first
    seen: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def watch(self, job_id: str, pos: int) -> None:
        self.seen[job_id] = max(pos, self.seen.get(job_id, pos))
        self.seen.move_to_end(job_id)
        while len(self.seen) > MAX_RECOVERABLE_JOBS:
            self.seen.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Restore:
    """What a reconnecting session gets back: its rooms, each with the position it has."""

    rooms: dict[str, int]
    replaces: str | None  # a connection of the same session this gateway still holds open


class Sessions:
    """The default namespace's sessions on this gateway: pids, positions per job room, and the
    rooms of sessions that dropped a moment ago."""

    def __init__(
        self, *, park_seconds: float = PARK_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._by_sid: dict[str, Session] = {}
        self._sid_of_pid: dict[str, str] = {}
        self._restores: dict[str, Restore] = {}  # recovered, CONNECT not sent yet
        self._parked: OrderedDict[str, tuple[float, dict[str, int]]] = OrderedDict()
        self._park_seconds = park_seconds
        self._clock = clock

    def __len__(self) -> int:
        return len(self._by_sid)

    def open(self, sid: str, auth: Any) -> Restore | None:
        """A new connection: a session of its own, or (with a pid and an offset we wrote) the
        session it had, and the rooms to restore."""
        auth = auth if isinstance(auth, dict) else {}
        tagged = auth.get("recovery") is not False
        pid, offset = auth.get("pid"), decode_offset(auth.get("offset"))
        if not (isinstance(pid, str) and _PID.match(pid) and offset is not None):
            self._start(sid, Session(secrets.token_urlsafe(18), tagged))
            return None
        replaces = self._sid_of_pid.get(pid)
        parked = self._unpark(pid)
        if replaces is not None and replaces in self._by_sid:
            parked = dict(self._by_sid[replaces].seen)
        # What the client says it got is the truth for positions; which rooms it is in is known
        # best by the gateway it was on (it may have left one, or joined one it heard nothing of).
        rooms = offset if parked is None else {job: offset.get(job, 0) for job in parked}
        session = Session(pid, tagged)
        for job, pos in rooms.items():
            session.watch(job, pos)
        self._start(sid, session)
        restore = self._restores[sid] = Restore(dict(session.seen), replaces)
        return restore

    def take_restore(self, sid: str) -> Restore | None:
        return self._restores.pop(sid, None)

    def _start(self, sid: str, session: Session) -> None:
        self._by_sid[sid] = session
        self._sid_of_pid[session.pid] = sid

    def _unpark(self, pid: str) -> dict[str, int] | None:
        now = self._clock()
        while self._parked and next(iter(self._parked.values()))[0] <= now:
            self._parked.popitem(last=False)
        entry = self._parked.pop(pid, None)
        return None if entry is None else entry[1]

    def close(self, sid: str, *, park: bool) -> None:
        """A connection ended; `park` when the client may come back for its session (the
        transport dropped), not when it or the server ended it on purpose."""
        self._restores.pop(sid, None)
        session = self._by_sid.pop(sid, None)
        if session is None:
            return
        if self._sid_of_pid.get(session.pid) == sid:
            del self._sid_of_pid[session.pid]
            if park and session.seen:
                self._parked[session.pid] = (self._clock() + self._park_seconds, dict(session.seen))
                while len(self._parked) > MAX_PARKED:
                    self._parked.popitem(last=False)
                self._unpark("")  # ages out the oldest

    def pid(self, sid: str) -> str | None:
        session = self._by_sid.get(sid)
        return None if session is None else session.pid

    def watch(self, sid: str, job_id: str, pos: int) -> None:
        session = self._by_sid.get(sid)
        if session is not None:
            session.watch(job_id, pos)

    def unwatch(self, sid: str, job_id: str) -> None:
        session = self._by_sid.get(sid)
        if session is not None:
            session.seen.pop(job_id, None)

    def advance(self, sid: str, job_id: str, pos: int) -> str | None:
        """The offset to send with a job event at `pos` to `sid` (None: send it untagged)."""
        session = self._by_sid.get(sid)
        if session is None or not session.tagged:
            return None
        session.watch(job_id, pos)
        return encode_offset(session.seen)


# Every event a client may send takes one payload argument (and maybe an ack callback).
MAX_EVENT_ARGS = 1
MAX_EVENT_NAME_CHARS = 64
# Events whose handler reports its own errors on the namespace's error event (the seed's
# client follows job:subscribe's errors on job:error, with or without an ack).
SELF_REPORTING = frozenset({"job:subscribe"})


def _refusal(message: str, code: ErrorCode) -> dict[str, Any]:
    return {"ok": False, "error": AppError(message, code=code).to_dict()}


def _is_refusal(result: Any) -> bool:
    return isinstance(result, dict) and result.get("ok") is False and isinstance(result.get("error"), dict)


class RecoveringServer(socketio.AsyncServer):  # type: ignore[misc]  # socketio is untyped
    """python-socketio's server with what recovery needs that it has no public seam for: the
    session's pid in the default namespace's CONNECT packet, and the recovered session's missed
    events sent right after that packet (as socket.io does: the client sees `connect` first).

    It also answers every event a client sends, whatever it is (python-socketio has no seam for
    this either): an event name that is not a string, not one of the namespace's events, or a
    reserved one (a client sending a `disconnect` *event* would otherwise run the disconnect
    handler on a live socket), or more than one payload argument, gets an error ack
    (UNKNOWN_EVENT, VALIDATION_ERROR) when the client asked for one, else the namespace's error
    event (`job:error` on `/`; the live-stream namespaces have none). A packet that cannot be
    decoded at all closes its connection, with one log line and no traceback."""

    def __init__(self, sessions: Sessions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions = sessions
        self.on_recovered: Callable[[str, Restore], Awaitable[None]] | None = None
        self._events: dict[str, frozenset[str]] = {}

    def client_events(self, namespace: str) -> frozenset[str]:
        """The events a client may send to `namespace` (its handlers, reserved ones left out)."""
        known = self._events.get(namespace)
        if known is None:
            names = set(self.handlers.get(namespace, {}))
            handler = self.namespace_handlers.get(namespace)
            if handler is not None:
                names |= {n[3:] for n in dir(handler) if n.startswith("on_")}
            known = self._events[namespace] = frozenset(names - set(self.reserved_events))
        return known

    def _event_problem(self, namespace: str, data: Any) -> dict[str, Any] | None:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return _refusal("an event is [name, payload]: the name must be a string", ErrorCode.UNKNOWN_EVENT)
        event = data[0]
        if event not in self.client_events(namespace):
            shown = event if len(event) <= MAX_EVENT_NAME_CHARS else event[:MAX_EVENT_NAME_CHARS] + "…"
            known = ", ".join(sorted(self.client_events(namespace)))
            message = f"unknown event {shown!r} on {namespace} (known: {known})"
            return _refusal(message, ErrorCode.UNKNOWN_EVENT)
        if len(data) - 1 > MAX_EVENT_ARGS:
            return _refusal(
                f"{event} takes one payload argument, got {len(data) - 1}", ErrorCode.VALIDATION_ERROR
            )
        return None

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except (ValueError, RecursionError) as exc:  # a packet python-socketio cannot decode
            log.warning("unreadable Socket.IO packet, connection closed eio_sid=%s: %.200s", eio_sid, exc)
            self._binary_packet.pop(eio_sid, None)
            await self.eio.disconnect(eio_sid)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        namespace = namespace or "/"
        problem = self._event_problem(namespace, data)
        if problem is None:
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            return
        await self._answer(sid, eio_sid, namespace, id, None, problem)

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: int | None
    ) -> None:
        event = data[0]
        try:
            result = await server._trigger_event(event, namespace, sid, *data[1:])
        except Exception:  # a bug of ours: logged, and the client still hears back
            log.exception("event handler failed event=%s namespace=%s sid=%s", event, namespace, sid)
            result = _refusal("internal error", ErrorCode.INTERNAL_ERROR)
        if result is self.not_handled:
            result = _refusal(f"unknown event {event!r} on {namespace}", ErrorCode.UNKNOWN_EVENT)
        await self._answer(sid, eio_sid, namespace, id, event, result)

    async def _answer(
        self, sid: str, eio_sid: str, namespace: str, id: int | None, event: str | None, result: Any
    ) -> None:
        """The ack the client asked for, or (none asked) an error on the namespace's error event."""
        if id is not None:
            data = [] if result is None else list(result) if isinstance(result, tuple) else [result]
            ack = self.packet_class(sio_packet.ACK, namespace=namespace, id=id, data=data)
            await self._send_packet(eio_sid, ack)
        elif namespace == "/" and _is_refusal(result) and event not in SELF_REPORTING:
            await self.emit("job:error", {"jobId": None, "error": result["error"]}, to=sid, namespace="/")
            SOCKETIO_EMITS.labels(event="job:error").inc()

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        connect = pkt.packet_type == sio_packet.CONNECT and (pkt.namespace or "/") == "/"
        if not (connect and isinstance(pkt.data, dict)):
            await super()._send_packet(eio_sid, pkt)
            return
        sid = pkt.data.get("sid", "")
        pid = self.sessions.pid(sid)
        if pid is not None:
            pkt.data = {**pkt.data, "pid": pid}
        await super()._send_packet(eio_sid, pkt)
        restore = self.sessions.take_restore(sid)
        if restore is not None and self.on_recovered is not None:
            await self.on_recovered(sid, restore)


class EventSender:
    """Job events to sockets of the default namespace, each tagged with its recipient's offset;
    the payload is encoded once per event, only the offset per recipient."""

    def __init__(self, sio: socketio.AsyncServer, sessions: Sessions) -> None:
        self.sio = sio
        self.sessions = sessions

    def _targets(self, room: str | None, sid: str | None) -> list[tuple[str, str]]:
        if sid is not None:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            return [] if eio_sid is None else [(sid, eio_sid)]
        return list(self.sio.manager.get_participants("/", room))

    async def send(
        self,
        job_id: str,
        items: Iterable[tuple[int, str, dict[str, Any]]],
        *,
        room: str | None = None,
        sid: str | None = None,
    ) -> None:
        targets = self._targets(room, sid)
        if not targets:
            return
        for pos, name, payload in items:
            head = sio_packet.Packet(sio_packet.EVENT, data=[name, payload]).encode()[:-1]
            SOCKETIO_EMITS.labels(event=name).inc(len(targets))
            for target, eio_sid in targets:
                offset = self.sessions.advance(target, job_id, pos)
                text = head + ("]" if offset is None else "," + json.dumps(offset) + "]")
                await self.sio.eio.send_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, text))
