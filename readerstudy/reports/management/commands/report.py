"""``python manage.py report STUDY --out DIR``: build the study's report now, in this process.

STUDY is the study's id or name. Writes ``report.html``, ``report.pdf``, ``report.xlsx`` and
``report.zip`` into DIR (no worker and no Report row involved), and prints the stamp.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from readerstudy.reports import selectors
from readerstudy.reports.build import build_report
from readerstudy.reports.render import write_report
from readerstudy.studies.models import Study


class Command(BaseCommand):
    help = "Build the statistics report of a study into a folder (HTML, PDF, XLSX, zip)."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study id or name")
        parser.add_argument("--out", required=True, help="folder to write the report files into")

    def handle(self, *args, study: str, out: str, **options):
        found = Study.objects.filter(pk=int(study)) if study.isdigit() else Study.objects.none()
        found = found or Study.objects.filter(name=study)
        if not found:
            raise CommandError(f"no study with id or name {study!r}")
        obj = found.get()
        started = time.perf_counter()
        inputs = selectors.report_inputs(obj)
        if inputs.answers.empty:
            raise CommandError(f"study {obj.name!r} has no submitted answers yet")

        def tick(pct, message):
            if options.get("verbosity", 1) > 1:
                self.stderr.write(f"{pct:3d}% {message}")

        try:
            report = build_report(inputs.answers, inputs.config, inputs.reference_standard, inputs.integrity,
                                  meta={**inputs.meta, "notes": inputs.notes}, progress=tick,
                                  invalid_reference="drop")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        paths = write_report(report, out, progress=tick)
        for fmt, path in paths.items():
            self.stdout.write(f"{fmt:5s} {path}")
        s = report.stamp
        self.stdout.write(f"{s['answers']} answers · SHA-256 {s['answers_sha256']} · seed {s['seed']} · "
                          f"readerstudy {s['version']} · {time.perf_counter() - started:.1f} s")
