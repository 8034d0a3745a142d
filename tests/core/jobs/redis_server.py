"""A real ``redis-server`` on a free port, for the Redis job queue's tests and benchmark."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # up, with a password
    except OSError:
        return False


class RedisServer:
    """``redis-server`` without persistence, on 127.0.0.1, stopped by :meth:`stop`."""

    def __init__(self, workdir: Path, *, port: int | None = None, password: str | None = None
                 ) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed; apt-get install redis-server "
                               "(.ci/run does)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.fixed_port = port  # a URL given out before the server starts
        self.port = port or 0
        self.password = password  # `requirepass`: clients must authenticate
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        for _ in range(5):  # another process may take the free port before redis binds it
            self.port = self.fixed_port or free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                 *(["--requirepass", self.password] if self.password else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if answers_ping(self.port):
                    return self
                time.sleep(0.01)
            self.stop()
        raise RuntimeError(f"redis-server did not answer PING within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
