"""What the chat layer costs a message, and how much of each request the prompt cache covers.

    uv run python bench/chat_overhead.py [--messages 200]

The real Telegram bot (python-telegram-bot, long polling against ``tests/fakes`` fake Bot
API) in front of the real orchestrator (the ``anthropic`` client against the scripted model
server) and Gluon's real tools on a real runtime. Each message is a one-tool request
("which projects?": the model calls ``list_projects``, then answers), sent one after another
in one conversation.

- **Chat overhead**: from the bot fetching the update (the fake's getUpdates answer) to the
  reply arriving at the fake (sendMessage), minus the time spent in the model's two calls
  (measured around ``messages.create``). Prints p50 and p99; target p99 < 50 ms.
- **Prompt cache coverage**: for every model request after the conversation's first turn,
  the share of the request (by characters of its JSON: tools, then system, then messages)
  that lies before the last ``cache_control`` breakpoint. Prints the mean and the minimum;
  target >= 0.85. History is trimmed to ``chat.history_tokens``, as in production.

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator  # noqa: E402
from bots.telegram.bot import TelegramBot  # noqa: E402
from core.config import Config  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from tests.conftest import make_repo  # noqa: E402
from tests.fakes import scripts as s  # noqa: E402
from tests.fakes.model_server import ScriptedModelServer  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

CHAT = 42


class TimedMessages:
    """``llm.messages`` with the time spent in each ``create`` recorded."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent: list[float] = []

    async def create(self, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self.inner.create(**kwargs)
        finally:
            self.spent.append(time.perf_counter() - started)


class TimedLlm:
    def __init__(self, client: anthropic.AsyncAnthropic) -> None:
        self.messages = TimedMessages(client.messages)


def coverage(body: dict[str, Any]) -> float:
    """Share of the request's JSON before (and including) the last cache breakpoint."""
    parts: list[Any] = [*body.get("tools", []), *body.get("system", [])]
    for message in body.get("messages", []):
        content = message["content"]
        parts += content if isinstance(content, list) else [content]
    sizes = [len(json.dumps(p)) for p in parts]
    last = max((n for n, p in enumerate(parts)
                if isinstance(p, dict) and "cache_control" in p), default=-1)
    return sum(sizes[:last + 1]) / sum(sizes)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main(messages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as model, \
            FakeTelegram() as telegram:
        root = Path(tmp)
        config = Config.model_validate({
            "home": str(root / "home"),
            "anthropic": {"api_key": "sk-test", "base_url": model.base_url},
            "telegram": {"users": [CHAT]}})
        runtime = Runtime(config, tables=[CHAT_TABLES])
        await runtime.open(resume_interrupted=False)
        await runtime.projects.add("demo", str(make_repo(root / "demo")))
        llm = TimedLlm(anthropic.AsyncAnthropic(base_url=model.base_url, api_key="sk-test",
                                                max_retries=0))
        bot = TelegramBot(runtime, Orchestrator(runtime, llm), telegram.token,
                          base_url=telegram.base_url)
        await bot.start()
        overheads: list[float] = []
        try:
            for n in range(messages + 5):
                key = f"SCRIPT:bench-{n}"
                model.script(key, [s.tool("list_projects", {}), s.text(f"answer {n}")])
                llm.messages.spent.clear()
                sent_before = len(telegram.sent(CHAT, "message"))
                fetched = telegram.user_message(CHAT, CHAT, f"{key} which projects?")
                def replied(f: FakeTelegram, before: int = sent_before) -> bool:
                    return len(f.sent(CHAT, "message")) > before

                await telegram.wait_for(replied, timeout=30)
                total = telegram.reply_seconds(CHAT, fetched)
                if n >= 5:  # the first few warm up
                    overheads.append((total - sum(llm.messages.spent)) * 1000)
        finally:
            await bot.stop()
            await runtime.close()
        later = [coverage(r.body) for r in model.requests
                 if r.script_key and r.script_key != "SCRIPT:bench-0"]

    p99 = pct(overheads, 0.99)
    print(f"{messages} one-tool messages in one Telegram conversation")
    print(f"chat overhead: p50={statistics.median(overheads):.1f} ms p99={p99:.1f} ms "
          f"(target p99 < 50 ms: {'met' if p99 < 50 else 'NOT met'})")
    mean = statistics.mean(later)
    print(f"prompt cache coverage after the first turn: mean={mean:.3f} min={min(later):.3f} "
          f"over {len(later)} requests (target >= 0.85: "
          f"{'met' if min(later) >= 0.85 else 'NOT met'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200)
    asyncio.run(main(parser.parse_args().messages))
