"""Credentials in one place: X-API-Key for the Netflix API, Bearer JWTs for users."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import jwt

from streams.errors import AuthError, ErrorCode
from streams.settings import Settings

# The user id is `sub`, else `userId`, else `_id`; the profile claims are read by name below.
USER_ID_CLAIMS = ("sub", "userId", "_id")


def parse_bearer(value: str) -> str | None:
    """The token of `Bearer <token>` (any case, any spaces), else None."""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def socket_token(auth: Any, environ: dict[str, Any]) -> str | None:
    """A Socket.IO handshake's token: `auth.token` (with or without `Bearer `), else the
    Authorization header; None if neither is there."""
    if isinstance(auth, dict):
        token = auth.get("token")
        if isinstance(token, str) and token.strip():
            return parse_bearer(token) or token.strip()
    header = environ.get("HTTP_AUTHORIZATION")
    if isinstance(header, str) and header.strip():
        # A header that is not `Bearer <token>` is a bad credential: an empty token fails verify.
        return parse_bearer(header) or ""
    return None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str | None = None
    name: str | None = None
    surname: str | None = None
    profile_photo: str | None = None

    def profile(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "username": self.username,
            "name": self.name,
            "surname": self.surname,
            "profilePhoto": self.profile_photo,
        }


class ApiKeys:
    def __init__(self, keys: frozenset[str]) -> None:
        self._keys = [k.encode("utf-8") for k in keys if k]

    def check(self, presented: str | None) -> None:
        if not presented:
            raise AuthError("X-API-Key header is missing", code=ErrorCode.UNAUTHORIZED)
        candidate = presented.encode("utf-8")
        # constant-time comparison against every key, so timing tells nothing
        if not any(hmac.compare_digest(candidate, key) for key in self._keys):
            raise AuthError("X-API-Key is not valid", code=ErrorCode.UNAUTHORIZED)


class TokenVerifier:
    """Verifies HS256 tokens with JWT_SECRET, or RS256 with JWT_PUBLIC_KEY when that is set.
    `exp` is required and enforced; `alg: none` and every other algorithm are refused."""

    def __init__(self, settings: Settings, *, leeway_seconds: float = 5.0) -> None:
        if settings.jwt_public_key:
            self._key: Any = settings.jwt_public_key
            self._algorithms = ["RS256"]
        else:
            self._key = settings.jwt_secret
            self._algorithms = ["HS256"]
        self._leeway = leeway_seconds

    def verify(self, token: str) -> User:
        if not token or token.count(".") != 2:
            raise AuthError("bearer token is malformed", code=ErrorCode.INVALID_TOKEN)
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                options={"require": ["exp"], "verify_aud": False},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token has expired", code=ErrorCode.TOKEN_EXPIRED) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token misses the {exc.claim!r} claim", code=ErrorCode.INVALID_TOKEN) from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError("token algorithm is not accepted", code=ErrorCode.INVALID_TOKEN) from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("token signature is not valid", code=ErrorCode.INVALID_TOKEN) from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"token is not valid: {exc}", code=ErrorCode.INVALID_TOKEN) from exc
        user_id = next((claims[c] for c in USER_ID_CLAIMS if claims.get(c)), None)
        if not isinstance(user_id, str | int) or isinstance(user_id, bool) or not str(user_id).strip():
            raise AuthError("token has no user id (sub, userId or _id)", code=ErrorCode.INVALID_TOKEN)

        def text(name: str) -> str | None:
            value = claims.get(name)
            return value if isinstance(value, str) else None

        return User(
            id=str(user_id),
            username=text("username"),
            name=text("name"),
            surname=text("surname"),
            profile_photo=text("profilePhoto"),
        )

    def from_header(self, header: str | None) -> User:
        if not header:
            raise AuthError("Authorization header is missing", code=ErrorCode.UNAUTHORIZED)
        token = parse_bearer(header)
        if token is None:
            raise AuthError("Authorization must be 'Bearer <token>'", code=ErrorCode.UNAUTHORIZED)
        return self.verify(token)

    def optional(self, header: str | None) -> User | None:
        """No header: anonymous. A header that is there must be valid (401 otherwise)."""
        return self.from_header(header) if header else None
