"""A run's files: found in its worktree by path, name or glob, never outside it, and read from
its branch once the worktree is gone; the images its agent saved, announced once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import Ambiguous, InvalidInput, NotFound
from core.events.bus import AgentImage, RunNote
from core.models import Run
from core.runs.files import FileTooLarge
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes.model_server import ScriptedModelServer
from tests.files_run import AGENT, PNG, SCHEMA, agent_steps
from tests.mcp_tools.test_git_tools import add_run


async def finished(runtime: Runtime, repo: Path, model_server: ScriptedModelServer,
                   extra: str = "") -> Run:
    model_server.script(AGENT, agent_steps(extra))
    await runtime.projects.add("demo", str(repo))
    run = await runtime.runs.start_run("demo", f"{AGENT} write the schema")
    run = await wait_state(runtime, run.id)
    assert run.state is RunState.REVIEW, run.state_reason
    return run


async def images_of(runtime: Runtime, run_id: str) -> list[AgentImage]:
    page = await runtime.events.after(0, 100, kinds=[AgentImage], run_id=run_id)
    return [e for e in page.events if isinstance(e, AgentImage)]


async def test_a_file_is_found_by_path_by_name_and_by_glob(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run = await finished(runtime, repo, model_server)
    for wanted in ("db/schema.sql", "schema.sql", "*.sql", "./db/schema.sql",
                   f"{run.cwd}/db/schema.sql"):
        found = await runtime.files.read(run.short, wanted)
        assert (found.info.path, found.info.source) == ("db/schema.sql", "worktree"), wanted
        assert found.text == SCHEMA and found.info.size == len(SCHEMA.encode())
    shot = await runtime.files.read(run.id, "shot.png")
    assert shot.data == PNG and shot.text is None and shot.info.media_type == "image/png"


async def test_paths_out_of_the_worktree_or_into_git_are_refused_in_one_line(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run = await finished(runtime, repo, model_server,
                         extra="ln -s /etc/passwd passwd && ln -s ../.. up")
    for wanted, said in [("../etc/passwd", "goes up out of the run's worktree"),
                         ("db/../../x", "goes up out"),
                         ("/etc/passwd", "is outside the run's worktree"),
                         ("passwd", "links outside the run's worktree"),
                         ("up/etc/hostname", "links outside"),
                         (".git/config", "inside .git"),
                         ("db", "is a folder")]:
        with pytest.raises(InvalidInput, match=said) as caught:
            await runtime.files.find(run.id, wanted)
        assert "\n" not in str(caught.value)


async def test_an_unknown_name_names_close_matches_and_a_shared_name_lists_them(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run = await finished(runtime, repo, model_server,
                         extra="mkdir -p a b lib && echo 1 > a/notes.txt && echo 2 > b/notes.txt"
                               " && echo 'print(2)' > lib/app.py")
    with pytest.raises(NotFound, match=r"no file 'schem.sql' .*close: db/schema.sql"):
        await runtime.files.find(run.id, "schem.sql")
    with pytest.raises(Ambiguous, match=r"'notes.txt' matches 2 files .*a/notes.txt, "
                                        r"b/notes.txt; give the path"):
        await runtime.files.find(run.id, "notes.txt")
    # A name shared with a file the run did not change means the one it changed.
    assert (await runtime.files.find(run.id, "*.py")).path == "lib/app.py"
    assert (await runtime.files.find(run.id, "a/notes.txt")).path == "a/notes.txt"
    with pytest.raises(FileTooLarge, match=r"'db/schema.sql' of run .* is 65 bytes, more than "
                                           r"the 10 bytes read at once"):
        await runtime.files.read(run.id, "schema.sql", limit=10)


async def test_once_the_worktree_is_gone_the_file_comes_from_the_branch(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run = await finished(runtime, repo, model_server)
    await runtime.review.close(run.id)
    assert not Path(run.cwd).exists()
    found = await runtime.files.read(run.id, "schema.sql")
    assert (found.info.source, found.text) == ("branch", SCHEMA)
    assert (await runtime.files.read(run.id, "shot.png")).data == PNG  # the safety net's
    with pytest.raises(NotFound, match=r"no file 'nope.txt' in run .*'s branch "):
        await runtime.files.find(run.id, "nope.txt")
    with pytest.raises(InvalidInput, match="goes up out"):
        await runtime.files.find(run.id, "../../etc/passwd")


async def test_each_image_the_agent_saves_is_announced_once_per_version(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run = await finished(runtime, repo, model_server,
                         extra="mkdir -p .gluon-attachments && cp shot.png "
                               ".gluon-attachments/theirs.png && cp shot.png logo.png")
    first = await images_of(runtime, run.id)
    assert sorted(e.path for e in first) == ["logo.png", "shot.png"]
    assert all(e.shown and e.size == len(PNG) for e in first)
    assert await runtime.runs.images.announce(await runtime.runs.get(run.id)) == []
    (Path(run.cwd) / "shot.png").write_bytes(PNG + b"\0")  # a new version of it
    [again] = await runtime.runs.images.announce(await runtime.runs.get(run.id))
    assert (again.path, again.size) == ("shot.png", len(PNG) + 1)
    assert len(await images_of(runtime, run.id)) == 3


async def test_one_turn_posts_at_most_ten_images_and_a_note_names_the_rest(
        runtime: Runtime, repo: Path) -> None:
    worktree = await add_run(runtime, repo)
    for n in range(12):
        (worktree / f"frame{n:02}.png").write_bytes(PNG + bytes([n]))
    events = await runtime.runs.images.announce(await runtime.runs.get("abc123"))
    assert [e.shown for e in events] == [True] * 10 + [False] * 2
    page = await runtime.events.after(0, 100, kinds=[RunNote], run_id="abc123")
    [note] = [e.text for e in page.events if isinstance(e, RunNote)]
    assert note == ("🖼 The agent saved 2 more image(s): frame10.png, frame11.png. Ask for one "
                    "by name to see it.")
    assert await runtime.runs.images.announce(await runtime.runs.get("abc123")) == []
