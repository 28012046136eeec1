"""A real Celery worker process, on whichever broker and database the environment names
(filesystem + SQLite by default; Redis + PostgreSQL in the second CI run), runs an import job
submitted through the API."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from fixtures.make_fixture_dicom import make_fixture_dicom
from readerstudy.celery import app as celery_app
from readerstudy.studies import services
from readerstudy.studies.models import ImportJob, Instance, Series

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _database_url_for_worker() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    raise RuntimeError(f"no worker URL for {db['ENGINE']}")


def _forget_cached_broker_state() -> None:
    """Celery caches the connection pool (with the transport options it was made with) and the
    queue/router objects on first use, and even an eager ``apply_async`` acquires a producer.
    Drop them so the options set below are the ones used."""
    # Not force_close_all(): kombu's global pool registry would hand the closed pool out again
    # when the broker URL is unchanged (Redis).
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    for name in ("queues", "router", "default_queue", "default_exchange"):
        celery_app.amqp.__dict__.pop(name, None)


@pytest.fixture
def worker(tmp_path, settings):
    """Start ``celery worker`` on a private queue (and broker folder) for this test."""
    queue = f"test-{secrets.token_hex(4)}"
    broker_dir = tmp_path / "broker"
    options = dict(celery_app.conf.broker_transport_options or {})
    previous = (celery_app.conf.task_default_queue, celery_app.conf.broker_transport_options, celery_app.conf.task_always_eager)
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        for key in ("data_folder_in", "data_folder_out"):
            options[key] = str(broker_dir / "queue")
        options["processed_folder"] = str(broker_dir / "processed")
        options["control_folder"] = str(broker_dir / "control")
        for folder in ("queue", "processed", "control"):
            (broker_dir / folder).mkdir(parents=True)
    celery_app.conf.update(task_default_queue=queue, broker_transport_options=options, task_always_eager=False)
    _forget_cached_broker_state()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_BROKER_DIR": str(broker_dir),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "worker-var"),
    }
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "readerstudy", "worker", "-Q", queue, "--pool=solo",
         "--loglevel=INFO", f"--logfile={log}", "-n", f"{queue}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    yield {"process": proc, "log": log}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    celery_app.conf.update(task_default_queue=previous[0], broker_transport_options=previous[1], task_always_eager=previous[2])
    _forget_cached_broker_state()


def test_import_job_runs_on_a_real_worker(tmp_path, worker, coordinator):
    study = services.study_create(name="Worker study", created_by=coordinator)
    for name in ("SAG T2 FS", "SAG T1"):
        services.sequence_create(study=study, name=name)
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    fixture = make_fixture_dicom(tmp_path / "src", cases=1, slices=4, size=32)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(fixture.root.rglob("*.dcm")):
            zf.write(path, path.relative_to(fixture.root).as_posix())

    client = APIClient()
    client.force_authenticate(coordinator)
    with archive.open("rb") as fh, fixture.mapping_csv.open("rb") as mapping:
        response = client.post(f"/api/studies/{study.pk}/imports/", {"archive": fh, "mapping": mapping}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["public_id"]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(public_id=job_id)
        if job.state in ("succeeded", "failed"):
            break
        assert worker["process"].poll() is None, worker["log"].read_text()
        time.sleep(0.5)
    log = worker["log"].read_text() if worker["log"].exists() else ""
    assert job.state == "succeeded", (job.state, job.error, job.errors, log[-3000:])
    assert job.series_created == 4
    assert Series.objects.filter(case__study=study).count() == 4
    for instance in Instance.objects.filter(series__case__study=study):
        assert (Path(settings.MEDIA_ROOT) / instance.path).is_file()
    assert "studies.import_job" in log and "succeeded" in log
    # The job's response and status never carried anything but its opaque id and progress.
    status = client.get(f"/api/studies/{study.pk}/imports/{job_id}/").json()
    assert status["state"] == "succeeded" and status["progress"] == 100
