"""The usage panel counts the voice notes transcribed, apart from the runs' budgets."""

from __future__ import annotations

from core.runtime import Runtime
from tests.web.site import serving


async def test_the_usage_panel_shows_the_voice_notes_of_the_last_days(runtime: Runtime) -> None:
    async with serving(runtime) as site, site.person() as (http, _):
        panel = (await http.get("/")).text.split('id="panel-usage"', 1)[1]
        assert "Voice notes" not in panel.split("</section>", 1)[0]
        await runtime.runs.usage.record_voice("telegram:42", "openai", 90.0, 0.009)
        await runtime.runs.usage.record_voice("discord:7", "openai", 30.0, 0.003)
        panel = (await http.get("/")).text.split('id="panel-usage"', 1)[1]
    assert ("Voice notes, last 7 days: 2 (2.0 min), $0.012 (not counted in the budget)"
            in panel.split("</section>", 1)[0])
