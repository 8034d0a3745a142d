"""The guard that keeps tests off the real model APIs and chat platforms."""

from __future__ import annotations

import socket

import anthropic
import pytest
import telegram

from tests.fakes.model_server import ScriptedModelServer
from tests.outside_world import OutsideWorld


async def test_the_real_anthropic_api_cannot_be_reached_from_a_test() -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-test", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=1,
                                     messages=[{"role": "user", "content": "hi"}])
    assert isinstance(caught.value.__cause__, OutsideWorld)
    assert "api.anthropic.com" in str(caught.value.__cause__)


async def test_the_real_telegram_bot_api_cannot_be_reached_from_a_test() -> None:
    bot = telegram.Bot("123456:TEST-TOKEN")
    with pytest.raises(telegram.error.NetworkError, match="api.telegram.org"):
        await bot.get_me()


def test_names_of_outside_services_are_refused_and_this_machine_still_resolves() -> None:
    for host in ("discord.com", "gateway.discord.gg", "api.github.com", "API.Anthropic.com."):
        with pytest.raises(OutsideWorld, match="outside this machine"):
            socket.getaddrinfo(host, 443)
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)


async def test_the_scripted_model_server_is_still_reachable(
        model_server: ScriptedModelServer) -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-test", base_url=model_server.base_url,
                                      max_retries=0)
    reply = await client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                         messages=[{"role": "user", "content": "hi"}])
    assert reply.content
