"""``gluon chat`` with its input and output piped, and next to a daemon."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.bots.conftest import Gluon, refused
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_piped_chat_prints_each_reply_as_plain_lines_without_padding_or_escapes(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    gluon.ok("project", "add", str(repo))
    model_server.script("SCRIPT:reply", [s.text(
        "You have **one** project:\n- demo\n\x1b[2Jdone\x07")])
    done = gluon("chat", stdin=b"SCRIPT:reply what is there?\n/projects\n")
    assert done.code == 0, done
    lines = [line.strip() for line in done.out.splitlines()]
    assert "You have one project:" in lines and "• demo" in lines
    assert "\\x1b[2Jdone\\x07" in lines
    assert f"demo {repo}" in lines
    raw = done.out.splitlines()
    assert all(line == line.rstrip() and len(line) < 300 for line in raw), [
        (len(line), line[:40]) for line in raw if line != line.rstrip() or len(line) >= 300]
    assert "\x1b" not in done.out and "\x07" not in done.out


def test_chat_says_in_one_line_that_it_cannot_run_beside_the_daemon(
        gluon: Gluon, daemon: subprocess.Popen[str]) -> None:
    line = refused(gluon("chat", stdin=b"hello\n"))
    assert "`gluon serve` is running on this data dir" in line
    assert "Telegram or Discord" in line
