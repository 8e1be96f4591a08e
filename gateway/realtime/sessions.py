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

OFFSET_VERSION = "1"
# A socket in more job rooms than this is recovered for the ones it heard from most recently.
MAX_RECOVERABLE_JOBS = 32
MAX_OFFSET_CHARS = MAX_RECOVERABLE_JOBS * 160
# How long a gateway remembers the rooms of a session whose connection dropped (socket.io's
# default maxDisconnectionDuration); recovery from the offset alone has no such limit.
PARK_SECONDS = 120.0
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


class RecoveringServer(socketio.AsyncServer):  # type: ignore[misc]  # socketio is untyped
    """python-socketio's server with what recovery needs that it has no public seam for: the
    session's pid in the default namespace's CONNECT packet, and the recovered session's missed
    events sent right after that packet (as socket.io does: the client sees `connect` first)."""

    def __init__(self, sessions: Sessions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions = sessions
        self.on_recovered: Callable[[str, Restore], Awaitable[None]] | None = None

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
            for target, eio_sid in targets:
                offset = self.sessions.advance(target, job_id, pos)
                text = head + ("]" if offset is None else "," + json.dumps(offset) + "]")
                await self.sio.eio.send_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, text))
