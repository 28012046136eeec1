"""The tidy answers table and its CSV download."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.test import Client
from django.utils import timezone

from readerstudy.analysis.tidy import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, read_answers_csv
from readerstudy.reading import services as svc
from readerstudy.reading.export import COLUMNS, answers_tidy
from readerstudy.reading.models import Read, Session
from readerstudy.studies import services
from tests.factories import series_row, small_study

pytestmark = pytest.mark.django_db

DESIGN_COLUMNS = ["study", "reader", "case", "sequence", "arm", "item", "level", "value", "session", "position",
                  "read_started", "read_seconds"]


def complete(**override):
    values = {"apparent_snr": 4, "anatomy_discernment": 3, "diagnostic_confidence": 4, "overall_quality": 5,
              "artifacts": 1, "consistency_issue": 0} | override
    return [{"item": k, "level": "", "value": v} for k, v in values.items()]


@pytest.fixture
def study_with_answers(coordinator, reader, other_reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader, other_reader], publish=False)
    services.item_create(study=study, key="herniation", label="Disc herniation", kind="checklist",
                         category="Pathology", levels=["L4-L5", "L5-S1"])
    services.questionnaire_apply_template(study=study, template="seed003")
    training_case = services.case_create(study=study, label="T001", is_training=True)
    training_series = [series_row(case=training_case, sequence=series[0].sequence, arm=arm)
                       for arm in (series[0].arm, series[1].arm)]
    services.study_set_status(study=study, status="published")
    grid = [{"item": "herniation", "level": "L4-L5", "value": 1}, {"item": "herniation", "level": "L5-S1", "value": 0}]
    reads = list(sessions[0].reads.order_by("position"))
    svc.read_submit(read=reads[0], reader=reader, submission_id="sub-00000001", answers=complete() + grid)
    svc.answer_draft_save(read=reads[1], reader=reader, answers=complete())  # a draft: not exported
    # A training session of the other reader: not exported.
    training = Session.objects.create(study=study, reader=other_reader, index=1, is_training=True,
                                      opens_at_override=timezone.now())
    training_read = Read.objects.create(session=training, position=0, series=training_series[0])
    svc.read_submit(read=training_read, reader=other_reader, submission_id="sub-00000002", answers=complete() + grid)
    # A side-by-side pair, reference (Standard, series[0]) on the right.
    pairs = Session.objects.create(study=study, reader=reader, index=1, opens_at_override=timezone.now())
    pair = Read.objects.create(session=pairs, position=0, series=series[1], series_right=series[0])
    preference = [{"item": k, "value": 2} for k in ("pref_snr", "pref_resolution", "pref_artifacts", "pref_cord",
                                                    "pref_cord_csf", "pref_disc", "pref_bone", "pref_facet")]
    svc.read_submit(read=pair, reader=reader, submission_id="sub-00000003",
                    answers=complete() + grid + preference)
    return study


def test_tidy_table_has_the_design_columns_and_only_submitted_non_training_answers(study_with_answers, reader):
    df = answers_tidy(study_with_answers)
    assert list(df.columns)[:12] == DESIGN_COLUMNS
    assert list(df.columns) == COLUMNS
    assert set(df.columns) <= set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)  # the analysis CLI accepts it
    assert set(df["reader"]) == {"reader1"}
    single = df[df["position"].eq(1) & df["session"].eq(1)]
    assert len(single) == 8
    row = single[single["item"] == "apparent_snr"].iloc[0]
    # The seeded schedule decides which series the first read shows.
    shown = Read.objects.get(session__reader=reader, session__index=0, position=0).series
    assert (row["study"], row["case"], row["sequence"], row["arm"], row["level"], row["value"]) == (
        "Study A", shown.case.label, "SAG T2 FS", shown.arm.name, "", 4.0)
    assert row["read_started"] and row["read_seconds"] == 0
    grid = single[single["item"] == "herniation"].set_index("level")["value"].to_dict()
    assert grid == {"L4-L5": 1.0, "L5-S1": 0.0}
    assert df.duplicated(["reader", "case", "sequence", "arm", "item", "level"]).sum() == 0


def test_preference_rows_carry_the_pair_reference_first_and_the_corrected_value(study_with_answers):
    df = answers_tidy(study_with_answers)
    pref = df[df["item"] == "pref_snr"].iloc[0]
    # Shown: Fast left, Standard right; the reader chose 2 = "left mildly better" = second arm better.
    assert pref["arm"] == "Standard|Fast"
    assert (pref["value"], pref["raw_value"], pref["side"]) == (4.0, 2.0, "right")
    others = df[(df["session"] == 2) & (df["item"] == "apparent_snr")]
    assert list(others["arm"]) == ["Standard|Fast"] and others["side"].eq("").all()


def test_csv_download_for_coordinators_only(study_with_answers, coordinator, reader):
    client = Client()
    client.force_login(reader)
    assert client.get(f"/reading/studies/{study_with_answers.pk}/answers.csv").status_code == 404
    client.force_login(coordinator)
    response = client.get(f"/reading/studies/{study_with_answers.pk}/answers.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    parsed = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert len(parsed) == len(answers_tidy(study_with_answers))
    assert set(parsed.loc[parsed["item"] != "herniation", "level"]) == {""}
    # Scripts use an API token; anonymous requests are refused.
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=coordinator)
    anonymous = Client()
    assert anonymous.get(f"/reading/studies/{study_with_answers.pk}/answers.csv").status_code in (401, 403)
    scripted = anonymous.get(f"/reading/studies/{study_with_answers.pk}/answers.csv",
                             HTTP_AUTHORIZATION=f"Token {token.key}")
    assert scripted.status_code == 200 and scripted.content == response.content


def test_empty_study_gives_an_empty_table_with_the_columns(coordinator, reader, tmp_path):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    df = answers_tidy(study)
    assert df.empty and list(df.columns) == COLUMNS
    path = tmp_path / "answers.csv"
    path.write_text(df.to_csv(index=False))
    assert list(read_answers_csv(path).columns) == COLUMNS
