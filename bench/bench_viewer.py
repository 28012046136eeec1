"""Viewer benchmark: first image on screen for a single read and a three-series case read, and frame
time while scrolling (one viewport; three synchronised viewports).

Serves the committed bundle (static/viewer/) and generated MR series from a local server
(tests/browser/viewer_harness.py, the same stand-in for Django the browser tests use): a single read of
30 slices 384×384, and a case read (hanging protocol) of two sagittal series of 20 slices and one axial
of 30, all 384×384, shown by ``createCaseViewer`` with cross-reference lines and the sagittals scrolling
together by position. It opens the page in Debian's headless chromium and measures, in the page's own
clock (for the case read, "first image" is the first image of every pane):

- page open → first image drawn: from navigation start to the viewer's first IMAGE_RENDERED, with
  the bundle fetched fresh (cold) and from the HTTP cache (warm, as on every read after the first);
- per scroll step (series fully prefetched): time from asking for the next slice to its IMAGE_RENDERED;
- frame time while scrolling: one wheel event per animation frame over the whole series, back and
  forth; the interval between animation frames and the share of frames that showed a new slice.

Usage: python bench/bench_viewer.py [--runs 5] [--quick] [--browser-ui] [--out bench/results/viewer.txt]

The header also lists what the page loads before the first image (the entry and the chunks it
imports statically), and whether Chromium's omnibox popup WebUI was on (see NO_OMNIBOX_WEBUI).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.browser import conftest  # noqa: E402
from tests.browser.conftest import CHROMIUM, launch_chromium  # noqa: E402
from tests.browser.viewer_harness import BUNDLE_DIR, ViewerServer, make_series  # noqa: E402

SLICES, ROWS, COLS = 30, 384, 384
VIEWER_PX = 512

SAG_SLICES, AX_SLICES = 20, 30
CASE_PX = 400

SCROLL_STEPS_JS = """
async (steps) => {
  const v = window.viewer.viewers ? window.viewer.viewers[0] : window.viewer;
  const host = v.element.querySelector('.rv-host');
  const count = v.getState().count;
  const out = [];
  let index = v.getIndex();
  let dir = 1;
  for (let i = 0; i < steps; i++) {
    if (index + dir < 0 || index + dir >= count) dir = -dir;
    index += dir;
    const drawn = new Promise((r) => host.addEventListener('CORNERSTONE_IMAGE_RENDERED', r, { once: true }));
    const t0 = performance.now();
    v.setIndex(index);
    await drawn;
    out.push(performance.now() - t0);
  }
  return out;
}
"""

# Records every animation frame and the slice on screen in it, while the bench sends real wheel
# input through Playwright (synthetic WheelEvents are not what a reader produces).
START_FRAMES_JS = """
() => {
  const vs = window.viewer.viewers || [window.viewer];
  window.frameLog = [];
  window.frameLogOn = true;
  const frame = (t) => {
    window.frameLog.push([t, ...vs.map((v) => v.getIndex())]);
    if (window.frameLogOn) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}
"""

STOP_FRAMES_JS = """
() => {
  window.frameLogOn = false;
  const log = window.frameLog;
  const intervals = log.slice(1).map(([t], k) => t - log[k][0]);
  const changes = log.slice(1).filter(([, i], k) => i !== log[k][1]).length;
  // Frames in which a synchronised pane (the second) showed a new slice too.
  const followed = log[0].length > 2 ? log.slice(1).filter((e, k) => e[2] !== log[k][2]).length : null;
  return { intervals, changes, followed, seconds: (log.at(-1)[0] - log[0][0]) / 1000 };
}
"""

RENDERER_JS = """
() => {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'no WebGL2 (Cornerstone CPU rendering)';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
}
"""


def eager_scripts():
    """The entry and every chunk it imports statically (not import()): what is parsed and evaluated
    before the first image can be drawn, as (name, bytes)."""
    static_import = re.compile(r'(?:\bfrom|\bimport)\s*"\./(assets/[\w.-]+\.js)"')
    seen, todo = [], ["reader-viewer.js"]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        base = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        text = (BUNDLE_DIR / name).read_text(encoding="utf-8", errors="replace")
        for target in static_import.findall(text):
            # Chunks import each other as "./x.js" from assets/, the entry as "./assets/x.js".
            todo.append(target)
        for target in re.findall(r'(?:\bfrom|\bimport)\s*"\./([\w.-]+\.js)"', text):
            todo.append(base + target)
    return [(name, (BUNDLE_DIR / name).stat().st_size) for name in seen]


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def open_once(context, server, config):
    page = context.new_page()
    page.add_init_script(f"window.autoViewer = {json.dumps(config)};")
    page.goto(f"{server.url}/viewer-test")
    page.wait_for_function("() => window.firstImageDrawnMs !== null", timeout=60_000)
    first_ms, bundle_ms = page.evaluate("() => [window.firstImageDrawnMs, window.bundleReadyMs]")
    page.evaluate("() => window.viewer.loaded")
    loaded_ms = page.evaluate("() => performance.now()")
    return page, (first_ms, bundle_ms), loaded_ms


def measure(playwright, server, config, runs, chromium_args, slices):
    """All figures for one browser configuration and one read layout."""
    conftest.CHROMIUM_ARGS[:] = chromium_args
    browser = launch_chromium(playwright)
    cold, warm, loaded, bundle = [], [], [], []
    size = {"width": 1400, "height": 800}
    for _ in range(runs):
        context = browser.new_context(viewport=size)
        page, (first_ms, _), _ = open_once(context, server, config)  # empty HTTP cache
        cold.append(first_ms)
        page.close()
        page, (first_ms, bundle_ms), loaded_ms = open_once(context, server, config)  # bundle cached
        warm.append(first_ms)
        bundle.append(bundle_ms)
        loaded.append(loaded_ms)
        page.close()
        context.close()

    context = browser.new_context(viewport=size)
    page, _, _ = open_once(context, server, config)
    result = {
        "browser": browser.version,
        "webgl": page.evaluate(RENDERER_JS),
        "renderer": page.evaluate("() => ReaderViewer.getRenderer()"),
        "cold": cold,
        "warm": warm,
        "loaded": loaded,
        "bundle": bundle,
    }
    page.evaluate(SCROLL_STEPS_JS, 10)  # warm-up
    result["steps"] = page.evaluate(SCROLL_STEPS_JS, 4 * slices)
    box = page.locator("#single").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    index = page.evaluate("() => (window.viewer.viewers ? window.viewer.viewers[0] : window.viewer).getIndex()")
    direction = 1
    page.evaluate(START_FRAMES_JS)
    for _ in range(4 * slices):
        if not 0 <= index + direction < slices:
            direction = -direction
        index += direction
        page.mouse.wheel(0, 100 * direction)
    page.wait_for_timeout(200)
    result["wheel"] = page.evaluate(STOP_FRAMES_JS)
    result["wheel_events"] = 4 * slices
    context.close()
    browser.close()
    return result


def report(name, r, runs, target_ms):
    steps, wheel = r["steps"], r["wheel"]
    intervals = wheel["intervals"]
    followed = "" if wheel["followed"] is None else f"; the synchronised sagittal showed a new slice in {wheel['followed']} frames"
    warm_median = statistics.median(r["warm"])
    return [
        f"## {name}",
        f"target: first image <= {target_ms} ms: warm median {warm_median:.0f} ms "
        f"({'met' if warm_median <= target_ms else 'NOT met'}), cold median {statistics.median(r['cold']):.0f} ms",
        f"chromium {r['browser']}; WebGL: {r['webgl']}; viewer rendering: {r['renderer']}",
        f"page open -> first image drawn, cold (bundle fetched), median of {runs}: "
        f"{statistics.median(r['cold']):.0f} ms (min {min(r['cold']):.0f}, max {max(r['cold']):.0f})",
        f"page open -> first image drawn, warm (bundle from HTTP cache), median of {runs}: "
        f"{statistics.median(r['warm']):.0f} ms (min {min(r['warm']):.0f}, max {max(r['warm']):.0f})",
        f"  of which page open -> bundle evaluated (warm), median: {statistics.median(r['bundle']):.0f} ms",
        f"page open -> whole series prefetched (warm), median: {statistics.median(r['loaded']):.0f} ms",
        f"scroll step on the loaded series (set slice -> drawn), {len(steps)} steps: "
        f"median {statistics.median(steps):.1f} ms, p95 {pct(steps, 0.95):.1f} ms, max {max(steps):.1f} ms",
        f"wheel scrolling ({r['wheel_events']} real wheel events, back and forth), {len(intervals)} frames in "
        f"{wheel['seconds']:.1f} s: frame time median {statistics.median(intervals):.1f} ms, "
        f"p95 {pct(intervals, 0.95):.1f} ms, max {max(intervals):.1f} ms; "
        f"{wheel['changes']} new slices drawn ({wheel['changes'] / wheel['seconds']:.0f} per s){followed}",
        "",
    ]


# Headless Chromium 156 loads its omnibox popup WebUI (chrome://omnibox-popup.top-chrome: about a
# hundred scripts, parsed and run in a renderer of its own) for every new tab, i.e. for every page
# open of this bench, while the page under test loads. A reader's tab has no such work per read (one
# browser window, reads open one after the other); on this 2-core machine it takes a core from the
# page. Off by default; --browser-ui keeps it (the flags of the earlier results).
NO_OMNIBOX_WEBUI = "--disable-features=WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup,PreloadTopChromeWebUI"

CONFIGURATIONS = [
    # No GPU here: software compositing, and the viewer draws slices on the CPU ('auto' picks it).
    ("software compositing (--disable-gpu), as on this GPU-less machine",
     lambda base: [a for a in base if "swiftshader" not in a] + ["--disable-gpu"]),
    # The browser tests' configuration: WebGL emulated by SwiftShader, compositing through it too.
    ("SwiftShader WebGL (the browser tests' flags)", lambda base: list(base)),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="page opens per condition")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "viewer.txt")
    parser.add_argument("--quick", action="store_true", help="software compositing only (skip SwiftShader WebGL)")
    parser.add_argument("--browser-ui", action="store_true",
                        help="let headless Chromium load its omnibox popup WebUI in every new tab (see NO_OMNIBOX_WEBUI)")
    args = parser.parse_args(argv)
    if not (BUNDLE_DIR / "reader-viewer.js").is_file():
        sys.exit("static/viewer/ is not built; see frontend/README.md")

    load_start = os.getloadavg()[0]
    server = ViewerServer(static_max_age_s=3600)
    server.instances.update(make_series("s", SLICES, ROWS, COLS, seed=7, pixel_spacing_mm=0.6))
    series_mb = sum(len(b) for b in server.instances.values()) / 1e6
    server.instances.update(make_series("t", SAG_SLICES, ROWS, COLS, seed=8, pixel_spacing_mm=0.6, plane="sagittal"))
    server.instances.update(make_series("u", SAG_SLICES, ROWS, COLS, seed=9, pixel_spacing_mm=0.6, plane="sagittal"))
    server.instances.update(make_series("v", AX_SLICES, ROWS, COLS, seed=10, pixel_spacing_mm=0.6))
    server.start()
    single = {"imageIds": server.image_ids("s"), "size": VIEWER_PX}
    case = {"size": CASE_PX, "panes": [
        {"imageIds": server.image_ids("t"), "label": "SAG T2 FS"},
        {"imageIds": server.image_ids("u"), "label": "SAG T1"},
        {"imageIds": server.image_ids("v"), "label": "AX T2"},
    ]}
    base_args = list(conftest.CHROMIUM_ARGS) + ([] if args.browser_ui else [NO_OMNIBOX_WEBUI])

    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        for name, make_args in CONFIGURATIONS[: 1 if args.quick else None]:
            results.append((f"single read, {name}", 300,
                            measure(playwright, server, single, args.runs, make_args(base_args), SLICES)))
            results.append((f"case read (3 series, 3 synchronised viewports), {name}", 500,
                            measure(playwright, server, case, args.runs, make_args(base_args), SAG_SLICES)))
    server.stop()

    bundle_mb = sum(p.stat().st_size for p in BUNDLE_DIR.rglob("*") if p.is_file()) / 1e6
    eager = eager_scripts()
    eager_text = ", ".join(f"{name} {size / 1e3:.0f} kB" for name, size in eager)
    lines = [
        f"# bench/bench_viewer.py — {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; {platform.platform()}",
        f"load average at start / end: {load_start:.1f} / {os.getloadavg()[0]:.1f} (other jobs share the"
        " cores, so these are upper bounds)",
        f"browser: {CHROMIUM} headless; "
        + ("its omnibox popup WebUI loads in every new tab (--browser-ui)" if args.browser_ui
           else f"its omnibox popup WebUI off ({NO_OMNIBOX_WEBUI}; see bench_viewer.py)"),
        f"single read: {SLICES} slices {ROWS}x{COLS} uint16 MR, {series_mb:.1f} MB DICOM (explicit VR little endian),"
        f" served from a local server (no network latency); viewer {VIEWER_PX}x{VIEWER_PX} px",
        f"case read: 2 sagittal x {SAG_SLICES} + 1 axial x {AX_SLICES} slices {ROWS}x{COLS}; 3 panes {CASE_PX}x{CASE_PX} px,"
        " cross-reference lines on, the sagittals synchronised by position; wheel on the first sagittal",
        f"bundle: static/viewer/ {bundle_mb:.1f} MB on disk; loaded before the first image (the entry and the"
        f" chunks it imports statically): {sum(size for _, size in eager) / 1e6:.2f} MB ({eager_text})",
        "",
    ]
    for name, target_ms, result in results:
        lines += report(name, result, args.runs, target_ms)
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
