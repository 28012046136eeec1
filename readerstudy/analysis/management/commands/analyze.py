"""``python manage.py analyze ANSWERS.csv --config ANALYSIS.toml --out DIR [--reference-standard REF.csv]``.

Thin: parse the arguments, call :func:`readerstudy.analysis.runner.run_analysis`, write the
tables. Touches no database.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from readerstudy.analysis.config import load_config
from readerstudy.analysis.runner import run_analysis, write_results
from readerstudy.analysis.tidy import read_answers_csv, read_reference_csv


class Command(BaseCommand):
    help = "Analyse a tidy answers CSV with a TOML configuration; write one CSV per table and results.json."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("answers", help="tidy answers CSV (reader,case,sequence,arm,item,level,value,...)")
        parser.add_argument("--config", required=True, help="analysis configuration (TOML)")
        parser.add_argument("--out", required=True, help="output directory")
        parser.add_argument("--reference-standard", dest="reference_standard", default=None,
                            help="reference standard CSV (case,level,finding,present)")

    def handle(self, *args, **options):
        try:
            config = load_config(options["config"])
            answers = read_answers_csv(options["answers"])
            ref = read_reference_csv(options["reference_standard"]) if options["reference_standard"] else None
            result = run_analysis(answers, config, ref)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        paths = write_results(result, options["out"])
        for note in result.notes:
            self.stderr.write(f"note: {note}")
        self.stdout.write(f"wrote {len(paths)} files to {options['out']}")
