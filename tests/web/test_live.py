"""The page's live updates as Server-Sent Events: the board streams the durable event log and
a run page its log, each resumable from the last event id a browser saw."""

from __future__ import annotations

import json
from pathlib import Path

from core.runtime import Runtime
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import messages, serving


async def test_the_board_and_a_run_page_stream_what_happens_and_resume_after_the_last_event(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.projects.add("demo", str(repo))
    model_server.script("SCRIPT:live", [s.bash("echo live"), s.text("All done.")])
    async with serving(runtime) as site, site.person() as (http, _):
        start = await runtime.events.last_seq()
        run = await runtime.runs.start_run("demo", "SCRIPT:live")
        await wait_state(runtime, run.id)
        logged = (await runtime.events.after(start)).events
        assert [getattr(e, "new", None) for e in logged] == ["queued", "running", "review"]

        # A board that saw the first of them reconnects and gets the others, in order.
        headers = {"Last-Event-ID": str(logged[0].seq)}
        async with http.stream("GET", "/events", headers=headers) as board:
            assert board.headers["content-type"].startswith("text/event-stream")
            got = await messages(board, 2)
        assert [m.id for m in got] == [str(e.seq) for e in logged[1:]]
        first, last = (json.loads(m.data) for m in got)
        assert first["event"] == {"seq": logged[1].seq, "kind": "RunStateChanged",
                                  "run_id": run.id, "project": "demo", "old": "queued",
                                  "new": "running", "reason": "agent started",
                                  "at": logged[1].at}
        [card] = last["patch"]["cards"]
        assert card["id"] == run.id and card["column"] == "review"
        assert f'id="run-{run.id}"' in card["html"] and "ready for review" in card["html"]
        assert set(last["patch"]["panels"]) == {"needs-you", "queue", "schedules", "activity",
                                               "usage"}

        # A run page that saw its first log event gets the rest after the run's head.
        log = await runtime.runs.logs(run.id)
        assert [e.kind for e in log] == ["tool", "tool_result", "text", "result"]
        headers = {"Last-Event-ID": str(log[0].id)}
        async with http.stream("GET", f"/runs/{run.id}/events", headers=headers) as page:
            got = await messages(page, 4)
    head = json.loads(got[0].data)
    assert got[0].event == "run" and head["state"] == "review" and "Merge" in head["head"]
    assert [(m.event, m.id) for m in got[1:]] == [("log", str(e.id)) for e in log[1:]]
    result, text = (json.loads(m.data) for m in got[1:3])
    assert result["kind"] == "tool_result" and "live" in result["attach"]
    assert text["kind"] == "text" and "All done." in text["html"]
