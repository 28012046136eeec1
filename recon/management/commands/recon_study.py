"""python manage.py recon_study STUDY --cases N --seed S

Runs phantom cases through the recon worker into a study: creates a ReconJob and either
enqueues it for the Celery worker and follows its progress (default), or runs it in this
process (--inline). STUDY is the study's name or primary key. The study must already have the
sequences (e.g. SAG T2 FS, SAG T1, AX T2) and arms (Standard, Fast, ...) the job makes; Truth
is only imported when asked for with --arms and present in the study.
"""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from readerstudy.studies.models import Study
from recon.models import ReconJob
from recon.protocols import DEFAULT_PROTOCOL_SET
from recon.services import recon_job_create, recon_job_run


class Command(BaseCommand):
    help = "Simulate phantom cases with the recon worker and import them, blinded, into a study."

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--cases", type=int, required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--first-case", type=int, default=0, help="label offset: 0 -> C001")
        parser.add_argument("--protocol-set", default=DEFAULT_PROTOCOL_SET)
        parser.add_argument("--sequences", nargs="*")
        parser.add_argument("--arms", nargs="*")
        parser.add_argument("--matrix", type=int)
        parser.add_argument("--slices", type=int)
        parser.add_argument("--spacing-mm", type=float, default=0.8)
        parser.add_argument("--inline", action="store_true", help="run here instead of on a worker")
        parser.add_argument("--no-wait", action="store_true", help="enqueue and return")
        parser.add_argument("--timeout", type=float, default=3600.0)

    def handle(self, *args, **o):
        q = Study.objects.filter(name=o["study"])
        if not q.exists() and o["study"].isdigit():
            q = Study.objects.filter(pk=int(o["study"]))
        study = q.first()
        if study is None:
            raise CommandError(f"no study {o['study']!r}")
        try:
            with transaction.atomic():
                job = recon_job_create(
                    study=study, actor=None, cases=o["cases"], seed=o["seed"], first_case=o["first_case"],
                    protocol_set=o["protocol_set"], sequences=o["sequences"], arms=o["arms"],
                    recon_matrix=o["matrix"], slices=o["slices"], spacing_mm=o["spacing_mm"], enqueue=not o["inline"],
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"recon job {job.pk} ({job.public_id}) for study {study.name!r}")
        if o["inline"]:
            job = recon_job_run(job.pk)
        elif o["no_wait"]:
            return
        else:
            deadline = time.monotonic() + o["timeout"]
            last = None
            while True:
                job.refresh_from_db()
                if (job.progress, job.message) != last:
                    self.stdout.write(f"[{job.progress:3d}%] {job.state} {job.message}")
                    last = (job.progress, job.message)
                if job.state in (ReconJob.State.SUCCEEDED, ReconJob.State.FAILED):
                    break
                if time.monotonic() > deadline:
                    raise CommandError(f"job {job.pk} still {job.state} after {o['timeout']} s (is a worker running?)")
                time.sleep(1.0)
        if job.state != ReconJob.State.SUCCEEDED:
            raise CommandError(f"job {job.pk} failed: {job.error}")
        self.stdout.write(self.style.SUCCESS(
            f"job {job.pk} done: {len(job.result.get('series_created', []))} series imported, "
            f"{job.result.get('cases_done')} cases, {job.seconds or 0:.1f} s on {job.worker_host}"
        ))
