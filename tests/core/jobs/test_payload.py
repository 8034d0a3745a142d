"""What a payload may hold: plain JSON and no secrets; ordinary names pass."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.jobs import Json
from core.jobs.payload import decode_payload, encode_payload


def test_ordinary_payloads_round_trip_even_with_words_near_secret_ones() -> None:
    payload: dict[str, Json] = {
        "run": "r1", "max_tokens": 4096, "maxTokens": 1, "keyboard": "us", "tokenizer": "x",
        "env_allow": ["GITHUB_TOKEN"], "nested": {"list": [1, 2.5, True, None, "é"]}}
    assert decode_payload(encode_payload(payload)) == payload


@pytest.mark.parametrize("key", ["token", "bot_token", "api_key", "apiKey", "API-KEY",
                                 "githubToken", "password", "client_secret", "private_key",
                                 "credentials", "authorization", "session.cookie"])
def test_a_key_named_like_a_secret_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="looks like a secret"):
        encode_payload({"outer": {key: "value"}})


@pytest.mark.parametrize("value", ["sk-ant-api03-xyz", "ghp_abcdef", "github_pat_11ABC",
                                   "xoxb-123-456"])
def test_a_value_shaped_like_a_credential_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        encode_payload({"items": ["ok", value]})
    assert "looks like a credential" in str(caught.value) and value not in str(caught.value)


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        encode_payload(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not a string"):
        encode_payload({1: "x"})  # type: ignore[dict-item]
