"""The scripted model server in its own process, so a benchmark's CPU and memory figures for the
process hosting Gluon do not include the fake model's work.

    python bench/model_server_proc.py --runs 10 --seconds 3

Registers the script ``SCRIPT:load-<i>`` for each of ``--runs`` runs (two Bash calls, then
``--seconds`` of streamed text that ends the turn), starts the server and prints its base URL on
one line. The first request of every script is held: once all ``--runs`` are held it prints
``all-held``, and a ``release`` line on stdin lets them all go, so the runs then execute at
once. It serves until stdin closes, then prints one JSON line with its own CPU time, peak RSS
and how many model requests it answered, and exits.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.model_server import (  # noqa: E402
    RecordedRequest,
    ScriptedModelServer,
    Step,
    bash,
    hold,
    slow_text,
)

GATE = "all-runs-started"


def load_script(seconds: float) -> list[Step]:
    return [
        hold(GATE, bash("git status --short | wc -l", "Count changed files")),
        bash("ls src | wc -l", "Count packages"),
        slow_text(seconds, "thinking "),  # a text step ends the turn, so it comes last
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    server = ScriptedModelServer()
    for i in range(args.runs):
        server.script(f"SCRIPT:load-{i}", load_script(args.seconds))
    cpu0 = time.process_time()
    server.start()
    print(server.base_url, flush=True)

    def announce() -> None:
        for i in range(args.runs):
            key = f"SCRIPT:load-{i}"

            def first_of(request: RecordedRequest, key: str = key) -> bool:
                return request.script_key == key
            server.wait_for_request(first_of, timeout=3600)
        print("all-held", flush=True)
    threading.Thread(target=announce, daemon=True).start()
    for line in sys.stdin:  # serve until the benchmark closes our stdin
        if line.strip() == "release":
            server.release(GATE)
    server.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "cpu_s": time.process_time() - cpu0,
        "maxrss_kb": usage.ru_maxrss,
        "requests": len(server.requests),
        "keyed_requests": sum(1 for r in server.requests if r.script_key),
        "unhandled": server.unhandled,
    }), flush=True)


if __name__ == "__main__":
    main()
