"""``python manage.py import_dicom STUDY_NAME PATH (--mapping CSV | --rules FILE) [--as USERNAME] [--skip-unmapped]``

Imports a zip or a folder of MR series into a study as blinded copies, synchronously, all or
nothing (see ``readerstudy.imports.services`` and docs/import.md). Every problem is printed
as ``file: problem``; the command then fails and nothing is stored.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from readerstudy.imports.errors import DicomImportError
from readerstudy.imports.mapping import load_mapping_csv, load_rules
from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import Study


class Command(BaseCommand):
    help = "Import DICOM MR series (zip or folder) into a study as blinded copies, all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's name")
        parser.add_argument("path", type=Path, help="a zip archive or a folder")
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--mapping", type=Path, help="CSV: case,sequence,arm and path or series_instance_uid")
        how.add_argument("--rules", type=Path, help="JSON or TOML header rules")
        parser.add_argument("--as", dest="username", help="the user the audit log names")
        parser.add_argument(
            "--no-create-cases", action="store_true", help="refuse cases that the study does not have yet"
        )
        parser.add_argument("--source", default="import", help="Series.source: import, recon or phantom")
        parser.add_argument(
            "--skip-unmapped",
            action="store_true",
            help="leave out series the mapping or rules do not name (localizers, scouts) and list them",
        )

    def handle(self, *args, **options):
        try:
            study = Study.objects.get(name=options["study"])
        except Study.DoesNotExist:
            raise CommandError(f"no study named {options['study']!r}") from None
        actor = None
        if options["username"]:
            try:
                actor = get_user_model().objects.get(username=options["username"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"no user named {options['username']!r}") from None
        verbosity = options["verbosity"]

        def progress(percent: int, message: str) -> None:
            if verbosity >= 2:
                self.stdout.write(f"{percent:3d}% {message}")

        try:
            mapping = load_mapping_csv(options["mapping"]) if options["mapping"] else load_rules(options["rules"])
            result = import_dicom(
                study=study,
                source=options["path"],
                mapping=mapping,
                actor=actor,
                progress=progress,
                create_cases=not options["no_create_cases"],
                series_source=options["source"],
                skip_unmapped=options["skip_unmapped"],
            )
        except DicomImportError as exc:
            for error in exc.errors:
                self.stderr.write(f"{error['file']}: {error['problem']}")
            raise CommandError(str(exc)) from None
        for s in result.skipped:
            where = f" in {s['folder']}" if s["folder"] else ""
            self.stdout.write(f"skipped: {s['series_description'] or '(no description)'} ({s['modality']}, {s['images']} images){where}")
        created = f"; new cases: {', '.join(result.cases_created)}" if result.cases_created else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {len(result.series)} series ({result.instances} instances) into {study.name!r}{created}"
            )
        )
