"""Sign-in links in the chat layer itself, whatever the platform: ``/web`` in a private place
answers with the link; asked in words where no private message can be sent, no link is made."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from bots.chat.commands import run_command
from bots.chat.orchestrator import Orchestrator
from bots.chat.types import Speaker
from core.runtime import Runtime
from core.types import Role
from tests.bots.test_orchestrator import orchestrator_requests
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

TERMINAL = Speaker("console", "ada", "ada", Role.ADMIN, chat_id="local", private=True)


@pytest.fixture
async def orch(runtime: Runtime, model_server: ScriptedModelServer
               ) -> AsyncIterator[Orchestrator]:
    runtime.web.served_at = "http://127.0.0.1:8765"
    llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                   max_retries=0)
    orchestrator = Orchestrator(runtime, llm)
    yield orchestrator
    await orchestrator.close()


async def test_web_where_only_the_speaker_reads_answers_with_the_link(
        orch: Orchestrator, runtime: Runtime) -> None:
    reply = await run_command(orch, TERMINAL, "web", "")
    assert not reply.error and reply.text.startswith("Your sign-in link to Gluon's status page:")
    url = reply.text.splitlines()[1]
    _, signed = await runtime.web.sign_in(url.rsplit("/", 1)[1])
    assert (signed.session.actor, signed.session.role) == ("console:ada", Role.ADMIN)
    usage = await run_command(orch, TERMINAL, "web", "please")
    assert usage.error and usage.text.startswith("usage: /web")


async def test_asked_in_words_where_nothing_can_be_sent_privately_no_link_is_made(
        orch: Orchestrator, runtime: Runtime, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:page", [s.tool("create_web_link", {}),
                                        s.text("Send /web for one.")])
    reply = await orch.handle(TERMINAL, "SCRIPT:page a link to the status page please")
    assert reply.text == "Send /web for one."
    told = orchestrator_requests(model_server)[-1]["messages"][-1]["content"][0]
    assert told["is_error"] and told["content"].startswith(
        "I cannot send you a sign-in link from here; send /web")
    assert [e for e in await runtime.activity.recent() if e.action == "web.link"] == []
