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


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(entry: str) -> tuple[int, str, float] | None:
    """(process group, command name, user + system CPU seconds) of /proc/<entry>, or None."""
    try:
        head, tail = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)
    except OSError:
        return None
    fields = tail.split()
    return int(fields[2]), head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _all_processes() -> list[tuple[int, str, float]]:
    return [info for info in map(_process_cpu, filter(str.isdigit, os.listdir("/proc"))) if info is not None]


def postgres_cpu_seconds() -> float:
    """User + system CPU time of the live PostgreSQL processes on this machine (backends included)."""
    return sum(cpu for _group, name, cpu in _all_processes() if name.startswith("postgres"))


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes of process group ``pgid`` (a server and its
    workers, each started in its own session)."""
    return sum(cpu for group, _name, cpu in _all_processes() if group == pgid)


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
