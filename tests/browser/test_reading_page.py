"""The reading page in Debian's chromium against the live Django server: real fixture DICOM
imported and blinded through the real import, a crossover schedule, a reader who logs in, reads
and scores by keyboard, submits, and finds the answers saved exactly once."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.db import connections

from fixtures.make_fixture_dicom import make_fixture_dicom
from readerstudy.reading.models import Answer, Read, Session
from readerstudy.reading.scheduler import CrossoverDesign, IndependentDesign, SideBySideDesign
from readerstudy.reading.services import schedule_materialize
from readerstudy.studies import services
from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import AuditEvent, Membership
from tests.browser.conftest import CHROMIUM, launch_chromium
from tests.browser.viewer_harness import DIGEST_JS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "reading-page-test-2026"
GRID_ITEMS = ("spinal_stenosis", "disc_herniation")

VIEWER = "#rd-viewer-left"


@pytest.fixture
def reading_study(tmp_path, make_user):
    coordinator = make_user("coord")
    reader = make_user("reader1", password=PASSWORD)
    fixture = make_fixture_dicom(tmp_path / "dicom", cases=2, sequences=("SAG T2 FS",), slices=8, size=64)
    study = services.study_create(name="Browser study", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T2 FS")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    services.questionnaire_apply_template(study=study, template="seed000")
    for item in services.questionnaire_templates()["seed001"]["items"]:
        if item["key"] in GRID_ITEMS:
            services.item_create(study=study, **item)
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    import_dicom(study=study, source=fixture.root, mapping=fixture.mapping_csv, actor=coordinator)
    schedule_materialize(study=study, design=CrossoverDesign(washout_days=28), actor=coordinator)
    services.study_set_status(study=study, status="published")
    return {"study": study, "reader": reader, "coordinator": coordinator}


@pytest.fixture
def page(monkeypatch, live_server):
    """A page of a browser of its own: Playwright's sync API keeps an event loop running in this
    thread, and Django's ORM refuses to run beside one unless told it is safe (the test's own
    queries run between browser calls, never inside them)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server answers each request in a new thread; a persistent connection (PostgreSQL's
    # DB_CONN_MAX_AGE) would outlive it and keep the test database busy at teardown.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(45_000)  # generous: CI machines are shared and WebGL is in software
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        context.close()
        browser.close()
        # The test's queries ran beside Playwright's event loop, on a connection of their own that
        # the database teardown would not close.
        connections.close_all()
    # Requests still in flight when the page closed (image prefetch) finish, and close their
    # connections, before CONN_MAX_AGE goes back.
    time.sleep(1.0)
    assert not errors, errors


def digest(page):
    return page.evaluate(DIGEST_JS, VIEWER)


def overlay(page):
    return page.inner_text(f"{VIEWER} .rv-overlay")


def assert_fills_window(page):
    """The reading page is exactly the window's height: nothing to scroll, nothing scrolled."""
    sizes = page.evaluate("() => [document.documentElement.scrollHeight, window.innerHeight, window.scrollY]")
    assert sizes[0] == sizes[1] and sizes[2] == 0, sizes


def wait_for_image(page):
    page.wait_for_selector("body[data-viewer-ready='1']")
    page.wait_for_function(f"() => ({DIGEST_JS})('{VIEWER}')?.levels > 5")


def test_reader_reads_and_scores_by_keyboard_and_the_answers_are_stored_once(page, live_server, reading_study):
    reader = reading_study["reader"]
    first_session, second_session = Session.objects.filter(reader=reader).order_by("index")
    reads = list(first_session.reads.order_by("position"))
    assert len(reads) == 2

    # Log in; the worklist shows the open session and the later one locked until its washout.
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "reader1")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    # Logged in: away from the login page (the home page sends a reader on to the worklist).
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}/reading/")
    assert "open" in page.inner_text(".rd-state-open")
    assert "washout" in page.inner_text(".rd-state-locked")
    page.click("text=Start reading")
    page.wait_for_url(re.compile(rf"/reading/reads/{reads[0].public_id}/$"))

    # Nothing on the page names the arm, the case or the sequence.
    html = page.content()
    for word in ("Standard", "Fast", "C001", "C002", "Browser study"):
        assert word not in html, word
    assert "Read 1 of 2" in page.inner_text(".rd-bar")

    # The image renders; the wheel changes the slice.
    wait_for_image(page)
    first = digest(page)
    assert overlay(page) == "4/8"  # opens mid-stack
    box = page.locator(VIEWER).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    page.wait_for_function(f"() => document.querySelector('{VIEWER} .rv-overlay').textContent === '5/8'")
    page.wait_for_function(f"(old) => ({DIGEST_JS})('{VIEWER}')?.hash !== old", arg=first["hash"])

    # The whole form by keyboard: from the image, Tab to each item and type its score.
    page.focus(VIEWER)
    for key in ("4", "3", "4", "5", "1"):  # four Likert items, then artifacts: yes
        page.keyboard.press("Tab")
        page.keyboard.press(key)
    page.keyboard.press("Tab")  # into the findings grid (first cell: T12-L1, spinal stenosis)
    assert page.evaluate("() => document.activeElement.dataset.level") == "T12-L1"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # L4-L5
    page.keyboard.press("1")
    page.keyboard.press("ArrowRight")  # disc herniation at L4-L5
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # the grid's "mark the unanswered cells absent": an explicit answer
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # the comment
    page.keyboard.type("Keyboard only")
    page.wait_for_function("() => document.getElementById('rd-save').dataset.state === 'saved'")
    assert page.is_checked("input[name='item-artifacts'][value='1']")

    # Submit by key; the next read comes up.
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(rf"/reading/reads/{reads[1].public_id}/$"))
    assert "Read 2 of 2" in page.inner_text(".rd-bar") and "1 of 2 done" in page.inner_text(".rd-bar")
    wait_for_image(page)

    # Exactly once in the database, as typed.
    stored = {(a.item.key, a.level): a.value for a in Answer.objects.filter(read=reads[0]).select_related("item")}
    assert len(stored) == 5 + 2 * 6
    assert [stored[(k, "")] for k in ("apparent_snr", "anatomy_discernment", "diagnostic_confidence",
                                        "overall_quality", "artifacts")] == [4, 3, 4, 5, 1]
    present = sorted(key for key, value in stored.items() if key[1] and value == 1)
    assert present == [("disc_herniation", "L4-L5"), ("spinal_stenosis", "L4-L5")]
    read = Read.objects.get(pk=reads[0].pk)
    assert read.submitted_at and read.submission_id and read.comment == "Keyboard only" and read.started_at
    saves = AuditEvent.objects.filter(object_type="reading.answers", object_id=str(read.pk))
    created = {key for e in saves for key, entry in e.changes["answers"].items() if entry["before"] is None}
    assert len(created) == 17

    # A draft on the second read survives a reload (V puts the focus on the image).
    page.keyboard.press("v")
    assert page.evaluate("() => document.activeElement.id") == "rd-viewer-left"
    page.keyboard.press("Tab")
    page.keyboard.press("2")
    page.wait_for_function("() => document.getElementById('rd-save').dataset.state === 'saved'")
    page.reload()
    assert page.is_checked("input[name='item-apparent_snr'][value='2']")

    # The submitted read, reloaded, shows what was saved, locked.
    page.goto(f"{live_server.url}/reading/reads/{reads[0].public_id}/")
    assert "This read is submitted" in page.inner_text(".rd-form")
    assert page.is_checked("input[name='item-overall_quality'][value='5']")
    assert page.get_attribute(".rd-cell[data-item='spinal_stenosis'][data-level='L4-L5']", "aria-pressed") == "true"
    assert page.input_value("#rd-comment") == "Keyboard only"
    assert page.is_disabled("#rd-submit")
    assert Answer.objects.filter(read=reads[0]).count() == 17


@pytest.fixture
def pair_study(tmp_path, make_user):
    coordinator = make_user("coord")
    reader = make_user("reader1", password=PASSWORD)
    fixture = make_fixture_dicom(tmp_path / "dicom", cases=1, sequences=("SAG T2 FS",), slices=8, size=64)
    study = services.study_create(name="Pair study", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T2 FS")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    services.questionnaire_apply_template(study=study, template="seed003")
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    import_dicom(study=study, source=fixture.root, mapping=fixture.mapping_csv, actor=coordinator)
    schedule_materialize(study=study, design=SideBySideDesign(pairs=[("Standard", "Fast")]), actor=coordinator)
    services.study_set_status(study=study, status="published")
    return {"study": study, "reader": reader}


def test_side_by_side_pair_scrolls_in_sync_and_preference_is_stored_corrected(page, live_server, pair_study):
    read = Read.objects.select_related("series__arm").get(session__reader=pair_study["reader"])
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "reader1")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    # Logged in: away from the login page (the home page sends a reader on to the worklist).
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    html = page.content()
    for word in ("Standard", "Fast", "C001", "Pair study"):
        assert word not in html, word

    # Both sides render and follow each other's slice.
    wait_for_image(page)
    page.wait_for_function(f"() => ({DIGEST_JS})('#rd-viewer-right')?.levels > 5")
    # The pair layout fills the window exactly: no page scroll, two panes of one size.
    assert_fills_window(page)
    panes = [page.locator(sel).bounding_box() for sel in (VIEWER, "#rd-viewer-right")]
    assert panes[0]["height"] > 200 and panes[0]["width"] > 200
    assert (panes[0]["width"], panes[0]["height"]) == pytest.approx((panes[1]["width"], panes[1]["height"]), abs=1)
    box = page.locator(VIEWER).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    page.wait_for_function("() => document.querySelector('#rd-viewer-right .rv-overlay').textContent === '5/8'")
    assert overlay(page) == "5/8"

    # V then Tab lands on the first item, not on the right-hand image (which would shift every
    # answer of a keyboard run by one item).
    page.keyboard.press("v")
    page.keyboard.press("Tab")
    first_item = page.evaluate("() => document.querySelector('#rd-form .rd-item').dataset.item")
    assert page.evaluate("() => document.activeElement.closest('.rd-item')?.dataset.item") == first_item
    page.keyboard.press("Shift+Tab")
    # Eight preferences and the integrity item by keyboard, from the right-hand image.
    page.focus("#rd-viewer-right")
    for key in ["2"] * 8 + ["0"]:
        page.keyboard.press("Tab")
        page.keyboard.press(key)
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{live_server.url}/reading/?finished=1")  # the only read: the session is done
    assert "done" in page.inner_text(".rd-worklist")
    assert "Session 1 is finished" in page.inner_text("main")

    left_is_reference = read.series.arm.is_reference
    stored = Answer.objects.filter(read=read, item__kind="preference")
    assert stored.count() == 8
    for answer in stored:
        # 2 = "left mildly better": from the reference's point of view 2 if it was on the left, else 4.
        assert answer.payload == {"raw": 2, "first_side": "left" if left_is_reference else "right"}
        assert answer.value == (2 if left_is_reference else 4)


def test_an_ellipse_drawn_on_the_image_fills_the_roi_item(page, live_server, tmp_path, make_user):
    coordinator = make_user("coord")
    reader = make_user("reader1", password=PASSWORD)
    fixture = make_fixture_dicom(tmp_path / "dicom", cases=1, sequences=("SAG T2 FS",), slices=8, size=64)
    study = services.study_create(name="ROI study", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T2 FS")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    services.item_create(study=study, key="roi_cord", label="Signal in the cord", kind="roi", category="Measurements")
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    import_dicom(study=study, source=fixture.root, mapping=fixture.mapping_csv, actor=coordinator)
    schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator)
    services.study_set_status(study=study, status="published")
    read = Read.objects.filter(session__reader=reader).order_by("position").first()

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "reader1")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    # Logged in: away from the login page (the home page sends a reader on to the worklist).
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    wait_for_image(page)
    page.keyboard.press("e")  # the ellipse ROI tool
    assert page.get_attribute(".rd-tools [data-tool='roi']", "aria-pressed") == "true"
    box = page.locator(VIEWER).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 40, cy - 30)
    page.mouse.down()
    for i in range(1, 7):
        page.mouse.move(cx - 40 + 80 * i / 6, cy - 30 + 60 * i / 6)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('[data-roi=\"roi_cord\"]').textContent.startsWith('mean')")
    page.wait_for_function("() => document.getElementById('rd-save').dataset.state === 'saved'")
    answer = Answer.objects.get(read=read, item__key="roi_cord")
    payload = answer.payload
    assert answer.value == payload["mean"] > 0 and payload["sd"] > 0
    assert payload["slice"] == 4 and payload["side"] == "left" and payload["area_mm2"] > 0


def login(page, live_server, username="reader1"):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    # Logged in: away from the login page (the home page sends a reader on to the worklist).
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_arrow_keys_after_clicking_an_answer_move_the_slice_and_never_the_answer(page, live_server, reading_study):
    read = Read.objects.filter(session__reader=reading_study["reader"], session__index=0).order_by("position").first()
    login(page, live_server)
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    wait_for_image(page)
    # The reading overlay: the (neutral) sequence name, orientation letters computed here from the
    # blinded geometry, slice k/N with thickness, and the window.
    series = read.series
    row, col = series.image_orientation[:3], series.image_orientation[3:]

    def letter(v):  # the patient direction a unit vector points to (LPS: +x left, +y posterior, +z head)
        axis = max(range(3), key=lambda i: abs(v[i]))
        return ("R", "L") [v[axis] > 0] if axis == 0 else ("A", "P")[v[axis] > 0] if axis == 1 else ("F", "H")[v[axis] > 0]

    expected = {"right": letter(row), "left": letter([-x for x in row]),
                "bottom": letter(col), "top": letter([-x for x in col])}
    shown = {edge: page.inner_text(f"{VIEWER} .rv-orient-{edge}") for edge in expected}
    assert shown == expected, (shown, expected)
    assert page.inner_text(f"{VIEWER} .rv-label") == "SAG T2 FS"
    assert re.fullmatch(rf"Slice 4/8 · pos -?\d+\.\d mm · thk {series.slice_thickness_mm:.1f} mm",
                        page.inner_text(f"{VIEWER} .rv-slicepos"))
    assert re.fullmatch(r"W \d+ L -?\d+", page.inner_text(f"{VIEWER} .rv-window"))

    # The image has the keyboard on load: slice keys work without a click.
    assert page.evaluate("() => document.activeElement.id") == "rd-viewer-left"
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => document.querySelector('{VIEWER} .rv-overlay').textContent.startsWith('5/8')")

    # Click a Likert answer, then scroll with the keys: the slice moves, the answer stays.
    page.click("input[name='item-overall_quality'][value='3']")
    page.wait_for_function("() => document.getElementById('rd-save').dataset.state === 'saved'")
    assert "Overall image quality — → 3" in page.inner_text("#rd-save")
    for key, expected in (("ArrowDown", "6/8"), ("ArrowDown", "7/8"), ("ArrowUp", "6/8"), ("PageDown", "7/8"),
                          ("End", "8/8"), ("Home", "1/8")):
        page.keyboard.press(key)
        page.wait_for_function(
            f"(want) => document.querySelector('{VIEWER} .rv-overlay').textContent.startsWith(want)", arg=expected)
    assert page.is_checked("input[name='item-overall_quality'][value='3']")
    assert page.evaluate("() => document.activeElement.value") == "3"  # the focus stayed on the answer
    page.wait_for_timeout(800)  # an autosave would have fired by now
    assert Answer.objects.get(read=read, item__key="overall_quality").value == 3

    # A changed answer is named in the save note, with what it was.
    page.keyboard.press("5")
    page.wait_for_function("() => document.getElementById('rd-save').textContent.includes('3 → 5')")
    assert "Overall image quality 3 → 5" in page.inner_text("#rd-save")
    assert Answer.objects.get(read=read, item__key="overall_quality").value == 5

    # Form keys never reach the viewer: digits typed on the image change neither slice nor answer.
    page.keyboard.press("v")
    page.keyboard.press("2")
    assert page.inner_text(f"{VIEWER} .rv-overlay").startswith("1/8")
    assert page.is_checked("input[name='item-overall_quality'][value='5']")

    # The page is exactly the window's height and never scrolls.
    sizes = page.evaluate("() => [document.documentElement.scrollHeight, window.innerHeight, window.scrollY]")
    assert sizes[0] == sizes[1] and sizes[2] == 0, sizes

    # The coordinator locks the study while the reader works: the next autosave says so, plainly,
    # and the worklist carries the locked-study banner (the study does not just vanish).
    services.study_set_status(study=reading_study["study"], status="locked", reason="analysis")
    page.click("input[name='item-apparent_snr'][value='2']")
    page.wait_for_selector("#rd-closed:not([hidden])")
    assert "Reading is closed: the study is locked; reading is closed" in page.inner_text("#rd-closed")
    assert page.is_disabled("#rd-submit")
    page.click("#rd-closed a")
    page.wait_for_url(f"{live_server.url}/reading/")
    assert "The study 'Browser study' has been locked by its coordinator" in page.inner_text(".rd-notices")
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    assert "This read is closed to you" in page.inner_text("main")


def test_an_untouched_grid_blocks_submit_and_names_the_cells_next_to_the_button(page, live_server, reading_study):
    read = Read.objects.filter(session__reader=reading_study["reader"], session__index=0).order_by("position").first()
    login(page, live_server)
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    wait_for_image(page)
    # Every cell starts unanswered: nothing is shown (or stored) as absent.
    states = page.eval_on_selector_all(".rd-cell", "cells => cells.map(c => c.dataset.state)")
    assert len(states) == 12 and set(states) == {"unanswered"}
    # All series-level items answered, the grid untouched: submit is refused and says which cells.
    for key, value in (("apparent_snr", 4), ("anatomy_discernment", 4), ("diagnostic_confidence", 4),
                       ("overall_quality", 4), ("artifacts", 0)):
        page.click(f"input[name='item-{key}'][value='{value}']")
    page.click("#rd-submit")
    missing = page.inner_text("#rd-missing")
    assert "Still to answer (12)" in missing
    assert "Spinal canal stenosis (T12-L1, L1-L2, L2-L3, L3-L4, L4-L5, L5-S1)" in missing
    assert "Disc herniation (T12-L1" in missing
    assert "Overall" not in missing
    # The list sits beside the button at the top of the form, in view.
    button, box = page.locator("#rd-submit").bounding_box(), page.locator("#rd-missing").bounding_box()
    assert 0 <= box["y"] - (button["y"] + button["height"]) < 40
    assert page.evaluate("() => document.activeElement.dataset.state") == "unanswered"
    assert page.url.endswith(f"/reading/reads/{read.public_id}/")
    read.refresh_from_db()
    assert read.submitted_at is None
    assert not Answer.objects.filter(read=read, item__key__in=GRID_ITEMS).exists()

    # The server refuses it too, naming the cells (a page that skipped its own check).
    deadline = time.monotonic() + 10  # the five answers clicked above reach the server by autosave
    while Answer.objects.filter(read=read).count() < 5 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    status, body = page.evaluate(
        """async (url) => { const r = await fetch(url, {method: 'POST', credentials: 'same-origin',
             headers: {'Content-Type': 'application/json',
                       'X-CSRFToken': document.querySelector('input[name=csrfmiddlewaretoken]').value},
             body: JSON.stringify({submission_id: 'browser-sub-1', answers: []})});
           return [r.status, await r.json()]; }""",
        f"/api/reader/reads/{read.public_id}/submit/",
    )
    assert status == 400 and {m["item"] for m in body["missing"]} == set(GRID_ITEMS)

    # One cell present, the rest marked absent explicitly: the list empties and submit goes through.
    page.click(".rd-cell[data-item='disc_herniation'][data-level='L4-L5']")
    assert "(11)" in page.inner_text("#rd-missing")
    page.click(".rd-rest-absent >> nth=0")
    page.wait_for_function("() => document.getElementById('rd-missing').hidden")
    following = Read.objects.get(session=read.session, position=1)
    page.click("#rd-submit")
    page.wait_for_url(re.compile(rf"/reading/reads/{following.public_id}/$"))
    stored = {(a.item.key, a.level): a.value for a in Answer.objects.filter(read=read, item__key__in=GRID_ITEMS)
              .select_related("item")}
    assert len(stored) == 12 and stored[("disc_herniation", "L4-L5")] == 1 and sum(stored.values()) == 1


def _add_axial_sequence(fixture, sequence="AX T2", source="SAG T1"):
    """Write an axial series per arm from the ``source`` sagittal files (same pixels, axial geometry:
    rows along +x, columns along +y, slices stepping down in z) and list it in the mapping CSV.
    Returns {original SOP Instance UID: slice z in mm}."""
    import pydicom
    from pydicom.uid import generate_uid

    z_of = {}
    rows = []
    for series in fixture.series:
        if series.sequence != source:
            continue
        folder = Path(fixture.root) / (series.path + "_AX")
        folder.mkdir(parents=True, exist_ok=True)
        series_uid = generate_uid()
        for path in series.files:
            ds = pydicom.dcmread(path)
            k = int(ds.InstanceNumber) - 1
            spacing = float(ds.PixelSpacing[0])
            z = 128.0 - (16 + 4 * k) * spacing
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            ds.ImagePositionPatient = [-32 * spacing, -128.0, z]
            ds.SliceLocation = z
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = int(ds.SeriesNumber) + 10
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(folder / path.name, enforce_file_format=True)
            z_of[str(ds.SOPInstanceUID)] = z
        rows.append(f"{series.case},{sequence},{series.arm},{series.path}_AX")
    with open(fixture.mapping_csv, "a") as mapping:
        mapping.write("\n".join(rows) + "\n")
    return z_of


def _line_world(page, selector):
    """The cross-reference line(s) drawn on a pane, as world points (mm) of their two ends."""
    return page.evaluate(
        """(sel) => {
          const el = document.querySelector(sel);
          const viewer = window.readingPage.viewer.viewers.find((v) => v.element === el);
          return Array.from(el.querySelectorAll('svg line')).map((line) => {
            const p = ['x1', 'y1', 'x2', 'y2'].map((a) => Number(line.getAttribute(a)));
            return [viewer._viewport.canvasToWorld([p[0], p[1]]), viewer._viewport.canvasToWorld([p[2], p[3]])];
          });
        }""",
        selector,
    )


def _settled_lines(page, selector, ok, timeout_s=3.0):
    """The pane's lines once they satisfy ``ok`` (a line follows its source one frame later), or as
    they are at the timeout (then the caller's assertion reports them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = _line_world(page, selector)
        if (lines and all(ok(line) for line in lines)) or time.monotonic() > deadline:
            return lines
        page.wait_for_timeout(50)


def test_a_case_read_shows_every_sequence_with_cross_reference_lines_at_the_right_place(page, live_server, tmp_path,
                                                                                          make_user):
    coordinator = make_user("coord")
    reader = make_user("reader1", password=PASSWORD)
    fixture = make_fixture_dicom(tmp_path / "dicom", cases=1, sequences=("SAG T2 FS", "SAG T1"), slices=8, size=64)
    z_of = _add_axial_sequence(fixture)
    study = services.study_create(name="Case study", created_by=coordinator)
    for name in ("SAG T2 FS", "SAG T1", "AX T2"):
        services.sequence_create(study=study, name=name)
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    services.questionnaire_apply_template(study=study, template="seed000")
    for item in services.questionnaire_templates()["seed001"]["items"]:
        if item["key"] in GRID_ITEMS:
            services.item_create(study=study, **item)
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    import_dicom(study=study, source=fixture.root, mapping=fixture.mapping_csv, actor=coordinator)
    # Per-level items: case reads by default; the protocol's pane order is the design's.
    schedule_materialize(study=study, design={"kind": "crossover", "washout_days": 28,
                                              "case_layout": ["SAG T2 FS", "SAG T1", "AX T2"]}, actor=coordinator)
    services.study_set_status(study=study, status="published")
    read = Read.objects.get(session__reader=reader, session__index=0)
    panes = [p.series for p in read.protocol_series.select_related("series__sequence").order_by("position")]
    assert [s.sequence.name for s in panes] == ["SAG T2 FS", "SAG T1", "AX T2"]

    login(page, live_server)
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    html = page.content()
    for word in ("Standard", "Fast", "C001", "Case study"):
        assert word not in html, word
    page.wait_for_selector("body[data-viewer-ready='1']")
    for i in range(3):
        page.wait_for_function(f"() => ({DIGEST_JS})('.rd-pane[data-pane=\"{i}\"]')?.levels > 5")
    labels = page.eval_on_selector_all(".rd-pane .rv-label", "els => els.map(e => e.textContent)")
    assert labels == ["SAG T2 FS", "SAG T1", "AX T2"]
    # The case layout fills the window exactly, each pane a real size.
    assert_fills_window(page)
    for i in range(3):
        pane = page.locator(f'.rd-pane[data-pane="{i}"]').bounding_box()
        assert pane["width"] > 150 and pane["height"] > 150, (i, pane)

    # F puts the pane with the keyboard full screen, its image redrawn at the screen's size; F again
    # brings it back into the layout at its old size.
    pane = '.rd-pane[data-pane="2"]'
    before = page.evaluate(f"() => document.querySelector('{pane} canvas').getBoundingClientRect().toJSON()")
    page.click(pane)
    page.keyboard.press("f")
    page.wait_for_function(f"() => document.fullscreenElement === document.querySelector('{pane}')")
    page.wait_for_function(f"() => document.querySelector('{pane} canvas').getBoundingClientRect().width > {before['width']} + 100")
    full = page.evaluate(f"() => [document.querySelector('{pane} canvas').getBoundingClientRect().toJSON(), window.innerWidth, window.innerHeight]")
    assert full[0]["height"] == pytest.approx(full[2], abs=2), full
    page.wait_for_function(f"() => ({DIGEST_JS})('{pane}')?.levels > 5")  # still an image, not a blank canvas
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null")
    page.wait_for_function(f"() => Math.abs(document.querySelector('{pane} canvas').getBoundingClientRect().width - {before['width']}) < 2")
    assert_fills_window(page)

    # Series-level items are asked per sequence inside the case read; the grid once per case.
    blocks = page.eval_on_selector_all(".rd-item[data-item='overall_quality'] .rd-seq", "els => els.map(e => e.textContent)")
    assert blocks == ["· SAG T2 FS", "· SAG T1", "· AX T2"]
    assert page.locator(".rd-grid").count() == 1
    page.click("input[name='item-overall_quality@3'][value='2']")
    page.wait_for_function("() => document.getElementById('rd-save').textContent.includes('Overall image quality AX T2 — → 2')")
    assert Answer.objects.get(read=read, item__key="overall_quality").level == "@3"

    # The axial pane is the source: on the sagittals, its slice is a line at the slice's height.
    axial = '.rd-pane[data-pane="2"]'
    page.click(axial)
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => document.querySelector('{axial} .rv-overlay').textContent === '5/8'")
    index = page.evaluate("() => window.readingPage.viewer.viewers[2].getIndex()")
    instance = panes[2].instances.get(index=index)
    expected_z = z_of[instance.original_sop_instance_uid]
    spacing = panes[2].pixel_spacing_mm[0]
    page.wait_for_function("() => document.querySelectorAll('.rd-pane[data-pane=\"0\"] svg line').length > 0")
    for pane in ('.rd-pane[data-pane="0"]', '.rd-pane[data-pane="1"]'):
        lines = _settled_lines(page, pane, lambda ab: abs(ab[0][2] - expected_z) < spacing / 2)
        assert len(lines) == 1, lines
        (a, b) = lines[0]
        assert a[2] == pytest.approx(expected_z, abs=spacing / 2) and b[2] == pytest.approx(expected_z, abs=spacing / 2)
        assert abs(a[1] - b[1]) > 20  # across the sagittal image (anterior–posterior)
    assert _line_world(page, axial) == []  # no line on the source pane

    # The sagittals scroll together by position (one plane); the axial stays.
    sag1 = '.rd-pane[data-pane="1"]'
    page.click(sag1)
    before = page.inner_text(f'.rd-pane[data-pane="0"] .rv-overlay')
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        f"(old) => document.querySelector('.rd-pane[data-pane=\"0\"] .rv-overlay').textContent !== old", arg=before)
    positions = page.eval_on_selector_all(".rd-pane .rv-slicepos", "els => els.map(e => e.textContent)")
    assert positions[0].split("·")[1] == positions[1].split("·")[1]  # the same position in mm
    assert page.inner_text(f"{axial} .rv-overlay") == "5/8"
    # Now a sagittal is the source: its slice is a line on the axial at its x position.
    sag_index = page.evaluate("() => window.readingPage.viewer.viewers[1].getIndex()")
    sag_instance = panes[1].instances.get(index=sag_index)
    import pydicom

    sag_file = next(p for s in fixture.series if s.sequence == "SAG T1" and s.arm == panes[1].arm.name for p in s.files
                    if str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) == sag_instance.original_sop_instance_uid)
    expected_x = float(pydicom.dcmread(sag_file, stop_before_pixels=True).ImagePositionPatient[0])
    page.wait_for_function(f"() => document.querySelectorAll('{axial} svg line').length > 0")
    (a, b), = _settled_lines(page, axial, lambda ab: abs(ab[0][0] - expected_x) < spacing / 2)
    assert a[0] == pytest.approx(expected_x, abs=spacing / 2) and b[0] == pytest.approx(expected_x, abs=spacing / 2)


def test_a_length_measured_on_the_image_answers_the_measurement_item(page, live_server, tmp_path, make_user):
    coordinator = make_user("coord")
    reader = make_user("reader1", password=PASSWORD)
    fixture = make_fixture_dicom(tmp_path / "dicom", cases=1, sequences=("SAG T2 FS",), slices=8, size=64)
    study = services.study_create(name="Measure study", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T2 FS")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    services.item_create(study=study, key="canal_mm", label="Canal diameter", kind="numeric", unit="mm",
                         category="Measurements")
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    import_dicom(study=study, source=fixture.root, mapping=fixture.mapping_csv, actor=coordinator)
    schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator)
    services.study_set_status(study=study, status="published")
    read = Read.objects.filter(session__reader=reader).order_by("position").first()

    login(page, live_server)
    page.goto(f"{live_server.url}/reading/reads/{read.public_id}/")
    wait_for_image(page)
    page.keyboard.press("l")  # the length tool, from the one key map
    assert page.get_attribute(".rd-tools [data-tool='length']", "aria-pressed") == "true"
    box = page.locator(VIEWER).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy)
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(cx - 60 + 120 * i / 8, cy)
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('input[data-item=\"canal_mm\"]').value !== ''")
    page.wait_for_function("() => document.getElementById('rd-save').textContent.includes('Canal diameter')")
    measured = page.evaluate("() => window.readingPage.viewer.getMeasurements()")[0]
    deadline = time.monotonic() + 10
    while not Answer.objects.filter(read=read, item__key="canal_mm").exists() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    answer = Answer.objects.get(read=read, item__key="canal_mm")
    assert answer.value == pytest.approx(round(measured["value"], 1))
    assert answer.value > 10
    assert answer.payload["unit"] == "mm" and answer.payload["measurement"]["kind"] == "length"
    assert answer.payload["measurement"]["slice"] == 4 and len(answer.payload["measurement"]["points"]) == 2


def test_window_presets_set_in_the_workspace_are_offered_on_the_reading_page(page, live_server, reading_study, make_user):
    """The coordinator sets the study's window presets in the workspace (questionnaire step); a
    wrong row is refused with the problem named and nothing saved; the reader's page then offers
    the presets, opens with the one marked, and P cycles through them."""
    from readerstudy.reading.selectors import viewer_settings

    study = reading_study["study"]
    coordinator = reading_study["coordinator"]
    coordinator.set_password(PASSWORD)
    coordinator.save()
    page.goto(f"{live_server.url}/accounts/login/?next=/workspace/studies/{study.pk}/setup/questionnaire/")
    page.fill("input[name=username]", coordinator.username)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r"/setup/questionnaire/$"))
    form = page.locator("#viewer-presets form")
    rows = form.locator(".ws-preset-row")
    assert rows.count() >= 3

    def fill(row, name, center, width):
        rows.nth(row).locator("[name=preset_name]").fill(name)
        rows.nth(row).locator("[name=preset_center]").fill(center)
        rows.nth(row).locator("[name=preset_width]").fill(width)

    # A width of zero is refused, the row named, and nothing is stored.
    fill(0, "Spine", "600", "0")
    form.locator("button[type=submit]").click()
    error = form.locator(".ws-errors")
    error.wait_for(state="visible")
    assert "window_width must be positive" in error.inner_text()
    assert viewer_settings(study.pk) == {"presets": [], "initial_preset": ""}

    fill(0, "Spine", "600", "1200")
    fill(1, "Bright", "300", "500")
    rows.nth(0).locator("[name=preset_initial]").check()
    with page.expect_navigation():  # saved, the page reloads with the stored presets
        form.locator("button[type=submit]").click()
    assert viewer_settings(study.pk) == {
        "presets": [{"name": "Spine", "window_center": 600.0, "window_width": 1200.0},
                    {"name": "Bright", "window_center": 300.0, "window_width": 500.0}],
        "initial_preset": "Spine",
    }
    rows = page.locator("#viewer-presets .ws-preset-row")
    assert rows.nth(1).locator("[name=preset_name]").input_value() == "Bright"
    assert rows.nth(0).locator("[name=preset_initial]").is_checked()

    # The reader's page offers them and opens with "Spine".
    page.context.clear_cookies()
    login(page, live_server)
    page.goto(f"{live_server.url}/reading/")
    page.click("text=Start reading")
    page.wait_for_url(re.compile(r"/reading/reads/[^/]+/$"))
    wait_for_image(page)
    options = page.locator("#rd-preset option").all_inner_texts()
    assert [o for o in options if o in ("Spine", "Bright")] == ["Spine", "Bright"]
    assert page.locator("#rd-preset").input_value() == "Spine"
    s = page.evaluate("() => window.readingPage.viewer.getState()")
    assert (s["preset"], s["windowCenter"], s["windowWidth"]) == ("Spine", 600, 1200)
    page.locator(VIEWER).click()
    page.keyboard.press("p")  # the next preset
    page.wait_for_function("() => window.readingPage.viewer.getState().preset === 'Bright'")
    assert page.locator("#rd-preset").input_value() == "Bright"
    s = page.evaluate("() => window.readingPage.viewer.getState()")
    assert (s["windowCenter"], s["windowWidth"]) == (300, 500)
