"""`./run serve`, the production command: migrations, collectstatic, the app server (granian) and a Celery worker,
DEBUG off by default. Its pages and their static files are served, error pages are the friendly
ones, and SIGTERM stops every process it started within seconds."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.ops.processes import kill_leftovers, new_marker, processes_with, wait_until_gone

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_serve_runs_the_app_server_and_a_worker_with_static_files_and_stops_on_sigterm(tmp_path):
    port = _free_port()
    marker = new_marker()
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "VAR_DIR", "MEDIA_ROOT", "STATIC_ROOT"}}
    env.update(marker, PORT=str(port), VAR_DIR=str(tmp_path / "var"), HTTPS="0", VENV=sys.prefix,
               WEB_WORKERS="2", WORKER_CONCURRENCY="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    # Its own database and broker: never the developer's PostgreSQL database or Redis queue.
    env.pop("CELERY_BROKER_URL", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["./run", "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                status, headers, body = _get(f"{base}/accounts/login/")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(1)
        assert status == 200
        assert headers["Server"] == "granian"
        page = body.decode()
        # DEBUG is off by default here, and the page's static files are the collected, hashed ones.
        static = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
        assert static and all(re.search(r"\.[0-9a-f]{12}\.", url) for url in static), static
        for url in static:
            status, headers, _ = _get(base + url)
            assert status == 200, url
            assert "immutable" in headers["Cache-Control"]
        # Readers never see a debug page: a missing page is the friendly 404, with no URL map.
        status, _, body = _get(f"{base}/no-such-page/")
        assert status == 404 and b"Not found" in body and b"URLconf" not in body
        status, _, body = _get(f"{base}/api/no-such-thing/")
        assert status == 404 and b"URLconf" not in body
        # Both the web server and the worker are up (granian server process + 2 workers, worker + pool).
        deadline = time.monotonic() + 60
        while "ready" not in (tmp_path / "var" / "worker.log").read_text() if (tmp_path / "var" / "worker.log").exists() else True:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert len(processes_with(marker)) >= 5

        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)  # the script only, as a service manager does
        proc.wait(timeout=30)
        left = wait_until_gone(marker, timeout=5)
        assert not left, f"processes left behind: {left}"
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        kill_leftovers(marker)


def test_run_script_killed_outright_takes_its_processes_along(tmp_path):
    """Even SIGKILL of the script (no trap can run) leaves nothing: the children die with it."""
    port = _free_port()
    marker = new_marker()
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "VAR_DIR", "MEDIA_ROOT"}}
    env.update(marker, PORT=str(port), VAR_DIR=str(tmp_path / "var"), HTTPS="0", VENV=sys.prefix,
               WEB_WORKERS="1", WORKER_CONCURRENCY="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.pop("CELERY_BROKER_URL", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["./run", "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "serving on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        time.sleep(2)
        assert len(processes_with(marker)) >= 3
        proc.kill()
        proc.wait(timeout=10)
        left = wait_until_gone(marker, timeout=10)
        assert not left, f"processes outlived the script: {left}"
    finally:
        kill_leftovers(marker)


SETUP_JOB = """
from django.contrib.auth import get_user_model
from readerstudy.studies import services
from recon.services import recon_job_create
user = get_user_model().objects.create_user("c")
study = services.study_create(name="Stop test", created_by=user)
services.sequence_create(study=study, name="SAG T1")
services.arm_create(study=study, name="Standard", is_reference=True)
services.arm_create(study=study, name="Fast")
job = recon_job_create(study=study, actor=user, cases=6, seed=1, sequences=["SAG T1"], arms=["Standard", "Fast"],
                       recon_matrix=192, slices=12, spacing_mm=1.0)
print("JOB", job.pk)
"""


def test_sigterm_stops_everything_within_seconds_while_a_job_runs(tmp_path):
    import sqlite3

    port = _free_port()
    marker = new_marker()
    db = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "VAR_DIR", "MEDIA_ROOT", "CELERY_BROKER_URL"}}
    env.update(marker, PORT=str(port), VAR_DIR=str(tmp_path / "var"), HTTPS="0", VENV=sys.prefix, WEB_WORKERS="1",
               WORKER_CONCURRENCY="1", DATABASE_URL=f"sqlite:///{db}", STOP_GRACE="8")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    out = subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", SETUP_JOB], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    job_id = int(re.search(r"JOB (\d+)", out.stdout).group(1))
    log = tmp_path / "serve.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(["./run", "serve"], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            with sqlite3.connect(db, timeout=30) as conn:
                state, = conn.execute("SELECT state FROM recon_reconjob WHERE id = ?", (job_id,)).fetchone()
            if state == "running":
                break
            assert state == "queued", state
            time.sleep(0.3)
        time.sleep(1)
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        left = wait_until_gone(marker, timeout=5)
        elapsed = time.monotonic() - started
        assert not left, f"processes left behind: {left}"
        assert elapsed < 8 + 6, elapsed  # STOP_GRACE, then whatever is left is killed
        with sqlite3.connect(db, timeout=30) as conn:
            state, = conn.execute("SELECT state FROM recon_reconjob WHERE id = ?", (job_id,)).fetchone()
        assert state == "running"  # stopped mid-job: the next worker's recovery takes it from here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        kill_leftovers(marker)
