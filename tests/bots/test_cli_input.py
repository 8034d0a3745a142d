"""Odd input and output of the ``gluon`` command: pipes closed early, bytes that are not UTF-8,
escape sequences in what agents and people write, prompts from files and standard input, and
any text at all in any argument."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bots.conftest import GLUON, Done, Gluon, refused, run_id_of
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

# Control characters that would act on a terminal: escape sequences, bell, carriage return,
# backspace, the one-byte CSI and the bidirectional override.
ACTIVE = ("\x1b", "\x07", "\r", "\x08", "\x9b", "\u202e")


def test_a_listing_piped_into_a_reader_that_stops_early_ends_quietly(gluon: Gluon) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` that has already read its line
    try:
        done = subprocess.run([GLUON, "runs"], cwd=gluon.cwd, env=gluon.env,
                              stdin=subprocess.DEVNULL, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no BrokenPipeError traceback
    assert done.returncode == 141  # what a shell shows for a reader gone (128 + SIGPIPE)


def test_arguments_that_are_not_utf8_are_refused_in_one_line(gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    done = subprocess.run([GLUON, "run", "demo", b"fix the caf\xe9 page"], cwd=gluon.cwd,
                          env=gluon.env, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=120)
    line = refused(Done(done.returncode, done.stdout.decode(), done.stderr.decode()))
    assert "is not valid UTF-8 text" in line and "caf\\udce9" in line, line

    latin1 = gluon.cwd / "prompt.txt"
    latin1.write_bytes(b"fix the caf\xe9 page")
    assert "is not valid UTF-8 text" in refused(
        gluon("run", "demo", "--prompt-file", str(latin1)))
    assert "standard input is not valid UTF-8 text" in refused(
        gluon("run", "demo", "-", stdin=b"caf\xe9"))
    assert gluon.json("runs")["runs"] == []


def test_escape_sequences_from_agents_and_prompts_are_shown_not_obeyed(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:ansi", [
        s.text("clearing \x1b[2J\x1b]0;owned\x07 the\r screen\x9b31m \u202egnp.exe")])
    gluon.ok("project", "add", str(repo))

    done = gluon.ok("run", "demo", "SCRIPT:ansi \x1b[31mred\x1b[0m prompt", "--wait")
    run_id = run_id_of(done)
    listed = gluon.ok("runs").out
    logs = gluon.ok("logs", run_id).out
    for output in (done.out, listed, logs):
        assert not any(c in output for c in ACTIVE), repr(output)
    assert "clearing \\x1b[2J\\x1b]0;owned\\x07 the\\x0d screen\\x9b31m \\u202egnp.exe" in logs
    assert "\\x1b[31mred\\x1b[0m prompt" in listed
    # JSON is for programs: the text is there exactly, escaped the JSON way.
    assert gluon.json("show", run_id)["run"]["prompt"] == "SCRIPT:ansi \x1b[31mred\x1b[0m prompt"


def test_a_prompt_can_come_from_standard_input_or_a_file_beyond_the_argument_limit(
        gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    # More than the OS takes in one argument (~128 KB), in several scripts.
    long = "SCRIPT:none " + "refactor the parser, keep the tests green. ελέγξτε. " * 4000
    assert len(long.encode()) > 200_000
    from_stdin = gluon("run", "demo", "-", "--json", stdin=long.encode())
    assert from_stdin.code == 0, from_stdin
    (gluon.cwd / "task.md").write_text(long)
    from_file = gluon.ok("run", "demo", "--prompt-file", "task.md", "--json")
    for done in (from_stdin, from_file):
        run_id = json.loads(done.out)["run"]["id"]
        assert gluon.json("show", run_id)["run"]["prompt"] == long.strip()
    assert from_file.err == ""

    assert "either as an argument or with --prompt-file" in refused(
        gluon("run", "demo", "do it", "--prompt-file", "task.md"))
    assert "cannot read --prompt-file" in refused(
        gluon("run", "demo", "--prompt-file", "missing.md"))
    assert "say what the agent should do" in refused(gluon("run", "demo"))


def test_a_mistyped_command_line_is_one_line_that_points_to_the_help(gluon: Gluon) -> None:
    for args, expected in [(("run",), "the following arguments are required: project"),
                           (("frobnicate",), "invalid choice: 'frobnicate'"),
                           (("runs", "--limit", "many"), "invalid int value: 'many'"),
                           (("show", "abc", "\x1b[2J"), "unrecognized arguments: \\x1b[2J")]:
        done = gluon(*args)
        assert done.code == 2 and done.out == "", done
        lines = done.err.splitlines()
        assert len(lines) == 1 and expected in lines[0], done.err
        assert lines[0].startswith("gluon: ") and "--help`)" in lines[0]


# -- any text in any argument -------------------------------------------------------------

ODD = st.sampled_from(["\x1b[2J", "\udcff", "\x00", "\n", "\r", "-", "--", "-x", " ", "",
                       "é", "\u202e", "'", '"', "%s", "{}", "../", "~", "\\"])
TEXT = st.one_of(st.text(max_size=30),
                 st.lists(ODD, max_size=4).map("".join),
                 st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")))
COMMANDS = [
    lambda t: ["show", t], lambda t: ["logs", t], lambda t: ["steer", t, t],
    lambda t: ["answer", t, t], lambda t: ["diff", t, t], lambda t: ["runs", "--project", t],
    lambda t: ["runs", "--state", t], lambda t: ["activity", "--actor", t],
    lambda t: ["pending", "--run", t], lambda t: ["project", "show", t],
    lambda t: ["project", "move", t, t], lambda t: ["project", "add", t, "--name", t],
    lambda t: ["run", t, t], lambda t: ["run", "nope", "x", "--model", t],
    lambda t: ["run", "nope", "x", "--budget", t], lambda t: ["pair", "--revoke", t],
    lambda t: ["resume", t, t], lambda t: ["fork", t, t, "--model", t],
    lambda t: ["cancel", t, "--yes"], lambda t: ["close", t, "--yes"],
    lambda t: ["merge", t, "--yes"], lambda t: ["usage", "--days", t], lambda t: [t],
    lambda t: ["project", t], lambda t: ["show", t, "--json"],
    lambda t: ["web-link", "--revoke", t, "--yes"],
]


@pytest.mark.usefixtures("daemon")
def test_any_text_in_any_argument_is_handled_or_refused_in_one_line(gluon: Gluon) -> None:
    # A path starting with the tilde of no user, for one, names what to write instead.
    for argv in (["project", "add", "~0"], ["project", "move", "demo", "~nosuchuser/api"],
                 ["run", "demo", "--prompt-file", "~0/prompt.txt"]):
        done = gluon(*argv)
        assert done.code == 1, (argv, done)
        assert done.err.splitlines() == [done.err.strip()], (argv, done)
        assert "names no user on this machine; write the path out in full" in done.err

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(COMMANDS), TEXT)
    def check(command: object, text: str) -> None:
        argv = command(text)  # type: ignore[operator]
        done = gluon(*argv)
        assert done.code in (0, 1, 2), (argv, done)
        assert "Traceback" not in done.err and "unexpected error" not in done.err, (argv, done)
        if done.code:
            lines = done.err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("gluon: "), (argv, done)
        if "--json" not in argv:
            assert not any(c in done.out + done.err for c in ACTIVE), (argv, done)

    check()
