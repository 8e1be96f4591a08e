"""Socket.IO namespaces `/live-stream` and `/stream-chat`: `joinStream` joins the stream's room."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import socketio

from gateway import livestream_service as service
from gateway.auth import User, socket_token
from gateway.context import Context
from gateway.realtime.limits import ConnectionLimits
from streams.errors import AppError, AuthError, ValidationError
from streams.events.livestream import JoinChannel
from streams.livestream import commands

log = logging.getLogger(__name__)

# A JWT comes from the handshake's `auth.token` or the `Authorization: Bearer` header. A socket
# without one, or with one that does not verify, is accepted as anonymous: it may join rooms
# (the seed: a viewer without a JWT still joins) but writes no participant event, so it gets no
# history. The ack of `joinStream` says `authenticated` so a client can tell.

NAMESPACES: dict[str, JoinChannel] = {"/live-stream": "live-stream", "/stream-chat": "stream-chat"}


def room(live_stream_id: str) -> str:
    return f"stream:{live_stream_id}"


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

    def __init__(self, namespace: str, ctx: Context, limits: ConnectionLimits) -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.channel = NAMESPACES[namespace]
        self.limits = limits

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        self.limits.open(self.namespace, sid, environ)  # raises the refusal when over the limit
        try:
            await self._authenticate(sid, environ, auth)
        except BaseException:
            self.limits.close(self.namespace, sid)  # not connected: no disconnect will come
            raise
        return True

    async def on_disconnect(self, sid: str, reason: str | None = None) -> None:
        self.limits.close(self.namespace, sid)

    async def _authenticate(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = socket_token(auth, environ)
        user: User | None = None
        auth_error: str | None = None
        if token is not None:
            try:
                user = self.ctx.tokens.verify(token)
            except AuthError as exc:
                auth_error = exc.code.value
                log.info(
                    "anonymous socket namespace=%s sid=%s auth_error=%s", self.namespace, sid, auth_error
                )
        await self.save_session(
            sid, {"user": None if user is None else asdict(user), "authError": auth_error}
        )

    async def on_joinStream(self, sid: str, payload: Any = None) -> dict[str, Any]:  # noqa: N802 - the seed's event name
        try:
            live_stream_id = stream_id_from(payload)
            user = _user_from(await self.get_session(sid))
            if user is not None:
                role, _ = await service.join(self.ctx, user, live_stream_id, self.channel)
                role_value: str | None = role.value
            else:
                await service.check_joinable(self.ctx, live_stream_id)
                role_value = None
            await self.enter_room(sid, room(live_stream_id))
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}
        return {
            "ok": True,
            "liveStreamId": live_stream_id,
            "role": role_value,
            "authenticated": user is not None,
        }

    async def on_leaveStream(self, sid: str, payload: Any = None) -> dict[str, Any]:  # noqa: N802
        try:
            live_stream_id = stream_id_from(payload)
        except ValidationError as exc:
            return {"ok": False, "error": exc.to_dict()}
        await self.leave_room(sid, room(live_stream_id))
        return {"ok": True, "liveStreamId": live_stream_id}


def register_livestream_namespaces(sio: socketio.AsyncServer, ctx: Context, limits: ConnectionLimits) -> None:
    for namespace in NAMESPACES:
        sio.register_namespace(LiveStreamNamespace(namespace, ctx, limits))
