"""Test exams built from real MR files shipped in pydicom and pydicom-data (no downloads).

A *series* is made from one real image by writing it at several slice positions along its own
normal (new SOP/series UIDs; the pixels of slice k rolled by k rows so that slices differ), then
transcoded by dcmtk (``dcmcjpeg``, ``dcmcjpls``, ``dcmcrle``, ``dcmconv``) or pydicom's own
encoders into the transfer syntax under test. Sources used: ``MR_small.dcm`` (64×64, signed 16
bits), ``MR-SIEMENS-DICOM-WithOverlays.dcm`` (484×484, 12 bits, Siemens private header and
overlays), ``emri_small*.dcm`` (Enhanced MR, 10 frames, in four transfer syntaxes),
``MR2_J2KI.dcm`` / ``MR2_J2KR.dcm`` (1024×1024 JPEG 2000 lossy/lossless as a scanner wrote them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DCMTK = {name: shutil.which(name) for name in ("dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmconv", "dcmdjpeg")}
OJPH_COMPRESS = shutil.which("ojph_compress")  # OpenJPH (Debian openjph-tools): the HTJ2K encoder


def real(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:  # pragma: no cover - pydicom-data is a test dependency
        raise FileNotFoundError(f"{name} is not in pydicom's test files nor in pydicom-data")
    return Path(path)


def write_series(
    source: Path,
    out_dir: Path,
    *,
    slices: int = 3,
    patient_id: str = "PAT-REAL-1",
    series_uid: str | None = None,
    to_8bit: bool = False,
    roll: bool = True,
    thickness_mm: float | None = None,
) -> list[Path]:
    """``slices`` uncompressed images of ``source`` stacked along its normal, one series."""
    out_dir.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(source)
    pixels = template.pixel_array
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    orientation = np.array([float(v) for v in template.ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    origin = np.array([float(v) for v in template.ImagePositionPatient])
    step = float(template.get("SpacingBetweenSlices") or template.get("SliceThickness") or 5.0)
    paths = []
    for k in range(slices):
        ds = pydicom.dcmread(source)
        image = np.roll(pixels, k, axis=0) if roll else pixels
        if to_8bit:
            lo, hi = float(image.min()), float(image.max())
            image = np.round((image.astype(np.float64) - lo) * 255 / max(hi - lo, 1)).astype(np.uint8)
            ds.BitsAllocated = ds.BitsStored = 8
            ds.HighBit = 7
            ds.PixelRepresentation = 0
            for keyword in ("WindowCenter", "WindowWidth", "SmallestImagePixelValue", "LargestImagePixelValue"):
                if keyword in ds:
                    del ds[keyword]
        ds.PixelData = np.ascontiguousarray(image).astype(image.dtype.newbyteorder("<")).tobytes()
        ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.StudyInstanceUID = study_uid
        ds.PatientID = patient_id
        ds.PatientName = "REAL^PATIENT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [round(float(v), 4) for v in origin + normal * step * k]
        if thickness_mm is not None:
            ds.SliceThickness = thickness_mm
        path = out_dir / f"IM{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def transcode_dcmtk(paths: list[Path], out_dir: Path, tool: str, *options: str) -> list[Path]:
    """Transcode each file with a dcmtk tool (``dcmcjpeg +e1``, ``dcmcjpls +en``, ...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in paths:
        target = out_dir / path.name
        subprocess.run([DCMTK[tool] or tool, *options, str(path), str(target)], check=True, capture_output=True)
        out.append(target)
    return out


def transcode_pydicom(paths: list[Path], out_dir: Path, syntax: str, **kwargs) -> list[Path]:
    """Transcode each file with pydicom's encoders (JPEG 2000 through pylibjpeg-openjpeg, RLE)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.compress(syntax, **kwargs)
        target = out_dir / path.name
        ds.save_as(target, enforce_file_format=True)
        out.append(target)
    return out


def transcode_htj2k(paths: list[Path], out_dir: Path, syntax: str, *options: str) -> list[Path]:
    """Encode each (unsigned, grayscale) file's pixels with OpenJPH's ``ojph_compress`` and
    encapsulate the HTJ2K codestream under ``syntax`` (4.201 lossless, 4.203 lossy)."""
    from pydicom.encaps import encapsulate

    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        if int(ds.PixelRepresentation) != 0:
            raise ValueError("this helper writes unsigned PGM input only")
        pixels = ds.pixel_array
        pgm, codestream = out_dir / f"{path.stem}.pgm", out_dir / f"{path.stem}.j2c"
        with pgm.open("wb") as fh:
            fh.write(f"P5\n{pixels.shape[1]} {pixels.shape[0]}\n{2 ** int(ds.BitsStored) - 1}\n".encode())
            fh.write(pixels.astype(">u2").tobytes())
        subprocess.run([OJPH_COMPRESS or "ojph_compress", "-i", str(pgm), "-o", str(codestream), *options], check=True, capture_output=True)
        ds.PixelData = encapsulate([codestream.read_bytes()])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
        target = out_dir / path.name
        ds.save_as(target)
        pgm.unlink()
        codestream.unlink()
        out.append(target)
    return out


def restack(paths: list[Path], *, series_uid: str | None = None, patient_id: str = "PAT-REAL-1") -> None:
    """Give already-encoded copies of one real file their own UIDs and slice positions, in place."""
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
        normal = np.cross(orientation[:3], orientation[3:])
        origin = np.array([float(v) for v in ds.ImagePositionPatient])
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, study_uid
        ds.PatientID, ds.PatientName = patient_id, "REAL^PATIENT"
        ds.ImagePositionPatient = [round(float(v), 4) for v in origin + normal * 5.0 * k]
        ds.save_as(path)


def enhanced_mr(
    out: Path,
    *,
    source: str = "emri_small.dcm",
    spacing_mm: float = 2.0,
    duplicate_positions: bool = False,
    second_orientation: bool = False,
    rescale: tuple[float, float] | None = None,
    patient_id: str = "PAT-REAL-1",
) -> Path:
    """pydicom-data's Enhanced MR (10 real frames) with the functional groups a scanner writes.

    The shipped file has no Shared/Per-frame Functional Groups; this adds Pixel Measures, Plane
    Orientation (shared), Plane Position (per frame), and optionally Pixel Value Transformation
    and Frame VOI LUT, keeping its pixel data (in whatever transfer syntax ``source`` has).
    ``duplicate_positions`` writes two echoes at the same 5 positions; ``second_orientation``
    tilts half of the frames (two stacks in one object).
    """
    ds = pydicom.dcmread(real(source))
    n = int(ds.NumberOfFrames)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [0.9, 0.9]
    measures.SliceThickness = spacing_mm
    shared.PixelMeasuresSequence = [measures]
    plane = Dataset()
    plane.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    shared.PlaneOrientationSequence = [plane]
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = 600, 1200
    shared.FrameVOILUTSequence = [voi]
    if rescale is not None:
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = rescale
        transform.RescaleType = "US"
        shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for i in range(n):
        item = Dataset()
        position = Dataset()
        k = i % (n // 2) if duplicate_positions else i
        position.ImagePositionPatient = [-20.0 + k * spacing_mm, -30.0, 40.0]
        item.PlanePositionSequence = [position]
        if second_orientation and i >= n // 2:
            tilted = Dataset()
            tilted.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            item.PlaneOrientationSequence = [tilted]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID, ds.PatientName = patient_id, "REAL^PATIENT"
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


def mosaic(out: Path, *, images: int = 4, with_count: bool = True, patient_id: str = "PAT-REAL-1") -> tuple[Path, list[np.ndarray]]:
    """A Siemens MOSAIC built from ``images`` real 64×64 MR_small slices (rolled), tiled 2×2.

    Returns the file and the tiles in order. ``with_count=False`` leaves out
    NumberOfImagesInMosaic (0019,100A), which makes the mosaic impossible to unpack.
    """
    ds = pydicom.dcmread(real("MR_small.dcm"))
    tile = ds.pixel_array
    per_side = int(np.ceil(np.sqrt(images)))
    tiles = [np.roll(tile, 3 * k, axis=1) for k in range(images)]
    canvas = np.zeros((tile.shape[0] * per_side, tile.shape[1] * per_side), dtype=tile.dtype)
    for k, t in enumerate(tiles):
        r, c = divmod(k, per_side)
        canvas[r * tile.shape[0] : (r + 1) * tile.shape[0], c * tile.shape[1] : (c + 1) * tile.shape[1]] = t
    ds.Rows, ds.Columns = canvas.shape
    ds.PixelData = canvas.astype("<i2").tobytes()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
    ds.SpacingBetweenSlices = 5.0
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    if with_count:
        block.add_new(0x0A, "US", images)
    block.add_new(0x0B, "DS", "0")
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID, ds.PatientName = patient_id, "REAL^PATIENT"
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out, tiles


def displayed(ds: Dataset, frame: int | None = None) -> np.ndarray:
    """Modality LUT output of a (frame of a) dataset, as pydicom decodes it."""
    array = ds.pixel_array
    if frame is not None:
        array = array[frame]
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    return array.astype(np.float64) * slope + intercept


def values(value) -> list[str]:
    """A DICOM value as a list of strings, single- or multi-valued."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [str(v) for v in value]
    return [str(value)]


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines dciodvfy (dicom3tools) prints for ``path``."""
    result = subprocess.run([shutil.which("dciodvfy") or "dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
