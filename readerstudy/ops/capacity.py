"""How many database connections this deployment can open, against what the server allows."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectionBudget:
    web_workers: int
    web_threads: int
    pool_max_size: int
    worker_concurrency: int
    machines: int

    @property
    def web_connections(self) -> int:
        # A thread holds at most one connection; the pool never opens more than max_size.
        return self.machines * self.web_workers * min(self.web_threads, self.pool_max_size)

    @property
    def worker_connections(self) -> int:
        # Each Celery pool process and the worker's main process keep one persistent connection.
        return self.machines * (self.worker_concurrency + 1)

    @property
    def total(self) -> int:
        return self.web_connections + self.worker_connections


def budget_from_environment(environ=os.environ) -> ConnectionBudget:
    threads = int(environ.get("WEB_THREADS", "4"))
    return ConnectionBudget(
        web_workers=int(environ.get("WEB_WORKERS", max(2, multiprocessing.cpu_count()))),
        web_threads=threads,
        pool_max_size=int(environ.get("DB_POOL_MAX_SIZE", threads)),
        worker_concurrency=int(environ.get("WORKER_CONCURRENCY", "2")),
        machines=int(environ.get("WEB_MACHINES", "1")),
    )
