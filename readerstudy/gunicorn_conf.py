"""gunicorn settings for `./run demo` and `./run serve` (``gunicorn -c readerstudy/gunicorn_conf.py``).

Threaded workers (gthread): a request for an image or an answer spends most of its time waiting
on the disk or the database, so a few processes with a few threads each serve many readers with
little memory; the processes use both cores for the Python part. The number of concurrent requests
(WEB_WORKERS x WEB_THREADS) is also what bounds the database connections (one pooled connection per
thread, DB_POOL_MAX_SIZE = WEB_THREADS): readers beyond it wait in the listen queue instead of
opening connections the database does not have.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
backlog = 2048
# A request longer than this is a bug (uploads are streamed to disk, imports run in the worker).
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
# Stop within seconds: in-flight requests get this long to finish after SIGTERM / Ctrl-C.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "5"))
# A reader's browser keeps its connection between autosaves; closing it after a few idle seconds
# makes the next request race the close (nginx's own default is 75 s).
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
# Behind nginx on the same machine: trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# WEB_ACCESS_LOG= (empty) turns the access log off.
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
proc_name = "readerstudy-web"
