"""A run whose agent leaves files behind, for the tests of getting a run's files: a script
for the scripted model, and what the files hold."""

from __future__ import annotations

import base64

from tests.fakes import scripts as s

SCHEMA = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
# A real 1x1 PNG, as a screenshot the agent takes.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
                       "60e6kgAAAABJRU5ErkJggg==")
AGENT = "SCRIPT:agent-files"


def agent_steps(extra: str = "") -> list[s.Step]:
    """The agent writes db/schema.sql and commits it, then saves shot.png (uncommitted), and
    runs `extra` (a shell command) if given."""
    png = base64.b64encode(PNG).decode()
    command = ("mkdir -p db && printf '%s' \"$SCHEMA\" > db/schema.sql && git add db "
               "&& git commit -qm 'Add the schema' && printf '%s' "
               f"'{png}' | base64 -d > shot.png")
    steps: list[s.Step] = [s.bash(f"SCHEMA='{SCHEMA.strip()}\n'; {command}")]
    if extra:
        steps.append(s.bash(extra))
    return [*steps, s.text("Wrote the schema and took a screenshot.")]
