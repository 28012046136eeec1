"""DICOM import: good series in, blinded rows and files out; every bad input refused whole."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core.management import CommandError, call_command

from readerstudy.imports import services, staging
from readerstudy.imports.errors import DicomImportError
from readerstudy.imports.mapping import load_mapping, mapping_from_json, mapping_to_json, parse_mapping_csv
from readerstudy.imports.services import import_dicom, import_job_create, import_job_run
from readerstudy.studies.models import AuditEvent, Case, ImportJob, Instance, Series, UIDMapping

from .conftest import N_INSTANCES, SLICES, state_of

pytestmark = pytest.mark.django_db


def rewrite(path: Path, **changes) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def write_mapping(path: Path, rows: list[list[str]], header=("case", "sequence", "arm", "path")) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def zip_folder(folder: Path, archive: Path, *, top: str | None = None, extra=()) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                zf.write(path, f"{top}/{name}" if top else name)
        for info, data in extra:
            zf.writestr(info, data)
    return archive


def expect_refused(study, media_root, source, mapping, *, file: str, problem: str, coordinator=None):
    """Import must fail naming ``file`` and ``problem``, leaving the database and media untouched."""
    before = state_of(study, media_root)
    with pytest.raises(DicomImportError) as info:
        import_dicom(study=study, source=source, mapping=mapping, actor=coordinator)
    errors = info.value.errors
    assert any(file in e["file"] and problem in e["problem"] for e in errors), errors
    assert problem in str(info.value)
    assert state_of(study, media_root) == before
    return errors


# --- good input ---------------------------------------------------------------------------------


def test_good_import_stores_blinded_series(study, dicom_source, coordinator, settings):
    result = import_dicom(study=study, source=dicom_source.root, mapping=dicom_source.mapping_csv, actor=coordinator)

    assert len(result.series) == 8 and result.instances == N_INSTANCES
    assert sorted(result.cases_created) == ["C001", "C002"]
    assert Case.objects.filter(study=study).count() == 2
    for fs in dicom_source.fixture.series:
        series = Series.objects.get(case__label=fs.case, sequence__name=fs.sequence, arm__name=fs.arm)
        assert series.original_series_instance_uid == fs.series_instance_uid
        assert series.series_instance_uid != fs.series_instance_uid
        assert (series.rows, series.columns, series.num_instances) == (32, 32, SLICES)
        assert series.pixel_spacing_mm == [8.0, 8.0]
        assert series.slice_thickness_mm == 4.0
        assert series.image_orientation == [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
        assert series.source == "import"
        kinds = sorted(series.uid_mappings.values_list("kind", flat=True))
        assert kinds == sorted(["frame_of_reference", "series", "study"] + ["instance"] * SLICES)
        assert set(series.uid_mappings.filter(kind="instance").values_list("original_uid", flat=True)) == set(
            fs.sop_instance_uids
        )
    # Files only under opaque names; the staging folder is gone.
    media = Path(settings.MEDIA_ROOT)
    files = [p for p in media.rglob("*") if p.is_file()]
    assert len(files) == N_INSTANCES
    assert not (media / ".staging").exists()
    for instance in Instance.objects.all():
        path = media / instance.path
        assert path.is_file() and path.stat().st_size == instance.size_bytes
        assert instance.path.startswith("dicom/") and "IM_" not in instance.path and "MRN" not in instance.path
    # One audit event for the import, attributed to the coordinator, plus the created rows.
    event = AuditEvent.objects.get(object_type="studies.import")
    assert event.actor == coordinator and event.study_id == study.pk
    assert AuditEvent.objects.filter(object_type="studies.series", action="create", actor=coordinator).count() == 8


def test_instances_sorted_along_the_slice_normal(imported, settings):
    for series in Series.objects.all():
        positions = []
        for instance in series.instances.order_by("index"):
            ds = pydicom.dcmread(Path(settings.MEDIA_ROOT) / instance.path)
            assert ds.InstanceNumber == instance.index + 1
            positions.append(float(ds.ImagePositionPatient[0]))
        # Normal of the sagittal orientation is -x: distance along it increases with the index.
        assert positions == sorted(positions, reverse=True) and len(set(positions)) == SLICES


def test_import_from_zip_with_a_top_folder(study, dicom_source, coordinator, tmp_path):
    # Side files an export or a Mac leaves behind are skipped, not errors.
    (dicom_source.root / "README.txt").write_text("exported series")
    (dicom_source.root / ".DS_Store").write_bytes(b"\0\1junk")
    (dicom_source.root / "DICOMDIR").write_bytes(b"not parsed")
    archive = zip_folder(dicom_source.root, tmp_path / "upload.zip", top="export")
    result = import_dicom(study=study, source=archive, mapping=dicom_source.mapping_csv, actor=coordinator)
    assert len(result.series) == 8 and result.instances == N_INSTANCES


def test_recon_manifest_is_a_mapping(study, dicom_source, coordinator):
    rows = [[s.case, s.sequence, s.arm, s.path, str(SLICES)] for s in dicom_source.fixture.series]
    manifest = write_mapping(dicom_source.root / "manifest.csv", rows, ("case", "sequence", "arm", "path", "slices"))
    result = import_dicom(
        study=study, source=dicom_source.root, mapping=manifest, actor=None, series_source="recon"
    )
    assert {s.source for s in result.series} == {"recon"}


def test_manifest_slices_must_match(study, dicom_source, settings):
    rows = [[s.case, s.sequence, s.arm, s.path, str(SLICES + 1)] for s in dicom_source.fixture.series]
    manifest = write_mapping(dicom_source.root / "manifest.csv", rows, ("case", "sequence", "arm", "path", "slices"))
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, manifest, file="S003", problem=f"slices={SLICES + 1}")


def test_mapping_by_series_instance_uid(study, dicom_source):
    rows = [[s.case, s.sequence, s.arm, s.series_instance_uid] for s in dicom_source.fixture.series]
    mapping = write_mapping(dicom_source.root / "by-uid.csv", rows, ("case", "sequence", "arm", "series_instance_uid"))
    result = import_dicom(study=study, source=dicom_source.root, mapping=mapping, actor=None)
    assert len(result.series) == 8


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_header_rules_give_the_same_assignment(study, dicom_source, fmt):
    rules_path = dicom_source.rules_toml
    if fmt == "json":
        import tomllib

        rules_path = dicom_source.root / "rules.json"
        rules_path.write_text(json.dumps(tomllib.loads(dicom_source.rules_toml.read_text())))
    import_dicom(study=study, source=dicom_source.root, mapping=rules_path, actor=None)
    for fs in dicom_source.fixture.series:
        series = Series.objects.get(original_series_instance_uid=fs.series_instance_uid)
        assert (series.case.label, series.sequence.name, series.arm.name) == (fs.case, fs.sequence, fs.arm)


def test_pseudonyms_skip_labels_the_study_already_uses(study, dicom_source):
    Case.objects.create(study=study, label="C001")
    import_dicom(study=study, source=dicom_source.root, mapping=dicom_source.rules_toml, actor=None)
    labels = dict(Series.objects.values_list("original_series_instance_uid", "case__label"))
    first, second = dicom_source.fixture.series[0], dicom_source.fixture.series[-1]  # MRN48..., MRN50...
    assert labels[first.series_instance_uid] == "C002" and labels[second.series_instance_uid] == "C003"
    assert not Series.objects.filter(case__label="C001").exists()


def test_rules_that_match_nothing_name_the_series(study, dicom_source, settings):
    rules = dicom_source.root / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "case": {"field": "PatientID", "pseudonymize": "C{:03d}"},
                "sequence": {"field": "SeriesDescription", "regex": [["(?i)sag t2", "SAG T2 FS"]]},
                "arm": {"field": "ProtocolName", "map": {"T2_FS_NEX2": "Standard"}},
            }
        )
    )
    errors = expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, rules, file="S004", problem="matches no rule")
    assert any("sequence: SeriesDescription" in e["problem"] for e in errors)


def test_mapping_round_trips_through_job_json(dicom_source):
    for mapping in (load_mapping(dicom_source.mapping_csv), load_mapping(dicom_source.rules_toml)):
        assert mapping_from_json(json.loads(json.dumps(mapping_to_json(mapping)))) == mapping


# --- bad input: each refused with its file and problem, nothing stored -----------------------------


KEY = ("C001", "SAG T2 FS", "Fast")


def test_broken_file(study, dicom_source, settings):
    victim = dicom_source.files(*KEY)[2]
    victim.write_bytes(b"this is not DICOM at all" * 20)
    rel = victim.relative_to(dicom_source.root).as_posix()
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file=rel, problem="not a DICOM file")


def test_truncated_file(study, dicom_source, settings):
    victim = dicom_source.files(*KEY)[1]
    victim.write_bytes(victim.read_bytes()[:900])
    rel = victim.relative_to(dicom_source.root).as_posix()
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file=rel, problem="incomplete")


def test_non_mr_series(study, dicom_source, settings):
    victim = dicom_source.files(*KEY)[0]
    rewrite(victim, Modality="CT")
    rel = victim.relative_to(dicom_source.root).as_posix()
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file=rel, problem="modality is CT")


def test_mixed_patient_series(study, dicom_source, settings):
    victim = dicom_source.files(*KEY)[3]
    rewrite(victim, PatientID="MRN00000001", PatientName="OTHER^PATIENT")
    rel = victim.relative_to(dicom_source.root).as_posix()
    errors = expect_refused(
        study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file=rel, problem="one patient"
    )
    assert not any("OTHER" in e["problem"] for e in errors)


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"PixelSpacing": [7.5, 8.0]}, "pixel spacing"),
        ({"ImageOrientationPatient": [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]}, "orientation"),
        ({"Columns": 30}, "pixels differs"),
    ],
)
def test_inconsistent_geometry(study, dicom_source, settings, changes, problem):
    victim = dicom_source.files(*KEY)[2]
    rewrite(victim, **changes)
    rel = victim.relative_to(dicom_source.root).as_posix()
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file=rel, problem=problem)


def test_duplicate_slice_position(study, dicom_source, settings):
    files = dicom_source.files(*KEY)
    position = pydicom.dcmread(files[0]).ImagePositionPatient
    rewrite(files[1], ImagePositionPatient=position)
    expect_refused(
        study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file="IM_000", problem="same slice position"
    )


def test_unreadable_pixels(study, dicom_source, settings):
    """Header fine, pixel data short: found while blinding, after files were staged."""
    victim = dicom_source.files(*KEY)[3]
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[:100]
    ds.save_as(victim)
    rel = victim.relative_to(dicom_source.root).as_posix()
    expect_refused(
        study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file=rel, problem="pixel data unreadable"
    )


@pytest.mark.parametrize("column, value, problem", [(2, "Fastt", "unknown arm 'Fastt'"), (1, "AX T2", "unknown sequence")])
def test_unknown_arm_or_sequence(study, dicom_source, settings, column, value, problem):
    rows = list(csv.reader(dicom_source.mapping_csv.open()))[1:]
    rows[1][column] = value
    mapping = write_mapping(dicom_source.root / "mapping.csv", rows)
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, mapping, file=rows[1][3], problem=problem)


def test_unknown_case_when_cases_are_not_created(study, dicom_source, settings):
    before = state_of(study, settings.MEDIA_ROOT)
    with pytest.raises(DicomImportError, match="unknown case 'C001'"):
        import_dicom(study=study, source=dicom_source.root, mapping=dicom_source.mapping_csv, create_cases=False)
    assert state_of(study, settings.MEDIA_ROOT) == before


def test_case_label_that_is_the_patient_id(study, dicom_source, settings):
    rows = list(csv.reader(dicom_source.mapping_csv.open()))[1:]
    rows[0][0] = "MRN48213977"
    mapping = write_mapping(dicom_source.root / "mapping.csv", rows)
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, mapping, file=rows[0][3], problem="use a pseudonym")


def test_unmapped_file_and_empty_row(study, dicom_source, settings):
    rows = list(csv.reader(dicom_source.mapping_csv.open()))[1:]
    mapping = write_mapping(dicom_source.root / "mapping.csv", rows[1:] + [["C009", "SAG T1", "Fast", "nowhere"]])
    errors = expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, mapping, file=rows[0][3], problem="not assigned")
    assert any("no DICOM files match 'nowhere'" in e["problem"] for e in errors)


def test_mapping_csv_with_unknown_column(study, dicom_source, settings):
    mapping = write_mapping(dicom_source.root / "mapping.csv", [["C001", "SAG T1", "Fast", "x", "y"]], ("case", "sequence", "arm", "path", "reader"))
    expect_refused(study, settings.MEDIA_ROOT, dicom_source.root, mapping, file="mapping.csv", problem="unknown column(s) 'reader'")


def test_mapping_path_outside_the_source():
    with pytest.raises(DicomImportError, match="must be relative"):
        parse_mapping_csv("case,sequence,arm,path\nC001,SAG T1,Fast,../../etc\n")


def test_second_import_of_the_same_series(imported, study, dicom_source, settings):
    errors = expect_refused(
        study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file="S003", problem="already has a series"
    )
    assert any("already imported" in e["problem"] for e in errors)


def test_failure_while_moving_files_rolls_everything_back(study, dicom_source, settings, monkeypatch):
    calls = {"n": 0}
    real_replace = os.replace

    def flaky_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 20:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(staging.os, "replace", flaky_replace)
    before = state_of(study, settings.MEDIA_ROOT)
    with pytest.raises(OSError, match="disk full"):
        import_dicom(study=study, source=dicom_source.root, mapping=dicom_source.mapping_csv, actor=None)
    assert state_of(study, settings.MEDIA_ROOT) == before


# --- zip and folder safety ------------------------------------------------------------------------


def _zip_with(dicom_source, tmp_path, info, data=b"x"):
    return zip_folder(dicom_source.root, tmp_path / "evil.zip", extra=[(info, data)])


@pytest.mark.parametrize(
    "name, problem",
    [
        ("../evil.dcm", "path leaves the archive"),
        ("MRN48213977/../../evil.dcm", "path leaves the archive"),
        ("/etc/evil.dcm", "absolute path"),
        ("C:/evil.dcm", "absolute path"),
    ],
)
def test_zip_traversal_and_absolute_paths(study, dicom_source, settings, tmp_path, name, problem):
    info = zipfile.ZipInfo("placeholder")
    info.filename = name  # ZipInfo() would sanitize the name; a hostile archive does not
    archive = _zip_with(dicom_source, tmp_path, info)
    expect_refused(study, settings.MEDIA_ROOT, archive, dicom_source.mapping_csv, file=name, problem=problem)
    assert not (tmp_path / "evil.dcm").exists()


def test_zip_symlink(study, dicom_source, settings, tmp_path):
    info = zipfile.ZipInfo("MRN48213977/link.dcm")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip_with(dicom_source, tmp_path, info, b"/etc/passwd")
    expect_refused(study, settings.MEDIA_ROOT, archive, dicom_source.mapping_csv, file="link.dcm", problem="symbolic link")


def test_zip_bomb_by_compression_ratio(study, dicom_source, settings, tmp_path):
    info = zipfile.ZipInfo("MRN48213977/bomb.dcm")
    info.compress_type = zipfile.ZIP_DEFLATED
    archive = _zip_with(dicom_source, tmp_path, info, bytes(4 * 1024**2))
    expect_refused(study, settings.MEDIA_ROOT, archive, dicom_source.mapping_csv, file="bomb.dcm", problem="compression ratio")


def test_zip_expanding_beyond_the_limit(study, dicom_source, settings, tmp_path):
    archive = zip_folder(dicom_source.root, tmp_path / "big.zip")
    settings.IMPORT_MAX_EXPANDED_BYTES = 100_000
    expect_refused(study, settings.MEDIA_ROOT, archive, dicom_source.mapping_csv, file="big.zip", problem="expands to")


def test_zip_with_too_many_members(study, dicom_source, settings, tmp_path):
    archive = zip_folder(dicom_source.root, tmp_path / "many.zip")
    settings.IMPORT_MAX_MEMBERS = 10
    expect_refused(study, settings.MEDIA_ROOT, archive, dicom_source.mapping_csv, file="many.zip", problem="the limit is 10")


def test_not_a_zip(study, dicom_source, settings, tmp_path):
    fake = tmp_path / "upload.zip"
    fake.write_bytes(b"PK\x03\x04 but not really")
    expect_refused(study, settings.MEDIA_ROOT, fake, dicom_source.mapping_csv, file="upload.zip", problem="not a readable zip")


def test_symlink_in_a_folder(study, dicom_source, settings, tmp_path):
    secret = tmp_path / "secret.dcm"
    shutil.copy(dicom_source.files(*KEY)[0], secret)
    link = dicom_source.series_dir(*KEY) / "IM_9999.dcm"
    link.symlink_to(secret)
    expect_refused(
        study, settings.MEDIA_ROOT, dicom_source.root, dicom_source.mapping_csv, file="IM_9999.dcm", problem="symbolic link"
    )


# --- jobs and the management command --------------------------------------------------------------


def test_import_job_through_the_task(study, dicom_source, coordinator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            study=study, source_path=dicom_source.root, mapping=load_mapping(dicom_source.mapping_csv), actor=coordinator
        )
    job.refresh_from_db()
    assert (job.state, job.progress, job.series_created, job.errors) == ("succeeded", 100, 8, [])
    assert job.started_at and job.finished_at
    import_job_run(job.pk)  # a redelivered task leaves a finished job alone
    job.refresh_from_db()
    assert job.state == "succeeded" and Series.objects.count() == 8


def test_failed_import_job_records_errors(study, dicom_source, coordinator, settings):
    victim = dicom_source.files(*KEY)[0]
    rewrite(victim, Modality="CT")
    job = ImportJob.objects.create(
        study=study,
        created_by=coordinator,
        source_path=str(dicom_source.root),
        mapping=mapping_to_json(load_mapping(dicom_source.mapping_csv)),
    )
    before = state_of(study, settings.MEDIA_ROOT)
    import_job_run(job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "modality is CT" in job.error
    assert job.errors == [{"file": victim.relative_to(dicom_source.root).as_posix(), "problem": "modality is CT, expected MR"}]
    assert state_of(study, settings.MEDIA_ROOT) == before


def test_uploaded_archive_is_removed_after_the_job(study, dicom_source, coordinator, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    archive = zip_folder(dicom_source.root, tmp_path / "upload.zip")
    with archive.open("rb") as fh:
        stored = services.store_upload(fh)
    assert stored.parent == tmp_path / "var" / "import-uploads"
    job = ImportJob.objects.create(
        study=study, created_by=coordinator, source_path=str(stored), mapping=mapping_to_json(load_mapping(dicom_source.mapping_csv))
    )
    import_job_run(job.pk)
    job.refresh_from_db()
    assert job.state == "succeeded" and not stored.exists()


def test_management_command(study, dicom_source, coordinator):
    out = io.StringIO()
    call_command("import_dicom", study.name, str(dicom_source.root), "--mapping", str(dicom_source.mapping_csv), "--as", "coord", stdout=out)
    assert "8 series" in out.getvalue()
    assert AuditEvent.objects.get(object_type="studies.import").actor == coordinator


def test_management_command_with_rules_and_errors(study, dicom_source):
    rewrite(dicom_source.files(*KEY)[0], Modality="CT")
    with pytest.raises(CommandError, match="modality is CT"):
        call_command("import_dicom", study.name, str(dicom_source.root), "--rules", str(dicom_source.rules_toml), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Series.objects.exists() and not UIDMapping.objects.exists()


# --- encodings --------------------------------------------------------------------------------------


def test_implicit_vr_and_rle_compressed_sources_are_stored_uncompressed(study, dicom_source, settings):
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

    implicit, compressed = dicom_source.files(*KEY), dicom_source.files("C002", "SAG T1", "Standard")
    originals = {}
    for path in implicit:
        ds = pydicom.dcmread(path)
        originals[str(ds.SOPInstanceUID)] = ds.pixel_array.copy()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    for path in compressed:
        ds = pydicom.dcmread(path)
        originals[str(ds.SOPInstanceUID)] = ds.pixel_array.copy()
        ds.compress(RLELossless, generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)

    import_dicom(study=study, source=dicom_source.root, mapping=dicom_source.mapping_csv, actor=None)

    for instance in Instance.objects.filter(original_sop_instance_uid__in=list(originals)):
        ds = pydicom.dcmread(Path(settings.MEDIA_ROOT) / instance.path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert (ds.pixel_array == originals[instance.original_sop_instance_uid]).all()
    assert Instance.objects.filter(original_sop_instance_uid__in=list(originals)).count() == len(originals)
