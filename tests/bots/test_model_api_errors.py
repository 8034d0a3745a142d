"""When the model API cannot be reached or refuses the key, as a user of `gluon run --wait`
sees it: each retry of the agent as it happens (the command's output read from its process
while it runs), then one line saying why the run failed. The `gluon` command and the real
Claude Code CLI; the CLI's retries are cut to two
(CLAUDE_CODE_MAX_RETRIES, let through with agents.env_allow) to keep this fast."""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.bots.in_process import run_main
from tests.fakes.model_server import ScriptedModelServer

GLUON = str(Path(sys.executable).parent / "gluon")
RETRY = re.compile(r"^\[retry\] model API unreachable \(127\.0\.0\.1:(\d+)\), "
                   r"retry (\d)/2 in \d+\.\d s$")


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def environment(tmp_path: Path, base_url: str, key: str = "sk-test") -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
            "GLUON_HOME": str(tmp_path / "home"), "ANTHROPIC_API_KEY": key,
            "ANTHROPIC_BASE_URL": base_url, "CLAUDE_CODE_MAX_RETRIES": "2",
            "GLUON_AGENTS_ENV_ALLOW": "CLAUDE_CODE_MAX_RETRIES"}


def add_project(env: dict[str, str], repo: Path) -> None:
    added = run_main(["project", "add", str(repo)], env, repo.parent)
    assert added.code == 0, added


def test_an_unreachable_model_api_shows_each_retry_as_it_happens_then_one_failure_line(
        tmp_path: Path, repo: Path) -> None:
    port = closed_port()
    env = environment(tmp_path, f"http://127.0.0.1:{port}")
    add_project(env, repo)
    proc = subprocess.Popen([GLUON, "run", "demo", "fix the login bug", "--wait"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    lines: list[str] = []
    retry_seen_while_running = False
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if not sel.select(timeout=deadline - time.monotonic()):
                    break
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line.rstrip("\n"))
                if RETRY.match(lines[-1]) and proc.poll() is None:
                    retry_seen_while_running = True
        code = proc.wait(timeout=60)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = [line for line in lines if line.strip()]
    assert code == 1, (lines, err)
    assert out[0].startswith("run ") and " queued: demo on branch " in out[0], out
    retries = [RETRY.match(line) for line in out[1:-1]]
    assert all(retries), out
    assert [(m.group(1), m.group(2)) for m in retries if m] == [(str(port), "1"),
                                                                (str(port), "2")]
    assert retry_seen_while_running, "the retries were printed only once the run had ended"
    run_id = out[0].split()[1]
    assert out[-1].startswith(f"run {run_id} failed: the model API at 127.0.0.1:{port} is "
                              "unreachable after 2 retries: Connection refused"), out[-1]
    assert out[-1].endswith("check ANTHROPIC_BASE_URL (anthropic.base_url) and the network, "
                            "then resume the run"), out[-1]
    assert "[done" not in "\n".join(out) and "API Error" not in "\n".join(out[:-1])


def test_a_refused_api_key_ends_the_run_with_one_line_saying_so(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.require_api_key("sk-the-right-one")
    env = environment(tmp_path, model_server.base_url, key="sk-a-wrong-one")
    add_project(env, repo)
    done = run_main(["run", "demo", "fix the login bug", "--wait"], env, tmp_path)
    out = [line for line in done.out.splitlines() if line.strip()]
    assert done.code == 1, done
    assert len(out) == 2, out
    assert re.match(rf"run \w+ failed: the model API at 127\.0\.0\.1:{model_server.port} "
                    r"refused the credentials: .+; set a valid ANTHROPIC_API_KEY", out[1]
                    ), out[1]
    assert "sk-a-wrong-one" not in done.out + done.err


def test_doctor_fails_on_a_key_the_api_refuses_and_only_warns_when_it_is_unreachable(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.require_api_key("sk-the-right-one")
    refused = run_main(["doctor"], environment(tmp_path, model_server.base_url,
                                               "sk-a-wrong-one"), tmp_path)
    port = closed_port()
    unreachable = run_main(["doctor"], environment(tmp_path, f"http://127.0.0.1:{port}"),
                           tmp_path)
    [line] = [x for x in refused.out.splitlines() if " credentials " in x]
    assert refused.code == 1
    assert re.match(r"fail\s+credentials\s+the API key was refused by the model API at "
                    rf"127\.0\.0\.1:{model_server.port} \(401 ", line), line
    assert "sk-a-wrong-one" not in refused.out + refused.err
    [line] = [x for x in unreachable.out.splitlines() if " credentials " in x]
    assert re.match(rf"warn\s+credentials\s+an API key is set but was not tried: the model API "
                    rf"at 127\.0\.0\.1:{port} is unreachable \(connection refused\)", line), line
    assert unreachable.code == 0, unreachable.out
