"""The app server of `./run demo` and `./run serve`: granian, WSGI, threaded workers.

``python -m readerstudy.webserver`` turns the environment below into granian's command line and
becomes granian (exec, so signals and the parent-death signal set by ``./run`` reach it directly):

* ``BIND`` (``host:port``, default ``127.0.0.1:$PORT``, PORT 8000);
* ``WEB_WORKERS`` processes (default: the number of CPUs, at least 2) × ``WEB_THREADS`` threads
  each (default 4) running the Django application. Requests beyond the threads wait in granian's
  queue; the threads are what bounds the database connections (one pooled connection per thread,
  ``DB_POOL_MAX_SIZE`` = ``WEB_THREADS``, see settings and ``manage.py check_capacity``);
* ``WEB_GRACEFUL_TIMEOUT`` (5 s): after SIGTERM/SIGINT, in-flight requests get this long;
* ``WEB_KEEPALIVE`` (60 s, granian's most): an idle keep-alive connection is closed after it
  (nginx's upstream ``keepalive_timeout`` in deploy/nginx is set below it, so nginx never sends a
  request on a connection the server is closing);
* ``WEB_ACCESS_LOG`` (on unless set empty), ``WEB_LOG_LEVEL`` (info).

``application`` is the WSGI entry granian's workers import: the product's ``readerstudy.wsgi``,
in a worker that dies with its server process. granian's workers outlive a server process that is
killed outright (SIGKILL, OOM killer); here each worker asks the kernel for SIGKILL when its parent
dies, so ``./run`` killed outright still takes every process along (``tests/ops/test_run_serve.py``).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGKILL this process when its parent (the granian server process) dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent died before the request was registered
        os._exit(1)


def _worker_application():
    if os.environ.get("READERSTUDY_WEB_WORKER") == "1":
        _die_with_parent()
    from readerstudy.wsgi import application as wsgi_application

    # Load the URL map (and with it every view module) now, not in the first readers' requests:
    # otherwise the first request of each worker waits a second or more for the imports.
    from django.urls import get_resolver

    get_resolver().url_patterns
    return wsgi_application


def argv(environ: dict[str, str] | None = None) -> list[str]:
    """granian's arguments for this environment (what :func:`main` runs)."""
    env = os.environ if environ is None else environ
    bind = env.get("BIND") or f"127.0.0.1:{env.get('PORT', '8000')}"
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"BIND must be host:port, got {bind!r}")
    host = host.strip("[]")
    keepalive = min(60, max(1, int(env.get("WEB_KEEPALIVE", "60"))))
    args = [
        "--interface", "wsgi",
        "--host", host, "--port", port,
        "--workers", str(int(env.get("WEB_WORKERS", max(2, multiprocessing.cpu_count())))),
        "--blocking-threads", str(int(env.get("WEB_THREADS", "4"))),
        "--backlog", str(int(env.get("WEB_BACKLOG", "2048"))),
        "--http", "1",  # behind nginx (or on 127.0.0.1 for the demo): HTTP/1.1 with keep-alive
        "--no-ws",
        "--http1-header-read-timeout", str(keepalive * 1000),
        "--workers-kill-timeout", str(int(env.get("WEB_GRACEFUL_TIMEOUT", "5"))),
        "--log-level", env.get("WEB_LOG_LEVEL", "info"),
        "--access-log" if env.get("WEB_ACCESS_LOG", "-") else "--no-access-log",
        "readerstudy.webserver:application",
    ]
    return args


def main() -> None:
    args = argv()
    os.environ["READERSTUDY_WEB_WORKER"] = "1"  # read by the workers' import of `application`
    os.execv(sys.executable, [sys.executable, "-m", "granian", *args])


def __getattr__(name: str):
    # ``application``, looked up by granian in each worker: the product's WSGI application, in a
    # worker tied to its server process. Loaded on first use, so importing this module does nothing.
    if name == "application":
        app = _worker_application()
        globals()["application"] = app
        return app
    raise AttributeError(name)


if __name__ == "__main__":
    main()
