"""A data dir with one project and many ended runs, for benchmarks of reading them."""

from __future__ import annotations

from pathlib import Path

from core.config import Config
from core.runtime import Runtime


async def seed(home: Path, repo: Path, runs: int) -> None:
    runtime = Runtime(Config(home=home))
    await runtime.open(resume_interrupted=False)
    try:
        await runtime.projects.add("demo", str(repo))
        for n in range(runs):
            await runtime.runs.store.insert(
                id=f"{n:08x}", project="demo", prompt=f"task number {n}", model="sonnet",
                use_worktree=0, cwd=str(repo), session_id=f"session-{n}", state="review",
                created_at=1_700_000_000.0 + n)
    finally:
        await runtime.close()
