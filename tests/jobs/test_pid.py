"""A running job's worker is lost when its process is gone, also when the killed process is a
zombie its parent has not reaped yet (signal 0 still reaches a zombie)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from readerstudy.jobs.lifecycle import worker_process_gone


def test_a_killed_unreaped_worker_counts_as_dead_and_a_live_one_does_not():
    host = socket.gethostname()
    live = subprocess.Popen(["sleep", "30"])
    killed = subprocess.Popen(["sleep", "30"])
    try:
        os.kill(killed.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not worker_process_gone(f"{host}:{killed.pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker_process_gone(f"{host}:{killed.pid}")  # not reaped yet: a zombie
        assert not worker_process_gone(f"{host}:{live.pid}")
        assert not worker_process_gone(f"another-host:{killed.pid}")  # another machine's process: not ours to judge
    finally:
        live.kill()
        live.wait()
        killed.wait()
    assert worker_process_gone(f"{host}:{killed.pid}")  # reaped: gone
