"""``gluon file``: a run's file printed or written out, and one line when it is refused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bots.conftest import Gluon, refused, run_id_of
from tests.fakes.model_server import ScriptedModelServer
from tests.files_run import AGENT, PNG, SCHEMA, agent_steps


def test_a_runs_file_is_printed_or_written_and_paths_out_of_it_are_refused(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer, tmp_path: Path) -> None:
    model_server.script(AGENT, agent_steps())
    gluon.ok("project", "add", str(repo))
    run = run_id_of(gluon.ok("run", "demo", f"{AGENT} write the schema", "--wait"))

    assert gluon.ok("file", run, "schema.sql").out == SCHEMA
    wrote = gluon.ok("file", run, "*.png", "-o", "copy.png")
    assert wrote.out.strip() == (f"wrote {tmp_path / 'copy.png'} (70 bytes, shot.png of run "
                                 f"{run})")
    assert (tmp_path / "copy.png").read_bytes() == PNG
    (tmp_path / "out").mkdir()
    gluon.ok("file", run, "db/schema.sql", "-o", "out")
    assert (tmp_path / "out" / "schema.sql").read_text() == SCHEMA
    data = json.loads(gluon.ok("file", run, "schema.sql", "--json").out)
    assert (data["path"], data["text"], data["source"]) == ("db/schema.sql", SCHEMA, "worktree")

    assert "'../etc/passwd' goes up out of the run's worktree" in refused(
        gluon("file", run, "../etc/passwd"))
    assert f"no file 'schem.sql' in run {run}'s worktree; close: db/schema.sql" in refused(
        gluon("file", run, "schem.sql"))
