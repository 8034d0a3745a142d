"""get_run_file through the MCP client (JSON-RPC), on a real worktree and branch."""

from __future__ import annotations

import base64
from pathlib import Path

from core.runtime import Runtime
from tests.conftest import git
from tests.files_run import PNG, SCHEMA
from tests.mcp_tools.client import call, connected, error
from tests.mcp_tools.test_git_tools import add_run


async def test_a_text_file_comes_as_text_and_an_image_as_base64_with_its_link(
        runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    (worktree / "db").mkdir()
    (worktree / "db" / "schema.sql").write_text(SCHEMA)
    (worktree / "shot.png").write_bytes(PNG)
    runtime.web.served_at = "http://127.0.0.1:8765"
    async with connected(runtime) as client:
        text = await call(client, "get_run_file", run="abc", path="schema.sql")
        image = await call(client, "get_run_file", run="abc123", path="*.png")
        big = await call(client, "get_run_file", run="abc123", path="shot.png", max_bytes=10)
    assert text["text"] == SCHEMA and text["base64"] is None
    assert (text["path"], text["kind"], text["source"], text["size"]) == (
        "db/schema.sql", "text", "worktree", len(SCHEMA))
    assert text["url"] == "http://127.0.0.1:8765/runs/abc123/files/db/schema.sql"
    assert (image["kind"], image["media_type"]) == ("image", "image/png")
    assert base64.b64decode(image["base64"]) == PNG
    assert big["base64"] is None and big["kind"] == "image"
    assert big["omitted"] == f"{len(PNG)} bytes is more than max_bytes (10 bytes)"


async def test_a_file_out_of_the_worktree_or_not_there_is_refused_in_one_line(
        runtime: Runtime, repo: Path) -> None:
    await add_run(runtime, repo)
    async with connected(runtime) as client:
        up = await error(client, "get_run_file", run="abc", path="../etc/passwd")
        missing = await error(client, "get_run_file", run="abc", path="ap.py")
    assert "'../etc/passwd' goes up out of the run's worktree ('..')" in up
    assert "no file 'ap.py' in run abc123's worktree; close: app.py" in missing


async def test_a_closed_runs_file_comes_from_its_branch(runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    (worktree / "notes.md").write_text("kept on the branch\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-qm", "notes")
    await runtime.review.close("abc123")
    async with connected(runtime) as client:
        found = await call(client, "get_run_file", run="abc123", path="notes.md")
    assert (found["source"], found["text"]) == ("branch", "kept on the branch\n")
