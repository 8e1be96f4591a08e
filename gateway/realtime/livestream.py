"""Socket.IO namespaces `/live-stream` and `/stream-chat`: `joinStream` puts a socket in the
stream's room and, for an authenticated user, appends `participant.joined`.

A JWT comes from the handshake's `auth.token` or the `Authorization: Bearer` header. A socket
without one, or with one that does not verify, is accepted as anonymous: it may join rooms
(the seed: a viewer without a JWT still joins) but writes no participant event, so it gets no
history. The ack of `joinStream` says `authenticated` so a client can tell.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from gateway.auth import User
from gateway.context import Context
from gateway.http.livestream import join, load_stream
from streams.errors import AppError, AuthError, ValidationError
from streams.events.livestream import JoinChannel
from streams.livestream import commands

log = logging.getLogger(__name__)

NAMESPACES: dict[str, JoinChannel] = {"/live-stream": "live-stream", "/stream-chat": "stream-chat"}


def room(live_stream_id: str) -> str:
    return f"stream:{live_stream_id}"


def token_from(auth: Any, environ: dict[str, Any]) -> str | None:
    """`auth.token` (with or without `Bearer `), else the Authorization header; None if neither."""
    if isinstance(auth, dict):
        token = auth.get("token")
        if isinstance(token, str) and token.strip():
            scheme, _, rest = token.strip().partition(" ")
            return rest.strip() if scheme.lower() == "bearer" and rest.strip() else token.strip()
    header = environ.get("HTTP_AUTHORIZATION")
    if isinstance(header, str) and header.strip():
        scheme, _, rest = header.strip().partition(" ")
        # A header that is not `Bearer <token>` is a bad credential: an empty token fails verify.
        return rest.strip() if scheme.lower() == "bearer" else ""
    return None


def stream_id_from(payload: Any) -> str:
    """`{liveStreamId}`; a bare id string is accepted too."""
    if isinstance(payload, dict):
        payload = payload.get("liveStreamId")
    return commands.parse_object_id(payload, "liveStreamId")


def _user_from(session: dict[str, Any]) -> User | None:
    raw = session.get("user")
    return User(**raw) if isinstance(raw, dict) else None


class LiveStreamNamespace(socketio.AsyncNamespace):  # type: ignore[misc]  # untyped base
    """One namespace; both share the behaviour and differ only in the join channel."""

    def __init__(self, namespace: str, ctx: Context) -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.channel = NAMESPACES[namespace]

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        token = token_from(auth, environ)
        user: User | None = None
        auth_error: str | None = None
        if token is not None:
            try:
                user = self.ctx.tokens.verify(token)
            except AuthError as exc:
                auth_error = exc.code.value
                log.info("anonymous socket namespace=%s sid=%s auth_error=%s",
                         self.namespace, sid, auth_error)
        await self.save_session(sid, {
            "user": None if user is None else {
                "id": user.id, "username": user.username, "name": user.name,
                "surname": user.surname, "profile_photo": user.profile_photo,
            },
            "authError": auth_error,
        })
        return True

    async def on_joinStream(self, sid: str, payload: Any = None) -> dict[str, Any]:  # noqa: N802 - the seed's event name
        try:
            live_stream_id = stream_id_from(payload)
            user = _user_from(await self.get_session(sid))
            if user is not None:
                role, _ = await join(self.ctx, user, live_stream_id, self.channel)
                role_value: str | None = role.value
            else:
                commands.check_join(await load_stream(self.ctx, live_stream_id), live_stream_id)
                role_value = None
            await self.enter_room(sid, room(live_stream_id))
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}
        return {"ok": True, "liveStreamId": live_stream_id, "role": role_value,
                "authenticated": user is not None}

    async def on_leaveStream(self, sid: str, payload: Any = None) -> dict[str, Any]:  # noqa: N802
        try:
            live_stream_id = stream_id_from(payload)
        except ValidationError as exc:
            return {"ok": False, "error": exc.to_dict()}
        await self.leave_room(sid, room(live_stream_id))
        return {"ok": True, "liveStreamId": live_stream_id}


def register_livestream_namespaces(sio: socketio.AsyncServer, ctx: Context) -> None:
    for namespace in NAMESPACES:
        sio.register_namespace(LiveStreamNamespace(namespace, ctx))

