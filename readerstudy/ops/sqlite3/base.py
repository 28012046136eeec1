"""Django's SQLite backend with a write gate: write transactions queue on a lock that wakes the
next writer the moment the previous one commits, instead of SQLite's busy handler.

SQLite allows one writer at a time. Every transaction here starts with ``BEGIN IMMEDIATE`` (it
takes the write lock at once, so two writers never deadlock upgrading a read lock); a writer
that finds the lock taken is put to sleep by SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25, …
up to 100 ms between tries, whatever the moment the lock is freed. When many readers save at the
same instant (a session's autosaves and submissions), most of their time went to these sleeps:
20 readers submitting at once took about three times the CPU time their work needs.

The gate puts the writers of the database in a queue instead: within a process a
``threading.Lock`` (the next thread wakes when the lock is released), across processes (the app
server's workers, the Celery worker) an exclusive ``flock`` on ``<database>-gate`` next to the
database file, polled every half millisecond by at most one thread per process. It is taken just
before ``BEGIN IMMEDIATE`` and released after ``COMMIT`` or ``ROLLBACK`` (or when the connection
closes); the kernel drops a dead process's ``flock``. A writer waits for the gate at most the
database's ``timeout`` (OPTIONS, seconds) and then gets SQLite's own "database is locked" error,
as before. Reads never take it (WAL lets them run beside the writer); statements outside a
transaction (autocommit) do not either and keep SQLite's busy handler.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_POLL_SECONDS = 0.0005


class _Gate:
    """The write gate of one database file, shared by the threads of a process."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self.fd: int | None = None
        self.pid = 0

    def _file(self) -> int:
        if self.fd is None or self.pid != os.getpid():
            # A forked child (Celery's pool) opens its own: a flock belongs to an open file
            # description, which a child would otherwise share with its parent.
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.pid = os.getpid()
        return self.fd

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self.lock.acquire(timeout=max(0.0, timeout)):
            raise OperationalError("database is locked (waited for the write gate)")
        try:
            fd = self._file()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OperationalError("database is locked (waited for the write gate)") from None
                    time.sleep(_POLL_SECONDS)
        except BaseException:
            self.lock.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self.lock.release()


_GATES: dict[str, _Gate] = {}
_GATES_LOCK = threading.Lock()


def _gate_for(name: str) -> _Gate | None:
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = os.path.abspath(str(name)) + "-gate"
    with _GATES_LOCK:
        gate = _GATES.get(path)
        if gate is None:
            gate = _GATES[path] = _Gate(path)
        return gate


class DatabaseWrapper(base.DatabaseWrapper):
    _gate_held: _Gate | None = None

    def _gate_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _start_transaction_under_autocommit(self):
        name = self.settings_dict["NAME"]
        if self.__dict__.get("_gate_name") != name:  # looked up once per database name, not per transaction
            self._gate_name, self._gate = name, _gate_for(name)  # (the test runner renames the database)
        gate = self._gate
        if gate is not None and self._gate_held is None:
            gate.acquire(self._gate_timeout())
            self._gate_held = gate
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_gate()
            raise

    def _release_gate(self) -> None:
        gate, self._gate_held = self._gate_held, None
        if gate is not None:
            gate.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_gate()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_gate()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_gate()
