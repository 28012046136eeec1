"""Fixtures for import, blinding and serving: generated MR series, a study to import them into,
and small helpers that make reading sessions directly (the scheduler is tested elsewhere)."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone

from fixtures.make_fixture_dicom import FixtureSet, make_fixture_dicom
from readerstudy.studies.models import AuditEvent, Case, Instance, Membership, Series, Study, UIDMapping


# 2 cases × 2 sequences × 2 arms × SLICES images: small, because most tests import it whole.
SLICES = 4
N_SERIES = 8
N_INSTANCES = N_SERIES * SLICES


@pytest.fixture(scope="session")
def fixture_dicom(tmp_path_factory) -> FixtureSet:
    """Generated once per test process; tests that change files work on a copy (``dicom_source``)."""
    return make_fixture_dicom(tmp_path_factory.mktemp("fixture-dicom"), cases=2, slices=SLICES, size=32)


@dataclass
class Source:
    root: Path
    fixture: FixtureSet

    @property
    def mapping_csv(self) -> Path:
        return self.root / "mapping.csv"

    @property
    def rules_toml(self) -> Path:
        return self.root / "rules.toml"

    def series_dir(self, case: str, sequence: str, arm: str) -> Path:
        return self.root / self.fixture.by_key(case, sequence, arm).path

    def files(self, case: str, sequence: str, arm: str) -> list[Path]:
        return sorted(self.series_dir(case, sequence, arm).glob("*.dcm"))


@pytest.fixture
def dicom_source(fixture_dicom, tmp_path) -> Source:
    root = tmp_path / "source"
    shutil.copytree(fixture_dicom.root, root)
    return Source(root=root, fixture=fixture_dicom)


@pytest.fixture
def study(db, coordinator) -> Study:
    """A draft study to import into: two sequences, Standard (the reference) and Fast."""
    from readerstudy.studies import services

    study = services.study_create(name="Lumbar spine fast protocol", created_by=coordinator)
    for name in ("SAG T2 FS", "SAG T1"):
        services.sequence_create(study=study, name=name)
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    return study


@pytest.fixture
def imported(study, dicom_source, coordinator):
    from readerstudy.imports.services import import_dicom

    return import_dicom(study=study, source=dicom_source.root, mapping=dicom_source.mapping_csv, actor=coordinator)


def state_of(study: Study, media_root: Path) -> dict:
    """Everything an import may change: row counts and every path under MEDIA_ROOT."""
    return {
        "cases": Case.objects.filter(study=study).count(),
        "series": Series.objects.filter(case__study=study).count(),
        "instances": Instance.objects.count(),
        "uid_mappings": UIDMapping.objects.count(),
        "audit": AuditEvent.objects.count(),
        "media": sorted(str(p.relative_to(media_root)) for p in Path(media_root).rglob("*")),
    }


@pytest.fixture
def make_session(db):
    """make_session(study, reader, [series, ...], index=0, open=True, completed=False) -> Session."""
    from readerstudy.reading.models import Read, Session

    def _make(study, reader, series_list, *, index=0, open=True, completed=False):
        if study.status != Study.Status.PUBLISHED:
            study.status = Study.Status.PUBLISHED
            study.save()
        Membership.objects.get_or_create(study=study, user=reader, role=Membership.Role.READER)
        now = timezone.now()
        session = Session.objects.create(
            study=study,
            reader=reader,
            index=index,
            opens_at=now - dt.timedelta(hours=1) if open else now + dt.timedelta(days=30),
            completed_at=now if completed else None,
        )
        for position, series in enumerate(series_list):
            Read.objects.create(session=session, position=position, series=series)
        return session

    return _make
