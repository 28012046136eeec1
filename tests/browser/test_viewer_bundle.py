"""The committed viewer bundle (static/viewer/) in a real browser, without Django.

A local server plays Django's part (static files, blinded instances at /wado/instances/<id>); the
page is tests/browser/assets/viewer_test_page.html; the series is generated here with pydicom.
"""

from __future__ import annotations

import math

import pytest

from pydicom.uid import RLELossless

from tests.browser.viewer_harness import BLOCK_MEAN, BLOCK_SD, BUNDLE_DIR, DIGEST_JS, ViewerServer, make_series

pytestmark = pytest.mark.browser

SLICES = 10
PRESETS = [
    {"name": "Soft", "windowCenter": 900, "windowWidth": 600},
    {"name": "Wide", "windowCenter": 1200, "windowWidth": 3000},
]


@pytest.fixture(scope="module")
def viewer_server():
    if not (BUNDLE_DIR / "reader-viewer.js").is_file():
        pytest.skip("static/viewer/ is not built (see frontend/README.md)")
    server = ViewerServer()
    server.instances.update(make_series("a", SLICES, 64, 64, seed=1))
    server.instances.update(make_series("b", SLICES, 64, 64, seed=2))
    # The same pixels as series "a", RLE-compressed: decoded by the loader's worker, not inline.
    server.instances.update(make_series("r", 3, 64, 64, seed=1, transfer_syntax=RLELossless))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(chromium_browser, viewer_server):
    context = chromium_browser.new_context(viewport={"width": 900, "height": 400})
    page = context.new_page()
    console_errors = page.uncaught_errors = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page.goto(f"{viewer_server.url}/viewer-test")
    page.wait_for_function("() => window.ReaderViewer !== undefined", timeout=15_000)
    yield page
    context.close()
    assert not console_errors, console_errors


def digest(page, selector):
    return page.evaluate(DIGEST_JS, selector)


def wait_for_new_pixels(page, selector, old_hash, timeout=5_000):
    page.wait_for_function(
        f"([sel, old]) => {{ const d = ({DIGEST_JS})(sel); return d && d.hash !== old; }}",
        arg=[selector, old_hash],
        timeout=timeout,
    )
    return digest(page, selector)


def overlay(page, selector):
    return page.inner_text(f"{selector} .rv-overlay")


def open_stack(page, server, prefix="a", selector="#single", rendering="auto"):
    """Create a viewer and wait until the whole series is cached; returns its first digest."""
    page.evaluate(
        """([sel, imageIds, presets, rendering]) => {
          const ev = window.viewerEvents;
          window.viewer = ReaderViewer.createStackViewer(document.querySelector(sel), {
            imageIds, presets, rendering,
            onSliceChange: (index, count) => ev.slices.push([index, count]),
            onRoi: (roi) => ev.rois.push(roi),
            onError: (e) => ev.errors.push(String(e)),
            onProgress: (loaded, total) => ev.progress.push([loaded, total]),
          });
          return window.viewer.loaded.then(() => true);
        }""",
        [selector, server.image_ids(prefix), PRESETS, rendering],
    )
    page.wait_for_function(f"() => ({DIGEST_JS})('{selector}')?.levels > 5", timeout=10_000)
    return digest(page, selector)


def state(page, expr="window.viewer.getState()"):
    return page.evaluate(f"() => {{ const s = {expr}; delete s.rois; return s; }}")


def center_of(page, selector):
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page, start, end, button="left", modifiers=()):
    for key in modifiers:
        page.keyboard.down(key)
    page.mouse.move(*start)
    page.mouse.down(button=button)
    steps = 6
    for i in range(1, steps + 1):
        page.mouse.move(start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
    # Cornerstone takes drag positions once per frame; a hand rests a moment before letting go.
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.mouse.up(button=button)
    for key in modifiers:
        page.keyboard.up(key)


# "auto" draws on the CPU here (SwiftShader is a software rasterizer); "gpu" forces Cornerstone's
# WebGL path, which readers' workstations take.
@pytest.mark.parametrize("rendering", ["auto", "gpu"])
def test_first_image_renders_whole_series_prefetched_and_nothing_identifying(page, viewer_server, rendering):
    viewer_server.cookies_seen.clear()
    first = open_stack(page, viewer_server, rendering=rendering)
    assert page.evaluate("() => ReaderViewer.getRenderer()") == ("cpu" if rendering == "auto" else "gpu")

    assert first["sd"] > 10 and first["levels"] > 20, first  # an image, not a blank canvas
    assert overlay(page, "#single") == "1/10"
    events = page.evaluate("() => window.viewerEvents")
    assert events["errors"] == []
    assert events["progress"][-1] == [SLICES, SLICES]
    # Every instance was fetched with the page's session cookie (same-origin XHR).
    assert len(viewer_server.cookies_seen) >= SLICES
    assert all(c and "sessionid=reader-session" in c for c in viewer_server.cookies_seen)
    # The only text the viewer adds is the reading overlay (window, slice with its position along the
    # normal and thickness from the geometry, orientation letters, k/N): no series description, no tags.
    lines = [line.strip() for line in page.inner_text("#single").splitlines() if line.strip()]
    assert sorted(lines) == sorted(["W 2000 L 1000", "Slice 1/10 · pos 0.0 mm · thk 4.0 mm", "A", "P", "R", "L", "1/10"])
    # Axial slices (rows along +x, columns along +y, LPS): anterior up, the patient's right on the left.
    assert state(page)["overlay"]["orientation"] == {"top": "A", "bottom": "P", "left": "R", "right": "L"}


def test_wheel_and_keys_change_the_slice_but_leave_the_form_keys_alone(page, viewer_server):
    first = open_stack(page, viewer_server)
    x, y = center_of(page, "#single")
    page.mouse.move(x, y)
    page.mouse.wheel(0, 120)
    page.wait_for_function("() => document.querySelector('#single .rv-overlay').textContent === '2/10'")
    second = wait_for_new_pixels(page, "#single", first["hash"])
    assert second["hash"] != first["hash"]
    assert [1, SLICES] in page.evaluate("() => window.viewerEvents.slices")

    page.click("#single")  # the viewer takes focus; keys scroll only while it has it
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.querySelector('#single .rv-overlay').textContent === '3/10'")
    page.keyboard.press("End")
    page.wait_for_function("() => document.querySelector('#single .rv-overlay').textContent === '10/10'")
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('#single .rv-overlay').textContent === '1/10'")
    page.keyboard.press("Tab")  # Tab is the form's: focus leaves the viewer
    assert page.evaluate("() => document.activeElement.id") != "single"

    page.focus("#score-input")
    page.keyboard.type("3")
    page.keyboard.press("ArrowDown")
    assert page.input_value("#score-input") == "3"
    assert state(page)["index"] == 0


@pytest.mark.parametrize("rendering", ["auto", "gpu"])
def test_drag_changes_window_level_and_invert_zoom_pan_reset(page, viewer_server, rendering):
    first = open_stack(page, viewer_server, rendering=rendering)
    initial = state(page)
    x, y = center_of(page, "#single")

    drag(page, (x, y), (x + 60, y + 40))
    after_wl = state(page)
    assert (after_wl["windowCenter"], after_wl["windowWidth"]) != (initial["windowCenter"], initial["windowWidth"])
    wl_pixels = wait_for_new_pixels(page, "#single", first["hash"])

    page.evaluate("() => window.viewer.invert()")
    assert state(page)["invert"] is True
    wait_for_new_pixels(page, "#single", wl_pixels["hash"])

    drag(page, (x, y), (x, y - 50), button="right")
    zoomed = state(page)
    assert zoomed["zoom"] != pytest.approx(initial["zoom"])
    page.mouse.move(x, y)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -120)
    page.keyboard.up("Control")
    page.wait_for_function(f"() => window.viewer.getState().zoom !== {zoomed['zoom']}")
    zoomed = state(page)
    assert zoomed["index"] == initial["index"]  # ctrl+wheel zooms, it does not scroll
    drag(page, (x, y), (x + 30, y + 20), modifiers=("Shift",))
    panned = state(page)
    assert panned["pan"] != pytest.approx(zoomed["pan"])
    drag(page, (x, y), (x - 20, y - 10), button="middle")
    assert state(page)["pan"] != pytest.approx(panned["pan"])
    panned = state(page)
    assert (panned["windowCenter"], panned["windowWidth"]) == (zoomed["windowCenter"], zoomed["windowWidth"])

    page.evaluate("() => window.viewer.setPreset('Soft')")
    soft = state(page)
    assert (soft["preset"], soft["windowCenter"], soft["windowWidth"]) == ("Soft", 900, 600)

    page.evaluate("() => window.viewer.reset()")
    reset = state(page)
    for key in ("windowCenter", "windowWidth", "invert", "zoom", "index"):
        assert reset[key] == pytest.approx(initial[key]), key
    assert reset["pan"] == pytest.approx(initial["pan"])
    assert reset["preset"] is None
    page.wait_for_function(
        f"([sel, h]) => ({DIGEST_JS})(sel)?.hash === h", arg=["#single", first["hash"]], timeout=5_000
    )


@pytest.mark.parametrize("rendering", ["auto", "gpu"])
def test_side_by_side_stays_in_sync(page, viewer_server, rendering):
    page.evaluate(
        """([leftIds, rightIds, rendering]) => {
          window.pair = ReaderViewer.createSideBySide(
            document.querySelector('#left'), document.querySelector('#right'), { leftIds, rightIds, rendering });
          return window.pair.loaded.then(() => true);
        }""",
        [viewer_server.image_ids("a"), viewer_server.image_ids("b"), rendering],
    )
    page.wait_for_function(f"() => ({DIGEST_JS})('#right')?.levels > 5", timeout=10_000)
    right_before = digest(page, "#right")
    lx, ly = center_of(page, "#left")
    page.mouse.move(lx, ly)
    for _ in range(3):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(30)
    page.wait_for_function(
        "() => ['#left', '#right'].every(s => document.querySelector(s + ' .rv-overlay').textContent === '4/10')"
    )
    wait_for_new_pixels(page, "#right", right_before["hash"])

    rx, ry = center_of(page, "#right")
    drag(page, (rx, ry), (rx - 50, ry + 30))
    pair = state(page, "window.pair.getState()")
    left, right = pair["left"], pair["right"]
    assert left["windowWidth"] == pytest.approx(right["windowWidth"])
    assert left["windowCenter"] == pytest.approx(right["windowCenter"])

    page.click("#right")
    page.keyboard.press("End")
    page.wait_for_function(
        "() => ['#left', '#right'].every(s => document.querySelector(s + ' .rv-overlay').textContent === '10/10')"
    )
    drag(page, (rx, ry), (rx, ry - 40), button="right")
    pair = state(page, "window.pair.getState()")
    assert pair["left"]["zoom"] == pytest.approx(pair["right"]["zoom"])
    assert page.evaluate("() => window.pair.invert()") is True
    pair = state(page, "window.pair.getState()")
    assert pair["left"]["invert"] and pair["right"]["invert"]


@pytest.mark.parametrize("rendering", ["auto", "gpu"])
def test_ellipse_roi_reports_mean_sd_area_and_slice(page, viewer_server, rendering):
    open_stack(page, viewer_server, rendering=rendering)
    page.evaluate("() => window.viewer.setIndex(4)")
    page.wait_for_function("() => document.querySelector('#single .rv-overlay').textContent === '5/10'")
    page.evaluate("() => window.viewer.setTool('roi')")
    x, y = center_of(page, "#single")
    # 64 px image fitted to a 256 px viewer: 4 screen px per 1 mm pixel. The drag goes from the
    # ellipse's centre to a corner of its bounding box: semi-axes 24 px = 6 mm, inside the flat block.
    drag(page, (x, y), (x + 24, y + 24))
    page.wait_for_function("() => window.viewerEvents.rois.length > 0", timeout=5_000)
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    rois = page.evaluate("() => window.viewerEvents.rois")
    assert {r["area"] for r in rois} == {rois[0]["area"]}  # no stale first report
    roi = rois[-1]
    assert roi["sliceIndex"] == 4 and roi["slice"] == 5 and roi["count"] == SLICES
    assert roi["mean"] == pytest.approx(BLOCK_MEAN, abs=BLOCK_SD)
    assert 0.5 * BLOCK_SD < roi["stdDev"] < 1.5 * BLOCK_SD
    assert roi["areaUnit"] == "mm²"
    assert roi["areaMm2"] == pytest.approx(math.pi * 6 * 6, rel=0.1)
    assert roi["pixelCount"] == pytest.approx(roi["areaMm2"], rel=0.2)  # 1 mm pixels
    assert page.evaluate("() => window.viewer.getState().rois.length") == 1


def test_compressed_instances_decode_in_the_worker_to_the_same_image(page, viewer_server):
    plain = open_stack(page, viewer_server, prefix="a", selector="#left")
    rle = open_stack(page, viewer_server, prefix="r", selector="#right")
    assert overlay(page, "#right") == "1/3"
    assert rle["hash"] == plain["hash"]


def test_bad_instance_is_reported_not_thrown(page, viewer_server):
    page.evaluate(
        """() => {
          const ev = window.viewerEvents;
          const v = ReaderViewer.createStackViewer(document.querySelector('#single'), {
            imageIds: ['wadouri:/wado/instances/missing'], onError: (e) => ev.errors.push(String(e)) });
          return v.ready.then(() => 'drawn', () => 'rejected');
        }"""
    )
    page.wait_for_function("() => window.viewerEvents.errors.length > 0", timeout=5_000)
    assert page.evaluate("() => window.viewerEvents.errors") == ["Error: HTTP 404 for wadouri:/wado/instances/missing"]
    assert page.inner_text("#single .rv-message") == "Image could not be loaded"
    # Cornerstone's loader leaves one promise rejected with the XMLHttpRequest unhandled (5.14.0);
    # the viewer has reported the failure, so that one is expected here.
    page.wait_for_timeout(200)
    page.uncaught_errors[:] = [e for e in page.uncaught_errors if e != "XMLHttpRequest"]


def test_one_missing_slice_does_not_stop_the_series(page, viewer_server):
    image_ids = viewer_server.image_ids("a")
    image_ids[2] = "wadouri:/wado/instances/missing"
    state_after = page.evaluate(
        """(imageIds) => {
          const ev = window.viewerEvents;
          window.viewer = ReaderViewer.createStackViewer(document.querySelector('#single'), {
            imageIds, onError: (e) => ev.errors.push(e.sliceIndex) });
          return window.viewer.loaded.then(() => window.viewer.getState());
        }""",
        image_ids,
    )
    assert state_after["failed"] == [2] and state_after["loaded"] == SLICES - 1
    assert page.evaluate("() => window.viewerEvents.errors") == [2]
    assert page.is_hidden("#single .rv-message")
    page.evaluate("() => window.viewer.setIndex(2)")
    page.wait_for_selector("#single .rv-message", state="visible", timeout=5_000)
    page.evaluate("() => window.viewer.setIndex(3)")
    page.wait_for_selector("#single .rv-message", state="hidden", timeout=5_000)
    page.wait_for_timeout(200)
    page.uncaught_errors[:] = [e for e in page.uncaught_errors if e != "XMLHttpRequest"]


def test_destroy_then_next_reads_in_the_same_element_without_exhausting_webgl(page, viewer_server):
    warnings = []
    page.on("console", lambda msg: warnings.append(msg.text) if "WebGL" in msg.text else None)
    # Forced WebGL: each read must give its contexts back, or the browser drops the oldest (~16 max).
    open_stack(page, viewer_server, prefix="a", rendering="gpu")
    for prefix in ("b", "a", "b", "a", "b"):
        page.evaluate("() => window.viewer.destroy()")
        assert page.inner_text("#single").strip() == ""
        shown = open_stack(page, viewer_server, prefix=prefix, rendering="gpu")
    assert shown["levels"] > 5 and overlay(page, "#single") == "1/10"
    assert page.locator("#single canvas").count() == 1
    assert warnings == []


def test_side_by_side_panes_start_identically_fitted_pan_together_and_reset_to_the_same_state(page, viewer_server):
    page.evaluate(
        """([leftIds, rightIds]) => {
          window.pair = ReaderViewer.createSideBySide(
            document.querySelector('#left'), document.querySelector('#right'), { leftIds, rightIds });
          return window.pair.toolsReady.then(() => true);
        }""",
        [viewer_server.image_ids("a"), viewer_server.image_ids("b")],
    )
    page.wait_for_function(f"() => ({DIGEST_JS})('#right')?.levels > 5", timeout=10_000)

    def cameras():
        pair = state(page, "window.pair.getState()")
        cams = page.evaluate("() => [window.pair.left.getCamera(), window.pair.right.getCamera()]")
        return [{**{k: pair[side][k] for k in ("windowCenter", "windowWidth", "invert")},
                 **{k: cam[k] for k in ("focalPoint", "position", "parallelScale")}}
                for side, cam in zip(("left", "right"), cams)]

    fitted, right = cameras()
    # The same view in world coordinates (both series share one geometry): the image centre in
    # the middle of the pane, the whole 64 mm field shown.
    assert fitted == right
    assert fitted["focalPoint"][:2] == pytest.approx([31.5, 31.5], abs=0.6) and fitted["parallelScale"] >= 32
    left = fitted
    # Pan on the right (shift+drag), zoom on the left: the other pane follows (the library's zoom/pan
    # synchronizer), in the same units.
    rx, ry = center_of(page, "#right")
    drag(page, (rx, ry), (rx + 30, ry + 20), modifiers=("Shift",))
    left, right = cameras()
    assert right["focalPoint"] != fitted["focalPoint"]
    assert left == right
    lx, ly = center_of(page, "#left")
    drag(page, (lx, ly), (lx, ly - 40), button="right")
    drag(page, (lx, ly), (lx - 40, ly + 20))  # and a window change
    left, right = cameras()
    assert left["parallelScale"] != pytest.approx(fitted["parallelScale"])
    assert left == right
    # Reset puts both sides back into one and the same state.
    page.evaluate("() => window.pair.reset()")
    left, right = cameras()
    assert left == right == fitted
    assert (left["windowCenter"], left["windowWidth"]) == (1000, 2000)  # the images' own window
    # Slices still follow by index with the cameras linked.
    page.evaluate("() => window.pair.setIndex(6)")
    page.wait_for_function(
        "() => ['#left', '#right'].every(s => document.querySelector(s + ' .rv-overlay').textContent === '7/10')")
    left, right = cameras()
    assert left == right


def test_length_and_angle_measurements_fit_one_to_one_and_cine(page, viewer_server):
    open_stack(page, viewer_server)
    page.evaluate("""() => { window.viewerEvents.measurements = [];
      window.viewer.element.addEventListener('readerviewer:measurement', (e) => window.viewerEvents.measurements.push(e.detail)); }""")
    x, y = center_of(page, "#single")
    # 64 × 1 mm pixels fitted to 256 screen px: 4 screen px per mm, so 80 px = 20 mm.
    page.evaluate("() => window.viewer.setTool('length')")
    drag(page, (x - 40, y), (x + 40, y))
    page.wait_for_function("() => window.viewerEvents.measurements.some(m => m.kind === 'length')")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    length = [m for m in page.evaluate("() => window.viewerEvents.measurements") if m["kind"] == "length"][-1]
    assert page.evaluate("() => window.viewer.getMeasurements()")[0]["value"] == pytest.approx(length["value"])
    # The tool anchors its first point at the first drag step, so the line is 66–80 px; what must hold
    # is that the reported length is the distance between its end points in mm (1 mm pixels).
    (x0, y0, z0), (x1, y1, z1) = length["points"][:2]
    assert length["value"] == pytest.approx(math.dist((x0, y0, z0), (x1, y1, z1)), rel=0.01)
    assert 15 < length["value"] <= 20.5 and length["unit"] == "mm" and length["slice"] == 1

    # An angle: three clicks (arm, vertex, arm) at a right angle.
    page.evaluate("() => window.viewer.setTool('angle')")
    for px, py in ((x + 40, y - 60), (x + 40, y - 20), (x, y - 20)):
        page.mouse.click(px, py)
        page.wait_for_timeout(80)
    page.wait_for_function("() => window.viewerEvents.measurements.some(m => m.kind === 'angle')", timeout=5_000)
    angle = [m for m in page.evaluate("() => window.viewerEvents.measurements") if m["kind"] == "angle"][-1]
    assert angle["value"] == pytest.approx(90, abs=2) and angle["unit"] == "°"
    assert len(page.evaluate("() => window.viewer.getMeasurements()")) == 2

    # 1:1 shows one image pixel per screen pixel (64 px image in a 256 px pane: a quarter of fit).
    # parallelScale is half the height shown, in mm: 1:1 shows 256 mm (1 mm per screen px), fit 64 mm.
    page.evaluate("() => window.viewer.actualSize()")
    assert page.evaluate("() => window.viewer.getCamera().parallelScale") == pytest.approx(128, rel=0.02)
    page.evaluate("() => window.viewer.fit()")
    fitted = page.evaluate("() => window.viewer.getCamera()")
    assert fitted["parallelScale"] == pytest.approx(32, rel=0.02)
    assert fitted["focalPoint"][:2] == pytest.approx([31.5, 31.5], abs=0.6)

    # Cine plays through the slices and stops.
    assert page.evaluate("() => window.viewer.cine(true, 30)") is True
    page.wait_for_function("() => window.viewerEvents.slices.length >= 4", timeout=5_000)
    assert page.evaluate("() => window.viewer.cine(false)") is False
    stopped = page.evaluate("() => window.viewer.getIndex()")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.viewer.getIndex()") == stopped


def test_auto_window_on_a_region_windows_on_the_pixels_under_the_rectangle(page, viewer_server):
    """The region tool's window is computed from the image pixels whose centres lie inside the
    rectangle the reader dragged (width max − min, centre the mean), checked against the DICOM
    pixels. Cornerstone 5.14's own tool read the rectangle's canvas coordinates as pixel indices:
    here that is a region outside the 64 × 64 image, which it answers with the mid-range window."""
    import io

    import numpy as np
    import pydicom

    open_stack(page, viewer_server)  # slice 1 of series "a", 64 × 64 fitted to 256 px: 4 px per pixel
    box = page.locator("#single").bounding_box()
    left, top = box["x"], box["y"]
    page.evaluate("() => window.viewer.setTool('windowRegion')")
    before = state(page)
    # Corners 63,83 → 143,123 screen px from the image's corner, 4 px per pixel: columns 16–35 and
    # rows 21–30 have their centres inside, whether pixel i is drawn over [4i, 4i + 4) px or (as
    # Cornerstone's CPU path maps canvas to world) half a pixel off; a one-pixel anchoring offset of
    # the tool does not change the set either.
    page.mouse.move(left + 63, top + 83)
    page.mouse.down()
    page.mouse.move(left + 64, top + 84)
    for k in range(1, 7):
        page.mouse.move(left + 63 + 80 * k / 6, top + 83 + 40 * k / 6)
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.mouse.up()
    page.wait_for_function(f"() => window.viewer.getState().windowWidth !== {before['windowWidth']}", timeout=5_000)
    after = state(page)

    key = viewer_server.image_ids("a")[0].rsplit("/", 1)[1]
    pixels = pydicom.dcmread(io.BytesIO(viewer_server.instances[key])).pixel_array.astype(float)
    region = pixels[21:31, 16:36]
    assert after["windowWidth"] == pytest.approx(max(region.max() - region.min(), 10), abs=0.5)
    assert after["windowCenter"] == pytest.approx(region.mean(), abs=0.5)
    # Not the whole image's window, and not the library's mid-range answer for its empty region.
    assert after["windowWidth"] < pixels.max() - pixels.min()
    assert after["windowCenter"] != pytest.approx((pixels.max() + pixels.min()) / 2, abs=1)
    assert np.isfinite(after["windowCenter"])


@pytest.mark.parametrize("rendering", ["auto", "gpu"])
def test_first_image_is_the_final_rendering_with_the_same_window(page, viewer_server, rendering):
    # What `ready` shows (before the tools chunk arrives) is what stays on screen once the tools are
    # bound: the same pixels and the same window, the instance's own (no placeholder, no re-window).
    at_ready, after = page.evaluate(
        f"""([imageIds, rendering]) => new Promise((resolve) => {{
          const digest = {DIGEST_JS};
          const v = ReaderViewer.createStackViewer(document.querySelector('#single'), {{ imageIds, rendering }});
          v.ready.then(() => {{
            const s = v.getState();
            const first = [digest('#single'), s.windowCenter, s.windowWidth, s.tools];
            v.loaded.then(() => requestAnimationFrame(() => requestAnimationFrame(() => {{
              const t = v.getState();
              resolve([first, [digest('#single'), t.windowCenter, t.windowWidth, t.tools]]);
            }})));
          }});
        }})""",
        [viewer_server.image_ids("a"), rendering],
    )
    assert at_ready[3] is False and after[3] is True  # drawn before the tools, checked after them
    assert at_ready[0]["sd"] > 10 and at_ready[0]["levels"] > 20, at_ready
    assert at_ready[1:3] == after[1:3] == [1000, 2000]
    assert at_ready[0] == after[0]


def test_first_images_of_a_case_read_load_neither_the_tools_nor_dcmjs(page, viewer_server):
    # Everything fetched until every pane shows its first image: the entry and the chunks it imports
    # statically, the decode worker, the instances. Not the tools chunk (it follows the first images)
    # and not dcmjs's DICOM dictionary (the loader parses instances with dicom-parser).
    fetched = page.evaluate(
        """(ids) => new Promise((resolve) => {
          const els = ['#single', '#left', '#right'].map((s) => document.querySelector(s));
          const v = ReaderViewer.createCaseViewer(els, { panes: ids.map((imageIds) => ({ imageIds })) });
          v.ready.then(() => resolve(performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)));
        })""",
        [viewer_server.image_ids("a"), viewer_server.image_ids("b"), viewer_server.image_ids("a")],
    )
    scripts = sorted({p.removeprefix("/static/viewer/") for p in fetched if p.startswith("/static/viewer/")})
    assert "reader-viewer.js" in scripts and any(s.startswith("assets/cornerstone-") for s in scripts), scripts
    assert not any("tools-" in s for s in scripts), scripts
    for name in scripts:
        assert b"DicomMetaDictionary" not in (BUNDLE_DIR / name).read_bytes(), name
    page.wait_for_function("() => window.viewerEvents.errors.length === 0")
