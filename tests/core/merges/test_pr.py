"""The text of a run's pull request, as a reviewer on GitHub reads it."""

from __future__ import annotations

from core.git.ops import ChangedFile, Commit
from core.merges.pr import pr_body, pr_title
from core.models import Run
from core.types import ProjectName, RunId, RunState, SessionId

TASK = "Make add() handle strings\n\nIt should concatenate two strings.\nKeep ints working."


def make_run(prompt: str = TASK, *, cost: float = 0.4217, turns: int = 7) -> Run:
    return Run(id=RunId("a1b2c3d4"), project=ProjectName("api"), prompt=prompt,
               model="sonnet", state=RunState.REVIEW, state_reason="finished",
               use_worktree=True, cwd="/tmp/wt", branch="gluon/a1b2c3d4", base_branch="main",
               base_sha="0" * 40, session_id=SessionId("s"), parent_id=None, budget_usd=None,
               created_by="telegram:42", created_at=1.0, started_at=2.0, ended_at=3.0,
               last_activity_at=3.0, turns=turns, tool_calls=12, input_tokens=1000,
               output_tokens=200, cost_usd=cost, result_text="done", error=None,
               last_message="done")


COMMITS = [Commit("1234567890abcdef" * 2 + "12345678", "Handle strings in add()", "Agent", 10),
           Commit("fedcba0987654321" * 2 + "87654321", "Test add() on strings", "Agent", 20)]
FILES = [ChangedFile("app.py", "M", 4, 1), ChangedFile("tests/test_app.py", "A", 12, 0),
         ChangedFile("src/new_name.py", "R", 2, 2, old_path="src/old_name.py"),
         ChangedFile("logo.png", "D", 0, 0)]


def test_the_body_quotes_the_task_and_says_which_run_did_it_at_what_cost() -> None:
    body = pr_body(make_run(), COMMITS, FILES)
    assert body.startswith("> Make add() handle strings\n>\n> It should concatenate two "
                           "strings.\n> Keep ints working.\n\n")
    assert "Made by Gluon run `a1b2c3d4`: 7 turns, $0.42." in body
    assert "chat thread" not in body


def test_the_body_lists_the_commits_and_the_changed_files_with_their_line_counts() -> None:
    body = pr_body(make_run(), COMMITS, FILES)
    assert "### Commits (2)\n\n- Handle strings in add() (`12345678`)\n" \
           "- Test add() on strings (`fedcba09`)" in body
    assert "### Changed files (4, +18/-3)\n\n" in body
    assert "- `app.py` +4/-1\n" in body
    assert "- `tests/test_app.py` +12/-0 (new)\n" in body
    assert "- `src/new_name.py` +2/-2 (renamed from `src/old_name.py`)\n" in body
    assert body.endswith("- `logo.png` +0/-0 (deleted)\n")


def test_the_body_links_back_to_the_chat_thread_when_there_is_one() -> None:
    url = "https://discord.com/channels/1/2/3"
    body = pr_body(make_run(turns=1), COMMITS, FILES, thread_url=url)
    assert f"run `a1b2c3d4`: 1 turn, $0.42. Discussed in [the chat thread]({url})." in body


def test_a_long_file_list_stops_at_fifty_and_counts_the_rest() -> None:
    files = [ChangedFile(f"src/mod_{i:03}.py", "M", i, 1) for i in range(73)]
    body = pr_body(make_run(), COMMITS, files)
    assert "- `src/mod_049.py` +49/-1\n- … and 23 more files\n" in body
    assert "mod_050" not in body
    assert "### Changed files (73, +2628/-73)" in body


def test_a_run_without_commits_or_files_says_so() -> None:
    body = pr_body(make_run(cost=0), [], [])
    assert "$0.00" in body
    assert "### Commits (0)\n\nNone." in body and "### Changed files (0, +0/-0)\n\nNone." in body


def test_a_path_with_backticks_stays_one_code_span() -> None:
    body = pr_body(make_run(), [], [ChangedFile("docs/`odd`.md", "M", 1, 0)])
    assert "- ``docs/`odd`.md`` +1/-0" in body
    edge = pr_body(make_run(), [], [ChangedFile("`edge`", "M", 1, 0)])
    assert "- `` `edge` `` +1/-0" in edge


def test_the_title_is_the_tasks_first_line() -> None:
    assert pr_title(make_run()) == "Make add() handle strings"
    assert pr_title(make_run("\n   Fix   the   login page  \nmore")) == "Fix the login page"


def test_a_long_title_is_cut_at_a_word_within_72_characters() -> None:
    task = ("Rewrite the configuration loader so that environment variables override every "
            "key of the file")
    title = pr_title(make_run(task))
    assert len(title) <= 72
    assert title == ("Rewrite the configuration loader so that environment variables "
                     "override…")
    assert pr_title(make_run(task.replace("override", "overrides"))) == (
        "Rewrite the configuration loader so that environment variables…")


def test_a_run_without_task_text_is_titled_by_its_id() -> None:
    assert pr_title(make_run("  \n ")) == "Gluon run a1b2c3d4"
