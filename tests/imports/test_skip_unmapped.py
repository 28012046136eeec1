"""A whole exam export: series the mapping or rules do not name are skipped on request and listed."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import call_command

from readerstudy.imports.errors import DicomImportError
from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import AuditEvent, ImportJob, Series

from . import real_dicom as rd
from .conftest import N_SERIES, state_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def exam(dicom_source):
    """The fixture exam plus what a PACS export also holds: a 3-image localizer of the same
    patient (real MR_small pixels) and a CT object."""
    patient = dicom_source.fixture.series[0]
    paths = rd.write_series(rd.real("MR_small.dcm"), dicom_source.root / patient.patient_id / "S001_LOCALIZER", slices=3,
                            patient_id=patient.patient_id)
    for path in paths:
        import pydicom

        ds = pydicom.dcmread(path)
        ds.SeriesDescription = "LOCALIZER"
        ds.PatientName = patient.patient_name
        ds.save_as(path)
    shutil.copy(rd.real("CT_small.dcm"), dicom_source.root / patient.patient_id / "ct.dcm")
    return dicom_source


def test_unmapped_series_fail_the_import_unless_skipped(study, exam, settings):
    before = state_of(study, settings.MEDIA_ROOT)
    with pytest.raises(DicomImportError) as info:
        import_dicom(study=study, source=exam.root, mapping=exam.mapping_csv)
    assert any("skip_unmapped" in e["problem"] for e in info.value.errors)
    assert state_of(study, settings.MEDIA_ROOT) == before

    result = import_dicom(study=study, source=exam.root, mapping=exam.mapping_csv, skip_unmapped=True)
    assert len(result.series) == N_SERIES
    assert sorted((s["series_description"], s["modality"], s["images"]) for s in result.skipped) == [
        ("", "CT", 1), ("LOCALIZER", "MR", 3)
    ]
    event = AuditEvent.objects.filter(object_type="studies.import").latest("pk")
    assert {"series_description": "LOCALIZER", "images": 3} in event.changes["skipped"]


def test_rules_skip_the_series_they_do_not_name(study, exam):
    result = import_dicom(study=study, source=exam.root, mapping=exam.rules_toml, skip_unmapped=True)
    assert len(result.series) == N_SERIES
    assert ("LOCALIZER", 3) in [(s["series_description"], s["images"]) for s in result.skipped]


def test_nothing_named_is_an_error(study, exam, tmp_path):
    mapping = tmp_path / "none.csv"
    mapping.write_text("case,sequence,arm,series_instance_uid\nC001,SAG T1,Standard,1.2.3.4\n")
    with pytest.raises(DicomImportError):
        import_dicom(study=study, source=exam.root, mapping=mapping, skip_unmapped=True)
    assert not Series.objects.exists()


def test_command_lists_what_it_skipped(study, exam):
    out = io.StringIO()
    call_command("import_dicom", study.name, str(exam.root), "--mapping", str(exam.mapping_csv), "--skip-unmapped", stdout=out)
    text = out.getvalue()
    assert "skipped: LOCALIZER (MR, 3 images)" in text and f"imported {N_SERIES} series" in text


def test_api_job_lists_what_it_skipped(study, exam, coordinator, settings, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(coordinator)
    settings.IMPORT_FOLDER_ROOTS = [str(exam.root.parent)]
    with open(exam.mapping_csv, "rb") as mapping, django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/studies/{study.pk}/imports/",
            {"folder": str(exam.root), "mapping": mapping, "skip_unmapped": "true"},
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    job = client.get(f"/api/studies/{study.pk}/imports/{response.json()['public_id']}/").json()
    assert job["state"] == "succeeded" and job["series_created"] == N_SERIES
    assert {"LOCALIZER"} <= {s["series_description"] for s in job["skipped"]}
    assert ImportJob.objects.get(public_id=job["public_id"]).mapping["skip_unmapped"] is True
