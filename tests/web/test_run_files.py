"""A run's files on the status page: behind the sign-in, linked from the run's changed files,
served so that nothing in them runs as a page of Gluon's origin."""

from __future__ import annotations

from pathlib import Path

from core.runtime import Runtime
from tests.core.test_run_files import finished
from tests.fakes.model_server import ScriptedModelServer
from tests.files_run import PNG, SCHEMA
from tests.web.site import serving

PAGE = "<script>alert(1)</script>\n"


async def test_a_runs_files_are_served_to_a_signed_in_person_only(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run = await finished(runtime, repo, model_server, extra=f"printf '{PAGE}' > page.html")
    schema = f"/runs/{run.id}/files/db/schema.sql"
    async with serving(runtime) as site:
        async with site.visitor() as stranger:
            refused = await stranger.get(schema)
            assert refused.status_code == 401 and "CREATE TABLE" not in refused.text
        async with site.person() as (http, _):
            page = await http.get(f"/runs/{run.id}")
            assert f'href="{schema}"' in page.text
            text = await http.get(schema)
            shot = await http.get(f"/runs/{run.short}/files/shot.png")
            html = await http.get(f"/runs/{run.id}/files/page.html")
            up = await http.get(f"/runs/{run.id}/files/..%2F..%2Fetc%2Fpasswd")
            missing = await http.get(f"/runs/{run.id}/files/nope.sql")
            await runtime.review.close(run.id)
            from_branch = await http.get(schema)
    assert (text.status_code, text.text) == (200, SCHEMA)
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert "sandbox" in text.headers["content-security-policy"]
    assert (shot.content, shot.headers["content-type"]) == (PNG, "image/png")
    assert shot.headers["content-disposition"].startswith("inline")
    assert html.text == PAGE and html.headers["content-type"].startswith("text/plain")
    assert up.status_code == 400 and "goes up out of the run&#39;s worktree" in up.text
    assert missing.status_code == 404 and "no file &#39;nope.sql&#39;" in missing.text
    assert (from_branch.status_code, from_branch.text) == (200, SCHEMA)
