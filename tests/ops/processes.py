"""Find every process a test started, whatever became of its parent: each carries a marker in its
environment (inherited by granian's and Celery's children), read from /proc."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path


def new_marker() -> dict[str, str]:
    return {"READERSTUDY_TEST_MARKER": secrets.token_hex(8)}


def processes_with(marker: dict[str, str]) -> list[int]:
    (key, value), = marker.items()
    needle = f"{key}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_leftovers(marker: dict[str, str]) -> list[int]:
    """SIGKILL whatever still carries the marker (so a failed test does not leak processes)."""
    left = processes_with(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def wait_until_gone(marker: dict[str, str], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = processes_with(marker)
        if not left:
            return []
        time.sleep(0.2)
    return processes_with(marker)
