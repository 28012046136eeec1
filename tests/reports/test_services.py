"""The report of a study in the database: cache keyed by the answers hash, a new answer invalidates
it, the Celery job builds the files, only coordinators see or download them (pages, API, command).
"""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from readerstudy.reading import services as reading
from readerstudy.reading.models import Read
from readerstudy.reports import services
from readerstudy.reports.models import Report
from tests.factories import small_study

pytestmark = [pytest.mark.django_db]

LIKERT = ["apparent_snr", "anatomy_discernment", "diagnostic_confidence", "overall_quality"]


def submit(read: Read, reader, score: int, artifacts: int) -> None:
    values = [{"item": k, "level": "", "value": score} for k in LIKERT]
    values.append({"item": "artifacts", "level": "", "value": artifacts})
    reading.read_start(read=read, reader=reader)
    reading.read_submit(read=read, reader=reader, submission_id=f"sub-{read.pk:08d}", answers=values)


@pytest.fixture
def world(coordinator, reader, other_reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader, other_reader])
    reads = {r: list(Read.objects.filter(session=s).order_by("position"))
             for r, s in zip((reader, other_reader), sessions)}
    for i, read in enumerate(reads[reader]):
        submit(read, reader, 2 + i % 3, i % 2)
    for i, read in enumerate(reads[other_reader][:-1]):
        submit(read, other_reader, 3 + i % 2, (i + 1) % 2)
    return {"study": study, "reads": reads}


def test_the_cache_is_reused_until_an_answer_changes(world, coordinator, other_reader):
    study = world["study"]
    first = services.report_request(study=study, actor=coordinator)
    assert first.state == Report.State.QUEUED and first.answer_count > 0
    assert services.report_request(study=study, actor=coordinator).pk == first.pk
    submit(world["reads"][other_reader][-1], other_reader, 4, 0)  # a new answer
    second = services.report_request(study=study, actor=coordinator)
    assert second.pk != first.pk and second.answers_sha256 != first.answers_sha256
    assert second.answer_count == first.answer_count + 5
    study.analysis_settings = {"items": {"artifacts": {"margin": 0.3}}}  # changed settings: a new report too
    study.save()
    third = services.report_request(study=study, actor=coordinator)
    assert third.pk != second.pk and third.answers_sha256 == second.answers_sha256
    assert services.report_request(study=study, actor=coordinator).pk == third.pk


def test_the_job_builds_the_files_and_only_coordinators_get_them(world, coordinator, reader,
                                                                 django_capture_on_commit_callbacks):
    study = world["study"]
    study.analysis_settings = {"report": {"notes": ["reader2's answers are simulated"]}}
    study.save()
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_request(study=study, actor=coordinator)
    report.refresh_from_db()
    assert report.state == Report.State.SUCCEEDED, report.error
    assert report.progress == 100 and set(report.files) == {"html", "pdf", "xlsx", "zip"}
    assert report.stamp["answers_sha256"] == report.answers_sha256 and report.stamp["seed"] == study.seed
    assert services.report_build(report_pk=report.pk).finished_at == report.finished_at  # idempotent

    page, base = Client(), f"/reports/studies/{study.pk}/"
    page.force_login(coordinator)
    body = page.get(base).content.decode()
    assert "Succeeded" in body and "Download PDF" in body
    html = b"".join(page.get(f"{base}{report.public_id}/html/").streaming_content).decode()
    assert "reader2&#x27;s answers are simulated" in html and report.answers_sha256 in html
    pdf = page.get(f"{base}{report.public_id}/pdf/")
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert page.get(f"{base}{report.public_id}/nope/").status_code == 404
    api = APIClient()
    api.force_authenticate(coordinator)
    again = api.post(f"/api/studies/{study.pk}/reports/")
    assert again.status_code == 200 and again.json()["public_id"] == report.public_id
    listed = api.get(f"/api/studies/{study.pk}/reports/").json()
    assert listed["results"][0]["downloads"]["zip"].endswith(f"{report.public_id}/download/zip/")
    got = api.get(f"/api/studies/{study.pk}/reports/{report.public_id}/download/xlsx/")
    assert got.status_code == 200 and b"".join(got.streaming_content)[:2] == b"PK"

    # A reader of the study (not its coordinator) sees nothing, as if the study did not exist.
    outsider = Client()
    outsider.force_login(reader)
    for url in (base, f"{base}{report.public_id}/pdf/"):
        assert outsider.get(url).status_code == 404
    assert outsider.post(f"{base}generate/").status_code == 404
    api.force_authenticate(reader)
    assert api.get(f"/api/studies/{study.pk}/reports/").status_code == 404
    assert api.post(f"/api/studies/{study.pk}/reports/").status_code == 404
    assert Report.objects.count() == 1


def test_generate_button_queues_a_report(world, coordinator):
    page = Client()
    page.force_login(coordinator)
    response = page.post(f"/reports/studies/{world['study'].pk}/generate/")
    assert response.status_code == 302
    report = Report.objects.get()
    assert report.requested_by == coordinator


def test_report_command_writes_every_format(world, tmp_path, capsys):
    call_command("report", str(world["study"].pk), out=str(tmp_path))
    for fmt in ("html", "pdf", "xlsx", "zip"):
        assert (tmp_path / f"report.{fmt}").stat().st_size > 1000
    assert "SHA-256" in capsys.readouterr().out


def test_a_study_without_answers_gets_a_clear_error_not_a_job(coordinator, reader):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    page = Client()
    page.force_login(coordinator)
    response = page.post(f"/reports/studies/{study.pk}/generate/")
    assert response.status_code == 400 and "no submitted answers yet" in response.content.decode()
    api = APIClient()
    api.force_authenticate(coordinator)
    response = api.post(f"/api/studies/{study.pk}/reports/")
    assert response.status_code == 400 and "no submitted answers yet" in str(response.json())
    assert not Report.objects.exists()


def test_the_verdict_lists_every_scheduled_reader_with_their_reads(world, coordinator, reader, other_reader,
                                                                  tmp_path):
    from readerstudy.reports import selectors

    inputs = selectors.report_inputs(world["study"])
    n = len(world["reads"][reader])
    assert inputs.meta["reads"] == {reader.username: {"scheduled": n, "submitted": n},
                                    other_reader.username: {"scheduled": n, "submitted": n - 1}}
    call_command("report", str(world["study"].pk), out=str(tmp_path))
    html = (tmp_path / "report.html").read_text()
    assert f"Reads submitted of those scheduled (training excluded): {2 * n - 1}/{2 * n}" in html
    assert f"{other_reader.username} {n - 1}/{n}" in html
