"""A stand-in for Django's serving of the viewer: the built bundle and blinded DICOM instances.

Used by ``tests/browser/test_viewer_bundle.py`` and ``bench/bench_viewer.py``. It serves

- ``/static/viewer/...``      the committed bundle from ``static/viewer/`` (as Django's static files),
- ``/wado/instances/<id>``    generated DICOM with ``Content-Type: application/dicom``, as the server will,
- ``/viewer-test``            ``tests/browser/assets/viewer_test_page.html``,

and records the ``Cookie`` header of every instance request, so a test can check that the loader
sends the session cookie same-origin. No Django and no Node are involved.
"""

from __future__ import annotations

import functools
import http.server
import threading
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = REPO_ROOT / "static" / "viewer"
TEST_PAGE = Path(__file__).resolve().parent / "assets" / "viewer_test_page.html"

# Geometry of the synthetic series: the centre block is a flat region with known statistics,
# the bar in the bottom rows moves with the slice, so every slice has different pixels.
BLOCK = slice(16, 48)
BLOCK_MEAN = 1000.0
BLOCK_SD = 50.0
BACKGROUND = 100
BAR_VALUE = 2000


def synthetic_slice(index: int, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """One MR-like slice: background, a noisy centre block, and a bar whose column depends on ``index``."""
    image = np.full((rows, cols), BACKGROUND, dtype=np.float64)
    r0, r1 = rows * BLOCK.start // 64, rows * BLOCK.stop // 64
    c0, c1 = cols * BLOCK.start // 64, cols * BLOCK.stop // 64
    image[r0:r1, c0:c1] = rng.normal(BLOCK_MEAN, BLOCK_SD, size=(r1 - r0, c1 - c0))
    bar_width = max(3, cols // 20)
    bar_start = (index * (bar_width + 3)) % (cols - bar_width)
    image[rows * 50 // 64 :, bar_start : bar_start + bar_width] = BAR_VALUE
    # A gradient in the top rows keeps the image non-uniform outside the block as well.
    image[: rows * 12 // 64, :] += np.linspace(0, 400, cols)[None, :]
    return np.clip(np.rint(image), 0, 4095).astype(np.uint16)


def make_instance(
    index: int,
    count: int,
    pixels: np.ndarray,
    series_uid: str,
    study_uid: str,
    frame_uid: str,
    pixel_spacing_mm: float,
    transfer_syntax: str = ExplicitVRLittleEndian,
    plane: str = "axial",
) -> bytes:
    """A de-identified MR instance, as the server's blinded copies look: neutral description, new UIDs."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.Modality = "MR"
    ds.PatientName = "Case^Blinded"
    ds.PatientID = "CASE"
    ds.SeriesDescription = "Series"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    slice_thickness_mm = 4.0
    ds.SliceThickness = slice_thickness_mm
    if plane == "sagittal":  # rows along +y (posterior), columns along -z (down), slices along x
        ds.ImagePositionPatient = [(index - (count - 1) / 2) * slice_thickness_mm, 0.0, pixels.shape[0] * pixel_spacing_mm]
        ds.ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    else:  # axial: rows along +x, columns along +y, slices stepping up in z
        ds.ImagePositionPatient = [0.0, 0.0, index * slice_thickness_mm]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 1000
    ds.WindowWidth = 2000
    ds.PixelData = pixels.tobytes()
    if transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(transfer_syntax, pixels)  # pydicom encodes RLE Lossless with numpy alone
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_series(
    prefix: str,
    count: int,
    rows: int,
    cols: int,
    seed: int = 0,
    pixel_spacing_mm: float = 1.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    plane: str = "axial",
) -> dict[str, bytes]:
    """``count`` instances keyed by an opaque id, in slice order (``plane``: "axial" or "sagittal")."""
    rng = np.random.default_rng(seed)
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    return {
        f"{prefix}{i:03d}": make_instance(
            i,
            count,
            synthetic_slice(i, rows, cols, rng),
            series_uid,
            study_uid,
            frame_uid,
            pixel_spacing_mm,
            transfer_syntax,
            plane,
        )
        for i in range(count)
    }


@dataclass
class ViewerServer:
    """A threaded local HTTP server; ``url`` is its origin."""

    instances: dict[str, bytes] = field(default_factory=dict)
    cookies_seen: list[str | None] = field(default_factory=list)
    latency_s: float = 0.0
    # Seconds the browser may cache /static/ (Django's whitenoise caches the hashed names for a
    # year); 0 means every page open fetches the bundle again.
    static_max_age_s: int = 0
    _httpd: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def image_ids(self, prefix: str) -> list[str]:
        """Same-origin ``wadouri:`` ids, the form the reading page will pass to the viewer."""
        return [f"wadouri:/wado/instances/{key}" for key in sorted(self.instances) if key.startswith(prefix)]

    def start(self) -> "ViewerServer":
        handler = functools.partial(_Handler, self)
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()


_CONTENT_TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html; charset=utf-8"}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, server_state: ViewerServer, *args, **kwargs):
        self.state = server_state
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if "Cache-Control" not in (extra or {}):
            self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/viewer-test":
            # Stands in for Django's session cookie; instance requests must carry it back.
            self._send(200, TEST_PAGE.read_bytes(), _CONTENT_TYPES[".html"], {"Set-Cookie": "sessionid=reader-session; Path=/; SameSite=Lax"})
        elif path.startswith("/static/viewer/"):
            target = (BUNDLE_DIR / path.removeprefix("/static/viewer/")).resolve()
            if BUNDLE_DIR.resolve() not in target.parents or not target.is_file():
                self._send(404, b"not found", "text/plain")
                return
            cache = {"Cache-Control": f"max-age={self.state.static_max_age_s}"} if self.state.static_max_age_s else {}
            self._send(200, target.read_bytes(), _CONTENT_TYPES.get(target.suffix, "application/octet-stream"), cache)
        elif path.startswith("/wado/instances/"):
            key = path.removeprefix("/wado/instances/")
            body = self.state.instances.get(key)
            self.state.cookies_seen.append(self.headers.get("Cookie"))
            if body is None:
                self._send(404, b"no such instance", "text/plain")
                return
            if self.state.latency_s:
                threading.Event().wait(self.state.latency_s)
            self._send(200, body, "application/dicom")
        else:
            self._send(404, b"not found", "text/plain")


# Reads the viewer's visible canvas back: a hash of the pixels and enough statistics to tell a
# drawn image from a blank one. drawImage copies whatever context the canvas has (2D or WebGL).
DIGEST_JS = """
(selector) => {
  const source = document.querySelector(selector + ' canvas');
  if (!source || !source.width) return null;
  const copy = document.createElement('canvas');
  copy.width = source.width; copy.height = source.height;
  const ctx = copy.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0);
  const d = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let hash = 2166136261, sum = 0, sum2 = 0, n = 0;
  const levels = new Set();
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i];
    hash = Math.imul(hash ^ v, 16777619);
    sum += v; sum2 += v * v; n += 1;
    levels.add(v);
  }
  const mean = sum / n;
  return { hash: hash >>> 0, mean, sd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), levels: levels.size };
}
"""
