"""``python manage.py check_capacity``: will this deployment's connections fit the database server?

Run by ``./run serve`` before it starts. On PostgreSQL it compares the most connections the web
processes and the worker can hold (WEB_MACHINES x (WEB_WORKERS x DB_POOL_MAX_SIZE + WORKER_CONCURRENCY
+ 1)) with ``max_connections`` less the superuser reserve, and fails naming the numbers when they do
not fit. SQLite has no connection limit to check.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from readerstudy.ops.capacity import budget_from_environment


class Command(BaseCommand):
    help = "Check that the web and worker processes cannot open more database connections than the server allows."

    def handle(self, *args, **options):
        budget = budget_from_environment()
        if connection.vendor != "postgresql":
            self.stdout.write(f"database: {connection.vendor}; no connection limit to check")
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int")
            max_connections, reserved = cursor.fetchone()
        available = max_connections - reserved
        line = (
            f"database connections: at most {budget.total} (web {budget.web_connections} = "
            f"{budget.machines} machine(s) x {budget.web_workers} workers x {min(budget.web_threads, budget.pool_max_size)}; "
            f"worker {budget.worker_connections}) of {available} the server allows "
            f"(max_connections {max_connections} - {reserved} reserved)"
        )
        if budget.total > available:
            raise CommandError(line + ": lower WEB_WORKERS, WEB_THREADS/DB_POOL_MAX_SIZE or WORKER_CONCURRENCY, or raise max_connections")
        self.stdout.write(line)
