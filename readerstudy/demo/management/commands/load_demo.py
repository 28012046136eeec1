"""Load the demo study (issue 7): phantom cases made by the recon worker through Celery, a
crossover schedule, simulated answers for two of three readers, and the statistics report.

    python manage.py load_demo --no-wait    # users, study, recon jobs queued; print logins and URLs
    python manage.py load_demo              # the same (idempotent), then follow the worker with
                                            # progress bars and finish: measure, publish, schedule,
                                            # simulated answers, report; print the URLs again
    python manage.py load_demo --inline     # no worker needed: recon and report in this process

``./run demo`` runs the first, starts the worker and the web server, then runs the second. Every
step reuses what exists, so a second run (or one after Ctrl-C) picks up where the last stopped.
See :mod:`readerstudy.demo.services` for the steps and :mod:`readerstudy.demo.reader_model` for the
simulated readers.
"""

from __future__ import annotations

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from readerstudy.demo import services as demo
from readerstudy.demo.reader_model import ReaderModel


class Progress:
    """A one-line progress bar on a terminal; one line per change elsewhere (logs, tests)."""

    def __init__(self, out, label: str, width: int = 30):
        self.out, self.label, self.width = out, label, width
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.last = None

    def __call__(self, done: int, total: int, note: str = "", detail: str = "") -> None:
        """``detail`` (e.g. a running clock) is shown on a terminal only, so logs get a line per step."""
        total = max(total, 1)
        filled = int(self.width * min(done, total) / total)
        line = f"{self.label:<22} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {note}"
        if self.tty:
            self.out.write("\r" + (line + detail)[:150].ljust(150), ending="")
            self.out.flush()
        elif (done, total, note) != self.last:
            self.out.write(line)
        self.last = (done, total, note)

    def close(self) -> None:
        if self.tty:
            self.out.write("")


class Command(BaseCommand):
    help = "Create (or continue) the demo study: recon through Celery, schedule, simulated readers, report."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=18, help="phantom cases (default 18)")
        parser.add_argument("--sequences", nargs="+", default=list(demo.DEMO_SEQUENCES), help="sequences of the lumbar protocol set")
        parser.add_argument("--matrix", type=int, default=None, help="shrink the recon matrix (default: the protocol's, e.g. 384)")
        parser.add_argument("--slices", type=int, default=None, help="shrink the number of slices (default: the protocol's)")
        parser.add_argument("--spacing", type=float, default=0.8, help="phantom voxel size in mm (default 0.8; coarser is faster)")
        parser.add_argument("--no-wait", action="store_true", help="set up and queue the recon jobs, then return")
        parser.add_argument("--inline", action="store_true", help="run recon jobs and the report in this process (no worker)")
        parser.add_argument("--timeout", type=float, default=None, help="give up waiting for the worker after this many seconds")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, cases, sequences, matrix, slices, spacing, no_wait, inline, timeout, port, **options):
        if cases < 1:
            raise CommandError("--cases must be at least 1")
        config = demo.DemoConfig(cases=cases, sequences=tuple(sequences), matrix=matrix, slices=slices, spacing_mm=spacing)
        self.base = f"http://127.0.0.1:{port}"
        users = demo.demo_users_ensure(config=config)
        coordinator = users["coordinator"]
        study, created = demo.demo_study_ensure(config=config, users=users)
        if created:
            arms = demo.study_reading_arms(study)
            self.stdout.write(f"Created the demo study: {cases} cases x {len(sequences)} sequences x {len(arms)} arms ({', '.join(arms)}), "
                              f"plus {demo.TRUTH_ARM} for the measurements.")
        else:
            known = demo.demo_recon_progress(study).cases  # distinct cases (a retried case has two jobs)
            if known and known != cases:
                self.stdout.write(f"The demo study exists with {known} cases; reusing it as it is.")
            config = demo.DemoConfig(cases=known or cases, sequences=tuple(study.sequences.order_by("order", "name").values_list("name", flat=True)),
                                     matrix=matrix, slices=slices, spacing_mm=spacing)
        jobs = demo.demo_recon_queue(study=study, config=config, actor=coordinator, enqueue=not inline)
        if no_wait:
            self._print_logins(study, complete=False)
            return
        started = time.monotonic()
        if inline:
            from recon.services import recon_job_run

            bar = Progress(self.stdout, "recon (inline)")
            for n, job in enumerate(jobs, start=1):
                recon_job_run(job.pk)
                bar(n, len(jobs), f"case {n}")
            bar.close()
        self._wait_for_recon(study, timeout, started)
        self._finish(study, coordinator, inline=inline, timeout=timeout, started=started)
        self._print_logins(study, complete=True)

    # --- steps ------------------------------------------------------------------------------------

    def _wait_for_recon(self, study, timeout, started) -> None:
        """Progress bars while the worker makes the cases; measure each finished case meanwhile."""
        from readerstudy.studies.models import Case

        self.stdout.write("Recon worker (Celery) making the phantom series; the web pages are up meanwhile.")
        recon_bar = Progress(self.stdout, "recon: cases imported")
        measure_bar = Progress(self.stdout, "measuring vs Truth")
        measured: set[str] = set()
        warned = False
        while True:
            state = demo.demo_recon_progress(study)
            if state.failed:
                recon_bar.close()
                raise CommandError("recon failed: " + "; ".join(state.failed)
                                   + "\nRun the command again to retry the failed cases.")
            note = "; ".join(sorted(state.running)) if state.running else ("waiting for the worker" if state.done < state.cases else "done")
            recon_bar(state.done, state.cases, note, f"  [{time.monotonic() - started:.0f} s]")
            todo = [c for c in Case.objects.filter(study=study).order_by("label") if c.label not in measured
                    and c.series.count() == study.sequences.count() * study.arms.count()]
            for case in todo[:1]:
                demo.demo_case_measure(study=study, case=case)
                measured.add(case.label)
            if state.complete and not todo[1:]:
                break
            if not todo:
                time.sleep(2)
            elapsed = time.monotonic() - started
            if not warned and elapsed > 60 and state.done == 0 and not state.running:
                self.stderr.write("\n(no recon job has started after a minute: is a worker running? "
                                  "`celery -A readerstudy worker`, or use --inline)")
                warned = True
            if timeout and elapsed > timeout:
                raise CommandError(f"the recon worker did not finish within {timeout:.0f} s")
        recon_bar(state.done, state.cases, "done")
        recon_bar.close()
        measure_bar(len(measured), state.cases, "")
        measure_bar.close()
        self.stdout.write(f"  {state.series} series in the study ({time.monotonic() - started:.0f} s so far)")

    def _finish(self, study, coordinator, *, inline, timeout, started) -> None:
        from readerstudy.reports.models import Report
        from readerstudy.reports.services import report_build, report_integrity_set, report_request

        quality = demo.demo_quality_measure(study=study, progress=Progress(self.stdout, "measuring vs Truth"))
        report_integrity_set(study=study, integrity=demo.integrity_table(quality))
        # The schedule is part of what the publish checklist checks, so it is written first.
        sessions = demo.demo_schedule(study=study, actor=coordinator)
        demo.demo_publish(study=study, actor=coordinator)
        self.stdout.write(f"Schedule: {len(sessions)} sessions (crossover, {demo.WASHOUT_DAYS}-day washout).")
        bar = Progress(self.stdout, "simulated readers")
        model = ReaderModel(seed=demo.DemoConfig().model_seed, reference_arm=demo.REFERENCE_ARM)
        written = demo.demo_answers_simulate(study=study, quality=quality, model=model,
                                             readers=demo.SIMULATED_READERS, progress=bar)
        bar.close()
        self.stdout.write(f"  {written} reads answered now by the simulated readers (through the answer services, audited).")
        report = report_request(study=study, actor=coordinator)
        if inline and report.state == Report.State.QUEUED:
            report = report_build(report_pk=report.pk)
        bar = Progress(self.stdout, "report")
        while report.state not in (Report.State.SUCCEEDED, Report.State.FAILED):
            bar(report.progress, 100, report.message)
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(f"the report was not built within {timeout:.0f} s")
            time.sleep(1)
            report.refresh_from_db()
        bar(100, 100, report.state)
        bar.close()
        if report.state == Report.State.FAILED:
            raise CommandError(f"the report failed: {report.error}")

    def _print_logins(self, study, *, complete: bool) -> None:
        b = self.base
        if complete:
            self.stdout.write(self.style.SUCCESS(f"\nThe demo study '{study.name}' is complete: series, schedule, "
                                                 "simulated answers and report."))
        else:
            self.stdout.write(self.style.SUCCESS(f"\nThe demo study '{study.name}' is set up; the recon worker is making its series."))
        self.stdout.write(f"Open {b}/ and log in as:")
        for spec in demo.DEMO_USERS:
            role = "simulated" if spec.simulated else spec.role
            self.stdout.write(f"  {role:<12} {spec.username:<12} password: {spec.password}")
        self.stdout.write(f"Coordinator workspace: {b}/workspace/")
        self.stdout.write(f"Study page:            {b}/workspace/studies/{study.pk}/setup/cases/")
        self.stdout.write(f"Reading progress:      {b}/workspace/studies/{study.pk}/dashboard/")
        self.stdout.write(f"Report:                {b}/reports/studies/{study.pk}/")
        self.stdout.write(f"Reading worklist:      {b}/reading/   (as reader3; sim-reader1 and sim-reader2 are simulated)")
        self.stdout.write(f"API:                   {b}/api/\n")
        sys.stdout.flush()
