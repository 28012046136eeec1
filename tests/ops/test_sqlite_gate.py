"""The SQLite write gate (readerstudy/ops/sqlite3): write transactions of one database queue on a
thread lock and a flock, and the gate is always given back (commit, rollback, close)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, threading, time
from django.db import connection, connections, transaction
from django.db.utils import OperationalError
from readerstudy.ops.sqlite3.base import _gate_for

out = {"engine": connection.vendor + ":" + type(connections["default"]).__module__}
with connection.cursor() as c:
    c.execute("CREATE TABLE IF NOT EXISTS gate_t (n INTEGER)")
gate = _gate_for(connection.settings_dict["NAME"])

# 1. A second thread's transaction waits on the gate while the first is open, and gets in after.
inside, release, order = threading.Event(), threading.Event(), []
def first():
    with transaction.atomic():
        with connection.cursor() as c:
            c.execute("INSERT INTO gate_t VALUES (1)")
        inside.set(); release.wait(10); order.append("first commits")
    connections.close_all()
def second():
    inside.wait(10)
    with transaction.atomic():
        order.append("second in")
        with connection.cursor() as c:
            c.execute("INSERT INTO gate_t VALUES (2)")
    connections.close_all()
a, b = threading.Thread(target=first), threading.Thread(target=second)
a.start(); b.start(); inside.wait(10); time.sleep(0.3)
out["held_while_open"] = gate.lock.locked()
out["second_waiting"] = order == []
release.set(); a.join(10); b.join(10)
out["order"] = order

# 2. An exception inside the block rolls back and gives the gate back.
try:
    with transaction.atomic():
        with connection.cursor() as c:
            c.execute("INSERT INTO gate_t VALUES (3)")
        raise ValueError("boom")
except ValueError:
    pass
out["free_after_rollback"] = not gate.lock.locked()
with connection.cursor() as c:
    c.execute("SELECT COUNT(*) FROM gate_t WHERE n = 3")
    out["rolled_back_rows"] = c.fetchone()[0]

# 3. Another process holding the gate: a writer waits at most the timeout, then a clear error.
connection.settings_dict["OPTIONS"]["timeout"] = 0.5
print("READY", flush=True)
input()  # the test takes the flock from another process, then says go
started = time.monotonic()
try:
    with transaction.atomic():
        with connection.cursor() as c:
            c.execute("INSERT INTO gate_t VALUES (4)")
    out["blocked_error"] = None
except OperationalError as exc:
    out["blocked_error"] = str(exc)
out["blocked_seconds"] = round(time.monotonic() - started, 2)
out["free_after_timeout"] = not gate.lock.locked()
print("RESULT " + json.dumps(out), flush=True)
"""

HOLD = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("HELD", flush=True)
sys.stdin.readline()
"""


def test_writers_queue_on_the_gate_and_always_give_it_back(tmp_path):
    db = tmp_path / "gate.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "readerstudy.settings"}
    env.pop("DEBUG", None)
    script = subprocess.Popen([sys.executable, "manage.py", "shell", "-v0", "-c", SCRIPT], cwd=ROOT, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder = None
    try:
        assert script.stdout.readline().strip() == "READY", script.stderr.read()
        holder = subprocess.Popen([sys.executable, "-c", HOLD, f"{db}-gate"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "HELD"
        script.stdin.write("go\n")
        script.stdin.flush()
        line = script.stdout.readline()
        assert line.startswith("RESULT "), line + script.stderr.read()
        out = json.loads(line[len("RESULT "):])
    finally:
        if holder is not None:
            holder.kill()
        script.kill()
    assert out["engine"] == "sqlite:readerstudy.ops.sqlite3.base"
    assert out["held_while_open"] and out["second_waiting"], out
    assert out["order"] == ["first commits", "second in"], out
    assert out["free_after_rollback"] and out["rolled_back_rows"] == 0, out
    assert out["blocked_error"] and "write gate" in out["blocked_error"], out
    assert 0.4 <= out["blocked_seconds"] < 10, out
    assert out["free_after_timeout"], out
