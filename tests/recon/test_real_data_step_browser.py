"""The workspace's "recon on real data" step (templates/recon/_real_data_step.html +
static/recon/real_data_step.js) in Debian's chromium against the live server: a coordinator
picks an imported Standard series and starts the recon; the job's error (no air) is shown, then
with a noise SD the Fast and Fast-DL series arrive."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.db import connections

from readerstudy.studies.models import Series
from readerstudy.studies.services import arm_create, sequence_create, study_create
from tests.browser.conftest import CHROMIUM, launch_chromium

from .test_real_jobs import ARMS, _import

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def test_coordinator_starts_a_real_data_recon_from_the_workspace(live_server, make_user, monkeypatch, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    coordinator = make_user("coord", password=PASSWORD)
    study = study_create(name="Real data", created_by=coordinator)
    sequence_create(study=study, name="SAG T2 FS")
    arm_create(study=study, name="Standard", is_reference=True)
    for a in ARMS:
        arm_create(study=study, name=a)
    _import(study, coordinator, tmp_path, name="mr_small", case="C001", arm="Standard", noise_sd=10.0)

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    errors = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/accounts/login/?next=/workspace/studies/{study.pk}/setup/cases/")
        page.fill("input[name=username]", "coord")
        page.fill("input[name=password]", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/setup/cases/")
        step = page.locator("#recon-real")
        step.get_by_text("C001 · SAG T2 FS · Standard").wait_for()
        assert step.locator('input[name="arms"]:checked').count() == 4
        step.get_by_role("button", name="Start").click()
        # No air in this image: the job fails and says how to give the noise.
        step.locator(".ws-errors").get_by_text("background ROI", exact=False).wait_for()
        assert Series.objects.filter(source="recon").count() == 0
        step.get_by_label("Noise SD").fill("10")
        step.get_by_role("button", name="Start").click()
        step.get_by_text("Done: the new series are in the study.").wait_for()
        if os.environ.get("WORKSPACE_SCREENSHOTS"):
            step.screenshot(path=str(Path(os.environ["WORKSPACE_SCREENSHOTS"]) / "recon-real-data-step.png"))
        browser.close()
    connections.close_all()
    time.sleep(0.3)
    assert not errors, errors
    assert sorted(Series.objects.filter(source="recon").values_list("arm__name", flat=True)) == sorted(ARMS)
