"""The coordinator workspace in Debian's chromium against the live server: a new coordinator goes
from an empty database to a published crossover study with two readers by clicking through the
pages, then locks it and downloads the exports and the unblinding key."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from fixtures.make_fixture_dicom import make_fixture_dicom
from readerstudy.reading.models import Session
from readerstudy.studies.models import AuditEvent, Series, Study
from tests.browser.conftest import CHROMIUM, launch_chromium
from tests.factories import reads_submit_all as submit_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
User = get_user_model()
SHOTS = os.environ.get("WORKSPACE_SCREENSHOTS", "")  # a folder: save a screenshot of each page


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def page(monkeypatch, live_server):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(45_000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.browser_ = browser
        yield page
        # Let every request the pages started finish on the live server before the database is
        # torn down (instead of a fixed sleep).
        for open_page in context.pages:
            open_page.wait_for_load_state("networkidle")
        context.close()
        browser.close()
        connections.close_all()
    assert not errors, errors


@pytest.fixture
def upload(tmp_path):
    """A zip of fixture DICOM (2 cases x 1 sequence x 2 arms, 4 slices of 32x32) and its mapping."""
    fixture = make_fixture_dicom(tmp_path / "dicom", cases=2, sequences=("SAG T2 FS",), slices=4, size=32)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(fixture.root.rglob("*.dcm")):
            zf.write(path, path.relative_to(fixture.root).as_posix())
    return archive, fixture.mapping_csv


def test_new_coordinator_sets_up_publishes_locks_and_exports(page, live_server, make_user, upload, tmp_path):
    from readerstudy.studies.permissions import coordinator_grant

    coordinator_grant(user=make_user("coord", password=PASSWORD))  # an administrator made them a coordinator
    url = live_server.url
    page.goto(f"{url}/accounts/login/?next=/workspace/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/workspace/")
    assert "You do not coordinate any study yet" in page.inner_text("main")

    # 1. Name (by keyboard: type, Enter).
    page.get_by_label("Name").fill("Lumbar spine DL")
    page.get_by_label("Name").press("Enter")
    page.wait_for_url("**/setup/design/")
    study = Study.objects.get(name="Lumbar spine DL")

    # 2. Sequences and arms.
    page.get_by_label("New sequence").fill("SAG T2 FS")
    page.get_by_role("button", name="Add sequence").click()
    page.wait_for_selector("#sequences li:has-text('SAG T2 FS')")
    page.get_by_label("New arm").fill("Standard")
    page.get_by_label("This is the reference arm").check()
    page.get_by_role("button", name="Add arm").click()
    page.wait_for_selector("#arms li:has-text('Standard') .ws-badge")
    page.get_by_label("New arm").fill("Fast")
    page.get_by_role("button", name="Add arm").click()
    page.wait_for_selector("#arms li:has-text('Fast')")
    shot(page, "design")
    # A mistake shows an error in place, nothing changes.
    page.get_by_label("New arm").fill("Fast")
    page.get_by_role("button", name="Add arm").click()
    page.wait_for_selector("#arms div.ws-errors li")
    assert "already exists" in page.locator("#arms div.ws-errors").inner_text()

    # 3. Cases and series: zip upload with a mapping, progress, then the grid.
    page.get_by_role("link", name="3. Cases and series").click()
    archive, mapping = upload
    page.set_input_files("#f-archive", str(archive))
    page.set_input_files("#f-mapping", str(mapping))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_selector("#cases table.ws-grid")
    assert Series.objects.filter(case__study=study).count() == 4
    assert "missing" not in page.inner_text("#cases")
    shot(page, "cases")

    # 4. Questionnaire from a template, and the reader's preview.
    page.get_by_role("link", name="4. Questionnaire").click()
    page.get_by_role("button", name="Use seed000").click()
    page.wait_for_selector("#items details.ws-item")
    assert study.items.count() > 0
    shot(page, "questionnaire")
    # Edit an item: its label changes, its anchors survive the round trip through the form.
    item = study.items.get(key="overall_quality")
    anchors = dict(item.anchors)
    page.click("#item-overall_quality summary")
    page.locator("#item-overall_quality input[name=label]").fill("Overall quality")
    page.locator("#item-overall_quality").get_by_role("button", name="Save item").click()
    page.wait_for_selector("#item-overall_quality .ws-status:text-is('Saved.')")
    item.refresh_from_db()
    assert item.label == "Overall quality" and item.anchors == anchors
    page.goto(f"{url}/workspace/studies/{study.pk}/preview/")
    assert page.locator("fieldset.rd-item").count() > 0
    assert "Standard" not in page.inner_text("form.rd-form")
    shot(page, "preview")
    page.go_back()

    # 6. Readers: invited by username; each opens the link, chooses a password and joins (until
    # then the coordinator sees "invited"); then one-time login links.
    page.get_by_role("link", name="6. Readers").click()
    for name in ("reader1", "reader2"):
        page.get_by_label("Username").fill(name)
        page.get_by_role("button", name="Invite", exact=True).click()
        invite_box = page.get_by_role("textbox", name="Invitation link")
        page.wait_for_function("() => document.querySelector('.ws-link-url[aria-label=\"Invitation link\"]').value.includes('/invitations/')")
        invite_url = invite_box.input_value()
        guest = page.browser_.new_context()
        guest_page = guest.new_page()
        guest_page.goto(invite_url)
        guest_page.get_by_label("Password", exact=True).fill("a-long-enough-Passw0rd")
        guest_page.get_by_label("Password again").fill("a-long-enough-Passw0rd")
        guest_page.get_by_role("button", name="Create my account and join").click()
        guest_page.wait_for_url("**/reading/")
        guest.close()
        page.reload()
        page.wait_for_selector(f"td:text-is('{name}')")
    page.get_by_role("button", name="One-time login link for reader1").click()
    link = page.get_by_role("textbox", name="Login link for reader1")
    link.wait_for()
    login_url = link.input_value()
    assert "/workspace/login/" in login_url
    shot(page, "readers")

    # 7. Reading design: crossover with washout, preview per reader, then write.
    page.get_by_role("link", name="7. Reading design").click()
    page.get_by_label("Crossover").check()
    page.get_by_label("Washout (days)").fill("14")
    page.get_by_role("button", name="Preview schedule").click()
    page.wait_for_selector(".ws-preview h3:has-text('reader1: 2 sessions')")
    assert "14 days after session 1 is finished" in page.inner_text(".ws-preview")
    assert Session.objects.filter(study=study).count() == 0
    shot(page, "schedule")
    page.get_by_role("button", name="Write schedule").click()
    page.wait_for_selector("text=4 sessions written")

    # 8. Analysis settings: a margin and direction for one item; keys set elsewhere are kept.
    from readerstudy.studies import services

    services.study_update(study=study, analysis_settings={"report": {"title": "Pilot"}})
    page.get_by_role("link", name="8. Analysis settings").click()
    page.get_by_label("Unit of analysis").select_option("reader")
    page.get_by_label("Margin for overall_quality").fill("-0.4")
    page.get_by_label("Direction for overall_quality").select_option("greater")
    page.get_by_role("button", name="Save analysis settings").click()
    page.wait_for_selector(".ws-status:text-is('Saved.')")
    study.refresh_from_db()
    assert study.analysis_settings["report"] == {"title": "Pilot"}
    assert study.analysis_settings["unit"] == "reader"
    assert study.analysis_settings["items"] == {"overall_quality": {"margin": -0.4, "direction": "greater"}}
    page.reload()
    assert page.get_by_label("Margin for overall_quality").input_value() == "-0.4"
    shot(page, "analysis")

    # Check and publish: the checklist links each warning to its step.
    page.get_by_role("link", name="9. Check and publish").click()
    page.get_by_role("button", name="Publish the study").wait_for()  # the step has loaded (count() does not wait)
    # Nothing left to fix; any warning still listed links to its own setup step. (The old check,
    # a link named "Analysis settings" anywhere, was always met by the step navigation.)
    problems = page.locator("ul.ws-checklist li")
    assert page.locator("ul.ws-checklist li.ws-error").count() == 0
    if problems.count() == 0:
        assert "Everything is in place." in page.inner_text(".ws-step")
    for i in range(problems.count()):
        assert f"/workspace/studies/{study.pk}/setup/" in problems.nth(i).get_by_role("link").get_attribute("href")
    shot(page, "publish")
    page.get_by_role("button", name="Publish the study").click()
    page.wait_for_url("**/dashboard/")
    study.refresh_from_db()
    assert study.status == "published"
    assert "reader1" in page.inner_text("#progress") and "reader2" in page.inner_text("#progress")

    # The reader's one-time link signs them in to their worklist, once.
    reader_context = page.browser_.new_context()
    reader_page = reader_context.new_page()
    reader_page.goto(login_url)
    reader_page.get_by_role("button", name="Sign in and open my worklist").click()
    reader_page.wait_for_url("**/reading/")
    reader_context.close()

    # Both readers read their first session (through the reading service; the reading page has
    # its own browser tests), so the exports and the report have answers.
    for session in Session.objects.filter(study=study, index=0):
        submit_all(session, session.reader)
    page.reload()
    assert "2 / 2" in page.inner_text("#progress")

    # Dashboard action: override an opening with a reason (audited).
    page.get_by_label("Reason for the override of reader2 session 2").fill("holiday")
    page.get_by_label("New opening of reader2 session 2 (UTC)").fill("2030-01-02T08:00")
    page.get_by_label("Reason for the override of reader2 session 2").press("Enter")
    page.wait_for_selector("#progress td:has-text('2030-01-02 08:00')")
    assert AuditEvent.objects.filter(study=study, reason="holiday").exists()
    shot(page, "dashboard")

    # Reopen a submitted read for revision, with a reason (audited); the reader's session is open again.
    page.get_by_label("Reason to reopen read 1 of reader1").fill("wrong level marked")
    page.get_by_label("Reason to reopen read 1 of reader1").press("Enter")
    page.wait_for_selector("#progress td:has-text('1 / 2')")
    assert AuditEvent.objects.filter(study=study, reason="wrong level marked", object_type="reading.read").exists()
    submit_all(Session.objects.get(study=study, reader__username="reader1", index=0), User.objects.get(username="reader1"))

    # Closing: lock, then the exports and the unblinding key.
    page.get_by_role("link", name="Close and export").click()
    page.get_by_label("Reason (audited)").fill("reading complete")
    page.get_by_role("button", name="Lock the study").click()
    page.wait_for_selector("text=The study is locked")
    for name, suffix in (("CSV", ".csv"), ("Excel (XLSX)", ".xlsx"), ("Parquet", ".parquet")):
        with page.expect_download() as info:
            page.get_by_role("link", name=name, exact=True).click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        assert path.suffix == suffix and path.stat().st_size > 0
        if suffix == ".csv":
            assert len(path.read_text().splitlines()) > 1  # a header and the answers
    page.get_by_role("button", name="Build the report").click()
    page.wait_for_selector("#report .ws-downloads a", timeout=180_000)
    with page.expect_download() as info:
        page.get_by_role("link", name="Report (PDF)").click()
    assert info.value.suggested_filename.endswith(".pdf")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download it (CSV)").click()
    key_path = tmp_path / "key.csv"
    info.value.save_as(key_path)
    assert "Standard" in key_path.read_text()
    page.get_by_role("button", name="Show the unblinding key").click()
    page.wait_for_selector(".ws-key table td:text-is('Fast')")
    shot(page, "close")
    assert AuditEvent.objects.filter(study=study, object_type="studies.unblinding_key").count() == 2


def test_bad_zip_lists_problems_per_file_and_phantom_generation_shows_progress(page, live_server, make_user, tmp_path):
    from readerstudy.studies import services

    coordinator = make_user("coord", password=PASSWORD)
    study = services.study_create(name="Phantom study", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T1")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("P1/S1/IM_0001.dcm", b"not a dicom file")
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("case,sequence,arm,path\nC001,SAG T1,Standard,P1/S1\n")

    url = live_server.url
    page.goto(f"{url}/accounts/login/?next=/workspace/studies/{study.pk}/setup/cases/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/setup/cases/")
    assert "No cases yet" in page.inner_text("#cases")

    page.set_input_files("#f-archive", str(bad))
    page.set_input_files("#f-mapping", str(mapping))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_selector("#import .ws-file-errors li")
    assert "IM_0001.dcm" in page.inner_text("#import .ws-file-errors")
    assert Series.objects.filter(case__study=study).count() == 0
    shot(page, "import-errors")

    page.get_by_label("Cases").fill("1")
    page.get_by_label("Matrix (px; blank: full size, 96 for a quick try)").fill("64")
    page.get_by_label("Slices").fill("2")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#cases table.ws-grid", timeout=120_000)
    assert Series.objects.filter(case__study=study).count() == 2
    assert "succeeded" in page.inner_text("#recon")
    shot(page, "recon")


def test_checklist_items_offer_not_assessable_and_only_checklist_items_send_it(page, live_server, make_user):
    """The questionnaire step's "not assessable" box writes the checklist item's `na` anchor (the
    reading page then offers it in the findings grid), unticking removes it, and a new item gets it
    only when it is a checklist item."""
    from readerstudy.studies import services
    from readerstudy.studies.models import Item

    coordinator = make_user("coord", password=PASSWORD)
    study = services.study_create(name="NA study", created_by=coordinator)
    item = services.item_create(study=study, key="stenosis", label="Spinal stenosis", kind="checklist",
                                levels=["L3-L4", "L4-L5"], anchors={"0": "Absent", "1": "Present"})
    url = live_server.url
    page.goto(f"{url}/accounts/login/?next=/workspace/studies/{study.pk}/setup/questionnaire/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/setup/questionnaire/$"))

    details = page.locator("#item-stenosis")
    details.locator("summary").click()
    box = details.locator("input[name='anchors.na']")
    assert not box.is_checked()
    box.check()
    details.locator("button[type=submit]", has_text="Save item").click()
    details.locator(".ws-status", has_text="Saved.").wait_for()
    item.refresh_from_db()
    assert item.anchors == {"0": "Absent", "1": "Present", "na": "Not assessable"}

    page.reload()
    details = page.locator("#item-stenosis")
    details.locator("summary").click()
    box = details.locator("input[name='anchors.na']")
    assert box.is_checked()
    # The anchors text shows the points only; the box is the one place for "not assessable".
    assert "na =" not in details.locator("textarea[name=anchors]").input_value()
    box.uncheck()
    details.locator("button[type=submit]", has_text="Save item").click()
    details.locator(".ws-status", has_text="Saved.").wait_for()
    item.refresh_from_db()
    assert item.anchors == {"0": "Absent", "1": "Present"}

    # A new item: the box counts only for a checklist item (a Likert item with it ticked is saved
    # without it, instead of failing on an unexpected anchor point).
    add = page.locator("form[data-api$='/items/'][data-method=POST]")
    for key, kind, extra in (("herniation", "checklist", {"levels": "L4-L5, L5-S1"}),
                             ("snr", "likert", {"scale_min": "1", "scale_max": "2", "anchors": "1 = Low\n2 = High"})):
        add.locator("input[name=key]").fill(key)
        add.locator("select[name=kind]").select_option(kind)
        add.locator("input[name=label]").fill(key.title())
        for name, value in extra.items():
            add.locator(f"[name={name}]").fill(value)
        add.locator("input[name='anchors.na']").check()
        with page.expect_navigation():
            add.locator("button[type=submit]").click()
        add = page.locator("form[data-api$='/items/'][data-method=POST]")
    assert Item.objects.get(study=study, key="herniation").anchors == {"na": "Not assessable"}
    assert Item.objects.get(study=study, key="snr").anchors == {"1": "Low", "2": "High"}
