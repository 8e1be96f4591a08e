"""JWT verification refuses every bad credential with an AuthError (401) and the right code."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth import TokenVerifier, User, parse_bearer
from streams.errors import AuthError, ErrorCode
from streams.settings import Settings

pytestmark = pytest.mark.unit
SECRET = "unit-test-secret-0123456789abcdef"
USER_ID = "65f000000000000000000010"


def claims(**extra: Any) -> dict[str, Any]:
    return {
        "sub": USER_ID,
        "username": "creator",
        "name": "Creator",
        "surname": "User",
        "profilePhoto": None,
        "exp": int(time.time()) + 600,
        **extra,
    }


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    """An `alg: none` token: header and claims, empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(Settings(jwt_secret=SECRET))


def rejected(call: Any, *args: Any) -> ErrorCode:
    with pytest.raises(AuthError) as info:
        call(*args)
    assert info.value.http_status == 401
    return info.value.code


def test_a_valid_token_gives_the_user(verifier: TokenVerifier) -> None:
    user = verifier.from_header(f"Bearer {hs256(claims())}")
    assert user == User(id=USER_ID, username="creator", name="Creator", surname="User")
    assert user.profile()["_id"] == USER_ID
    assert verifier.from_header(f"bearer   {hs256(claims())}  ").id == USER_ID


@pytest.mark.parametrize("claim", ["userId", "_id"])
def test_the_user_id_may_come_from_other_claims(verifier: TokenVerifier, claim: str) -> None:
    payload = claims()
    del payload["sub"]
    payload[claim] = USER_ID
    assert verifier.verify(hs256(payload)).id == USER_ID


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, ErrorCode.UNAUTHORIZED),
        ("", ErrorCode.UNAUTHORIZED),
        ("Basic dXNlcjpwYXNz", ErrorCode.UNAUTHORIZED),
        ("Bearer", ErrorCode.UNAUTHORIZED),
        ("Bearer    ", ErrorCode.UNAUTHORIZED),
        ("Token abc.def.ghi", ErrorCode.UNAUTHORIZED),
        ("Bearer not-a-jwt", ErrorCode.INVALID_TOKEN),
        ("Bearer a.b", ErrorCode.INVALID_TOKEN),
        ("Bearer a.b.c", ErrorCode.INVALID_TOKEN),
        ("Bearer \u00e9\u00e9.\u00e9\u00e9.\u00e9\u00e9", ErrorCode.INVALID_TOKEN),
    ],
)
def test_missing_wrong_scheme_and_malformed_headers(
    verifier: TokenVerifier, header: str | None, code: ErrorCode
) -> None:
    assert rejected(verifier.from_header, header) is code


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer a.b.c", "a.b.c"),
        ("  bearer   a.b.c  ", "a.b.c"),
        ("BEARER a.b.c", "a.b.c"),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Basic a.b.c", None),
        ("a.b.c", None),
        ("", None),
    ],
)
def test_one_bearer_parser(value: str, token: str | None) -> None:
    assert parse_bearer(value) == token


def test_an_optional_header(verifier: TokenVerifier) -> None:
    assert verifier.optional(None) is None and verifier.optional("") is None
    assert verifier.optional(f"Bearer {hs256(claims())}") == verifier.from_header(f"Bearer {hs256(claims())}")
    assert rejected(verifier.optional, "Basic dXNlcjpwYXNz") is ErrorCode.UNAUTHORIZED


def test_an_expired_token(verifier: TokenVerifier) -> None:
    token = hs256(claims(exp=int(time.time()) - 3600))
    assert rejected(verifier.verify, token) is ErrorCode.TOKEN_EXPIRED


def test_a_token_without_exp(verifier: TokenVerifier) -> None:
    payload = claims()
    del payload["exp"]
    assert rejected(verifier.verify, hs256(payload)) is ErrorCode.INVALID_TOKEN


def test_a_wrong_signature(verifier: TokenVerifier) -> None:
    assert (
        rejected(verifier.verify, hs256(claims(), "another-secret-0123456789abcdefgh"))
        is ErrorCode.INVALID_TOKEN
    )
    head, body, sig = hs256(claims()).split(".")
    tampered = f"{head}.{_b64({**claims(), 'sub': '65f0000000000000000000ff'})}.{sig}"
    assert rejected(verifier.verify, tampered) is ErrorCode.INVALID_TOKEN


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    assert rejected(verifier.verify, unsigned(claims())) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "x"},
        {"sub": ""},
        {"sub": "   "},
        {"userId": True},
        {"userId": ["65f000000000000000000010"]},
        {"_id": {"$oid": "65f000000000000000000010"}},
    ],
)
def test_no_usable_user_id(verifier: TokenVerifier, payload: dict[str, Any]) -> None:
    token = hs256({"exp": int(time.time()) + 600, **payload})
    assert rejected(verifier.verify, token) is ErrorCode.INVALID_TOKEN


def test_other_hmac_algorithms_are_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), SECRET * 2, algorithm="HS512")
    assert rejected(verifier.verify, token) is ErrorCode.INVALID_TOKEN


def test_rs256_with_the_public_key_option(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, jwt_public_key=public))
    assert verifier.verify(jwt.encode(claims(), private, algorithm="RS256")).id == USER_ID
    # An HS256 token is refused once RS256 is configured, even when it is "signed" with the
    # public key itself (the algorithm-confusion attack) or with the old shared secret.
    assert rejected(verifier.verify, hs256(claims())) is ErrorCode.INVALID_TOKEN
    confused = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims())}.c2ln"
    assert rejected(verifier.verify, confused) is ErrorCode.INVALID_TOKEN
    assert rejected(verifier.verify, unsigned(claims())) is ErrorCode.INVALID_TOKEN
    expired = jwt.encode(claims(exp=int(time.time()) - 3600), private, algorithm="RS256")
    assert rejected(verifier.verify, expired) is ErrorCode.TOKEN_EXPIRED


def test_rs256_signed_by_another_key_is_refused(rsa_keys: tuple[str, str]) -> None:
    _, public = rsa_keys
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), other, algorithm="RS256")
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, jwt_public_key=public))
    assert rejected(verifier.verify, token) is ErrorCode.INVALID_TOKEN


def test_an_rs256_token_is_refused_by_an_hs256_gateway(rsa_keys: tuple[str, str]) -> None:
    private, _ = rsa_keys
    token = jwt.encode(claims(), private, algorithm="RS256")
    hs_only = TokenVerifier(Settings(jwt_secret=SECRET))
    assert rejected(hs_only.verify, token) is ErrorCode.INVALID_TOKEN
