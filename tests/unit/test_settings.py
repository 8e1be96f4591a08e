"""Settings come from one table of environment variables, and go back to it unchanged."""

from __future__ import annotations

import pytest

from streams.errors import AppError
from streams.settings import VARS, Settings, SettingsError

pytestmark = pytest.mark.unit


def test_no_variable_means_the_documented_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_values_are_parsed_and_written_back_the_same() -> None:
    env = {
        "API_KEYS": "a, b,",
        "PORT": "3001",
        "TOPIC_PREFIX": "",
        "CORS_ORIGINS": "https://x.io",
        "NETFLIX_BASE_URL": "http://127.0.0.1:9/",
        "PROJECTION_BATCH_SECONDS": "0.5",
        "JWT_SECRET": "s e c r e t ",
        "FAUST_DATADIR": "/tmp/f",
    }
    s = Settings.from_env(env)
    assert (s.api_keys, s.port, s.topic_prefix, s.cors_origins) == (
        frozenset({"a", "b"}),
        3001,
        "",
        ("https://x.io",),
    )
    assert s.netflix_base_url == "http://127.0.0.1:9" and s.jwt_secret == "s e c r e t "
    assert Settings.from_env(s.to_env()) == s


def test_every_field_has_its_variable() -> None:
    assert {v.field for v in VARS} == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize(
    "env",
    [
        {"PORT": "x"},
        {"TOPIC_PARTITIONS": "0"},
        {"PROJECTION_BATCH_SECONDS": "0"},
        {"PROJECTION_RETRY_SECONDS": "nan"},
        {"CACHE_TTL_SECONDS": "inf"},
        {"CACHE_TTL_SECONDS": "-1"},
        {"JWT_PUBLIC_KEY_FILE": "/nonexistent/key.pem"},
    ],
)
def test_unusable_values_are_a_configuration_error_not_a_client_error(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))) as caught:
        Settings.from_env(env)
    assert not isinstance(caught.value, AppError)
