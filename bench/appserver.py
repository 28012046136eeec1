"""Start the product's app server (granian through readerstudy/webserver.py, as ``./run serve``)
for a benchmark, in its own session, and stop every process it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline or (proc is not None and proc.poll() is not None):
                raise SystemExit(f"nothing listens on port {port}")
            time.sleep(0.2)


def stop_group(proc: subprocess.Popen | None) -> None:
    """Stop the process group ``proc`` leads (started with ``start_new_session``): SIGTERM, then
    SIGKILL after 15 s; a group already gone is fine."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


class AppServer:
    """``with AppServer(env, port) as server:`` the app server up on 127.0.0.1:port until the block ends."""

    def __init__(self, env: dict[str, str], port: int, log: Path | None = None):
        self.env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_ACCESS_LOG": ""}
        self.port = port
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "AppServer":
        out = self.log.open("w") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "readerstudy.webserver"],
            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.port, self.proc)
        return self

    def __exit__(self, *exc) -> None:
        stop_group(self.proc)
