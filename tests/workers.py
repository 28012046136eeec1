"""Real Celery worker processes for tests, on whichever broker and database the environment names
(filesystem + SQLite by default; Redis + PostgreSQL in the second CI run), each on a private queue
(and broker folder), and never left behind: every process carries a marker checked at the end."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from django.db import connection

from readerstudy.celery import app as celery_app
from tests.ops.processes import kill_leftovers, new_marker, wait_until_gone

ROOT = Path(__file__).resolve().parent.parent


def database_url_for_worker() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    raise RuntimeError(f"no worker URL for {db['ENGINE']}")


def forget_cached_broker_state() -> None:
    """Celery caches the connection pool (with the transport options it was made with) and the
    queue/router objects on first use, and even an eager ``apply_async`` acquires a producer.
    Drop them so the options set below are the ones used."""
    # Not force_close_all(): kombu's global pool registry would hand the closed pool out again
    # when the broker URL is unchanged (Redis).
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    for name in ("queues", "router", "default_queue", "default_exchange"):
        celery_app.amqp.__dict__.pop(name, None)


class Workers:
    """Start workers on one private queue; ``stop_all()`` checks that none is left behind."""

    def __init__(self, tmp_path: Path, settings, **env_extra: str):
        self.tmp_path = tmp_path
        self.queue = f"test-{secrets.token_hex(4)}"
        self.broker_dir = tmp_path / "broker"
        # The web process's VAR_DIR: uploads staged by the API are where the worker looks for them.
        self.var_dir = Path(settings.VAR_DIR)
        self.marker = new_marker()
        self.processes: list[subprocess.Popen] = []
        self.settings = settings
        options = dict(celery_app.conf.broker_transport_options or {})
        self.previous = (celery_app.conf.task_default_queue, celery_app.conf.broker_transport_options,
                         celery_app.conf.task_always_eager)
        if settings.CELERY_BROKER_URL.startswith("filesystem"):
            for key in ("data_folder_in", "data_folder_out"):
                options[key] = str(self.broker_dir / "queue")
            options["processed_folder"] = str(self.broker_dir / "processed")
            options["control_folder"] = str(self.broker_dir / "control")
            for folder in ("queue", "processed", "control"):
                (self.broker_dir / folder).mkdir(parents=True, exist_ok=True)
        celery_app.conf.update(task_default_queue=self.queue, broker_transport_options=options, task_always_eager=False)
        forget_cached_broker_state()
        self.env = {
            **os.environ, **self.marker,
            "DATABASE_URL": database_url_for_worker(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_BROKER_DIR": str(self.broker_dir),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "VAR_DIR": str(self.var_dir),
            **env_extra,
        }

    def start(self, name: str = "w1") -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"worker-{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "readerstudy", "worker", "-Q", self.queue, "--pool=solo",
             "--loglevel=INFO", f"--logfile={log}", "-n", f"{self.queue}-{name}@%h"],
            cwd=ROOT, env=self.env, start_new_session=True,
        )
        self.processes.append(proc)
        return proc, log

    def stop_all(self) -> list[int]:
        """SIGTERM every worker; returns the processes still alive after 20 s (then killed)."""
        for proc in self.processes:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        left = wait_until_gone(self.marker, timeout=5)
        kill_leftovers(self.marker)
        celery_app.conf.update(task_default_queue=self.previous[0], broker_transport_options=self.previous[1],
                               task_always_eager=self.previous[2])
        forget_cached_broker_state()
        return left
