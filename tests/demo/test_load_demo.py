"""End to end, in-process: a small demo (3 cases, 1 sequence, small matrix) through the recon
worker's job service, measurements against Truth, schedule, simulated answers through the answer
services, and the report; then a second run that reuses everything."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command

from readerstudy.demo import services as demo
from readerstudy.reading.export import answers_tidy
from readerstudy.reading.models import Answer, Read, Session
from readerstudy.reports.models import Report
from readerstudy.studies.models import AuditEvent, ReferenceStandard, Series, Study
from recon.models import ReconJob

pytestmark = pytest.mark.slow
SMALL = ["--inline", "--cases", "3", "--sequences", "SAG T1", "--matrix", "64", "--slices", "4", "--spacing", "2.0"]


def _run() -> str:
    out = io.StringIO()
    call_command("load_demo", *SMALL, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_small_demo_end_to_end_and_again():
    output = _run()
    study = Study.objects.get(name=demo.DEMO_STUDY)
    arms = demo.study_reading_arms(study)
    assert arms[:2] == ["Standard", "Fast"] and demo.TRUTH_ARM not in arms
    assert study.status == Study.Status.PUBLISHED

    # Recon: one job per case, every case x sequence x arm (and Truth) imported, phantom truth in.
    assert ReconJob.objects.filter(study=study, state=ReconJob.State.SUCCEEDED).count() == 3
    assert Series.objects.filter(case__study=study).count() == 3 * (len(arms) + 1)
    assert ReferenceStandard.objects.filter(case__study=study, source="phantom").count() == 3 * 6 * 8

    # Schedule: crossover over the reading arms only; Truth is never read.
    sessions = Session.objects.filter(study=study)
    assert sessions.count() == 3 * len(arms)
    assert not Read.objects.filter(session__study=study, series__arm__name=demo.TRUTH_ARM).exists()

    # Simulated readers answered every read; reader3's sessions are untouched.
    sim = Read.objects.filter(session__study=study, session__reader__username__in=list(demo.SIMULATED_READERS))
    assert sim.count() == 2 * 3 * len(arms) and not sim.filter(submitted_at__isnull=True).exists()
    assert all("Simulated reader" in c for c in sim.values_list("comment", flat=True))
    assert not Read.objects.filter(session__study=study, session__reader__username="reader3", started_at__isnull=False).exists()
    tidy = answers_tidy(study)
    assert set(tidy["reader"]) == set(demo.SIMULATED_READERS)
    assert len(tidy) == sim.count() * (5 + 8 * 6)  # seed 000's five items + the 8 x 6 pathology grid
    # Written through the answer services, so audited like a person's answers, with the reason.
    events = AuditEvent.objects.filter(study_id=study.pk, reason__startswith="simulated reader")
    # One event per save of a read's answers, listing each answer it created or changed.
    saves = events.filter(object_type="reading.answers")
    assert saves.count() == sim.count()
    assert sum(sum(e["after"] is not None for e in ev.changes["answers"].values()) for ev in saves) >= len(tidy)
    # Each reader's sessions were read after their washout (simulated time, all in the past).
    for username in demo.SIMULATED_READERS:
        done = list(Session.objects.filter(study=study, reader__username=username).order_by("index"))
        for before, after in zip(done, done[1:]):
            first_read = after.reads.order_by("started_at").first().started_at
            assert (first_read - before.completed_at).days >= demo.WASHOUT_DAYS

    # Scores follow measured quality: the reference arm scores at least as well as Fast on SNR.
    quality = pd.read_csv(Path(settings.MEDIA_ROOT) / "demo" / f"study_{study.pk}" / "C001.csv")
    assert {"snr", "sharpness", "ssim", "l1"} <= set(quality.columns)
    snr = tidy[tidy["item"] == "apparent_snr"].groupby("arm")["value"].mean()
    assert snr["Standard"] > snr["Fast"]

    # The report: built, labelled simulated, with the integrity table fed from the measurements.
    report = Report.objects.get(study=study)
    assert report.state == Report.State.SUCCEEDED and report.answer_count == len(tidy)
    html = (Path(settings.MEDIA_ROOT) / report.files["html"]).read_text()
    assert "SIMULATED DATA" in html and "sim-reader1" in html
    assert "SSIM" in html
    for url in (f"/studies/{study.pk}/", "/reading/", f"/reports/studies/{study.pk}/"):
        assert url in output
    assert "reader3" in output and "is complete" in output

    # Again: nothing new is made.
    counts = (Series.objects.count(), Answer.objects.count(), Report.objects.count(), ReconJob.objects.count())
    again = _run()
    assert (Series.objects.count(), Answer.objects.count(), Report.objects.count(), ReconJob.objects.count()) == counts
    assert "is complete" in again


@pytest.mark.django_db
def test_demo_with_two_sequences_answers_case_reads_per_pane():
    """With several sequences the demo reads whole cases (one read shows every sequence of a case
    in one arm): the simulated readers answer each series-level item once per pane ("@K", from
    that pane's sequence's measurements) and the pathology grid once per case. The full demo
    failed here (series-level answers sent with an empty level) before this was covered."""
    out = io.StringIO()
    call_command("load_demo", "--inline", "--cases", "2", "--sequences", "SAG T1", "SAG T2 FS", "--matrix", "64",
                 "--slices", "4", "--spacing", "2.0", stdout=out, stderr=io.StringIO())
    study = Study.objects.get(name=demo.DEMO_STUDY)
    sim = Read.objects.filter(session__study=study, session__reader__username__in=list(demo.SIMULATED_READERS))
    assert sim.exists() and not sim.filter(submitted_at__isnull=True).exists()
    assert all(r.protocol_series.count() == 2 for r in sim)  # case reads: both sequences in one read
    levels = set(Answer.objects.filter(read__in=sim, item__key="apparent_snr").values_list("level", flat=True))
    assert levels == {"@1", "@2"}
    tidy = answers_tidy(study)
    snr = tidy[tidy["item"] == "apparent_snr"]
    assert set(snr["sequence"]) == {"SAG T1", "SAG T2 FS"} and (snr["level"] == "").all()
    assert len(snr) == 2 * sim.count()
    assert len(tidy) == sim.count() * (5 * 2 + 8 * 6)
