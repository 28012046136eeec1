"""DICOM out: a magnitude volume as an MR Image Storage series (pydicom), one file per slice.

Geometry comes from :class:`recon.acquisition.Geometry`, so every series of a case (sagittal
or axial, any arm) shares the case's FrameOfReferenceUID and patient coordinates: a point of
the phantom lands on the same (x, y, z) in every series. Nothing written depends on the arm
except the pixels and the new UIDs: no NumberOfAverages, no partial-Fourier or parallel-imaging
scan options, the same SeriesDescription (the sequence name) and the same window for all arms
of a case x sequence (DESIGN.md, blinding). The importer re-blinds anyway.

The folder appears atomically: files are written to a hidden sibling and renamed into place.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom's implementation root
MANUFACTURER = "readerstudy"
MODEL = "recon phantom"


@dataclass(frozen=True)
class SeriesMeta:
    """Identifiers and acquisition parameters of one series.

    ``patient_id``/``patient_name`` must not equal the study's case label (the importer refuses
    a case label that is the patient's name or ID).
    """

    patient_id: str
    patient_name: str
    study_instance_uid: str
    frame_of_reference_uid: str
    series_number: int
    series_description: str
    window_center: float
    window_width: float
    tr_ms: float
    te_ms: float
    echo_train_length: int
    fat_suppression: bool
    bandwidth_hz_total: float
    matrix_frequency: int
    matrix_phase: int
    series_instance_uid: str | None = None
    study_date: str = "20240101"
    study_time: str = "080000"
    field_strength_t: float = 3.0


def _ds(v) -> str:
    """A DS string of at most 16 characters."""
    s = f"{float(v):.6g}"
    return s if len(s) <= 16 else f"{float(v):.8e}"[:16]


def _fmt(vec) -> list[str]:
    return [_ds(0.0 if abs(x) < 1e-9 else x) for x in vec]


def bits_stored_for(max_value: float, *, minimum: int = 12) -> int:
    """BitsStored that holds unsigned values up to ``max_value`` (at least ``minimum``, at most 16).

    Every arm of a case x sequence must be written with the same value (blinding): pass the
    maximum over all of them.
    """
    top = int(max(0, math.ceil(float(max_value))))
    if top > 65535:
        raise ValueError(f"pixel value {max_value} does not fit 16 bits")
    return max(minimum, top.bit_length())


def to_uint16(volume: np.ndarray) -> np.ndarray:
    """Round a non-negative float volume to uint16, refusing values that do not fit (never wrap)."""
    v = np.asarray(volume)
    if not np.isfinite(v).all():
        raise ValueError("volume has non-finite values")
    r = np.rint(np.clip(v, 0, None))
    if r.max(initial=0) > 65535:
        raise ValueError(f"pixel value {float(r.max())} does not fit 16 bits")
    return r.astype(np.uint16)


def build_instance(pixels: np.ndarray, geometry, k: int, meta: SeriesMeta, series_uid: str, sop_uid: str,
                   *, bits_stored: int | None = None) -> FileDataset:
    """One MR Image Storage instance for slice ``k`` (pixels: uint16; BitsStored from the
    values, at least 12, unless given)."""
    if pixels.dtype != np.uint16:
        raise ValueError("pixels must be uint16")
    bits = bits_stored or bits_stored_for(pixels.max(initial=0))
    if int(pixels.max(initial=0)) >= 1 << bits:
        raise ValueError(f"pixel values up to {int(pixels.max())} do not fit BitsStored {bits}")
    if pixels.shape != (geometry.rows, geometry.cols):
        raise ValueError("pixel array does not match the geometry")
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = MRImageStorage
    fm.MediaStorageSOPInstanceUID = sop_uid
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    fm.ImplementationVersionName = "READERSTUDY_1"
    ds = FileDataset(None, {}, file_meta=fm, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    # Patient / study / series / frame of reference / equipment.
    ds.PatientName = meta.patient_name
    ds.PatientID = meta.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = meta.study_instance_uid
    ds.StudyDate = meta.study_date
    ds.StudyTime = meta.study_time
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = meta.series_number
    ds.SeriesDescription = meta.series_description
    ds.BodyPartExamined = "LSPINE"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = meta.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL
    ds.InstanceNumber = k + 1
    ds.ContentDate = meta.study_date
    ds.ContentTime = meta.study_time
    ds.AcquisitionNumber = 1
    # Image plane.
    ds.PixelSpacing = [_ds(geometry.pixel_spacing_mm), _ds(geometry.pixel_spacing_mm)]
    ds.ImageOrientationPatient = _fmt(list(geometry.row_direction) + list(geometry.column_direction))
    ipp = geometry.image_position_mm(k)
    ds.ImagePositionPatient = _fmt(ipp)
    ds.SliceThickness = _ds(geometry.slice_thickness_mm)
    ds.SpacingBetweenSlices = _ds(geometry.slice_spacing_mm)
    ds.SliceLocation = _ds(float(np.dot(ipp, geometry.normal)))
    # MR image module.
    ds.ScanningSequence = ["SE"]
    ds.SequenceVariant = ["SK"]
    ds.ScanOptions = ["FS"] if meta.fat_suppression else ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = _ds(meta.tr_ms)
    ds.EchoTime = _ds(meta.te_ms)
    ds.EchoTrainLength = int(meta.echo_train_length)
    ds.MagneticFieldStrength = _ds(meta.field_strength_t)
    ds.ImagedNucleus = "1H"
    ds.PixelBandwidth = _ds(meta.bandwidth_hz_total / meta.matrix_frequency)
    # AcquisitionMatrix is frequency rows \ frequency columns \ phase rows \ phase columns.
    if geometry.phase_axis == -1:  # phase along the row direction (horizontal)
        ds.InPlanePhaseEncodingDirection = "ROW"
        ds.AcquisitionMatrix = [meta.matrix_frequency, 0, 0, meta.matrix_phase]
    else:
        ds.InPlanePhaseEncodingDirection = "COL"
        ds.AcquisitionMatrix = [0, meta.matrix_frequency, meta.matrix_phase, 0]
    # Image pixel + VOI LUT.
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = geometry.rows
    ds.Columns = geometry.cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = _ds(meta.window_center)
    ds.WindowWidth = _ds(meta.window_width)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def write_series(volume_u12: np.ndarray, geometry, folder: Path | str, meta: SeriesMeta, *, bits_stored: int | None = None) -> list[Path]:
    """Write a (slices, rows, cols) uint16 volume as ``folder/IM0001.dcm`` ... atomically.

    BitsStored is what the whole volume needs (at least 12) unless ``bits_stored`` is given.
    Returns the file paths. The folder must not exist yet.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} exists")
    if volume_u12.shape != (geometry.slices, geometry.rows, geometry.cols):
        raise ValueError("volume does not match the geometry")
    series_uid = meta.series_instance_uid or generate_uid()
    bits = bits_stored or bits_stored_for(volume_u12.max(initial=0))
    return _save_series(folder, (
        build_instance(volume_u12[k], geometry, k, meta, series_uid, generate_uid(), bits_stored=bits)
        for k in range(geometry.slices)
    ))


def _save_series(folder: Path, datasets) -> list[Path]:
    """Save ``datasets`` as ``folder/IM0001.dcm`` ... atomically: into a hidden sibling folder that
    is renamed to ``folder`` at the end, removed if anything (building a dataset included) fails."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        names = []
        for k, ds in enumerate(datasets):
            name = f"IM{k + 1:04d}.dcm"
            ds.save_as(tmp / name, enforce_file_format=True)
            names.append(name)
        os.chmod(tmp, 0o755)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [folder / n for n in names]


def read_series(folder: Path | str) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    """(slices, rows, cols) pixels and headers of a folder, sorted along the slice normal."""
    datasets = [pydicom.dcmread(p) for p in sorted(Path(folder).glob("*.dcm"))]
    if not datasets:
        raise ValueError(f"no DICOM files in {folder}")
    iop = np.array(datasets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    return np.stack([d.pixel_array for d in datasets]), datasets


def today() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


# Elements describing the source's pixel encoding or values, which the new pixels make false.
_STALE_PIXEL_ELEMENTS = (
    "SmallestImagePixelValue", "LargestImagePixelValue", "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries", "PixelPaddingValue", "PixelPaddingRangeLimit", "LossyImageCompression",
    "LossyImageCompressionRatio", "LossyImageCompressionMethod", "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths", "IconImageSequence",
)


def write_series_like(volume: np.ndarray, sources: list[pydicom.Dataset], folder: Path | str, *,
                      bits_stored: int, series_instance_uid: str | None = None) -> list[Path]:
    """Write ``volume`` (slices, rows, cols; stored-value units) with the headers of ``sources``.

    Each slice keeps its source's header (patient, study, frame of reference, geometry, MR
    parameters, rescale, window): a reconstruction of the same acquisition placed where the
    source was. New SeriesInstanceUID and SOPInstanceUIDs; uncompressed explicit VR little
    endian; overlays and the source's pixel-value statistics dropped; ``bits_stored`` as given
    (the same for every arm of a case x sequence). Written atomically like :func:`write_series`.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} exists")
    pixels = to_uint16(volume)
    if pixels.ndim != 3 or pixels.shape[0] != len(sources):
        raise ValueError(f"volume has {pixels.shape[0] if pixels.ndim == 3 else '?'} slices, the source series {len(sources)}")
    if int(pixels.max(initial=0)) >= 1 << bits_stored:
        raise ValueError(f"pixel values up to {int(pixels.max())} do not fit BitsStored {bits_stored}")
    series_uid = series_instance_uid or generate_uid()

    def datasets():
        for k, (src, sl) in enumerate(zip(sources, pixels, strict=True)):
            if sl.shape != (int(src.Rows), int(src.Columns)):
                raise ValueError(f"slice {k} is {sl.shape}, its source {src.Rows} x {src.Columns}")
            ds = copy.deepcopy(src)
            for tag in [t for t in ds.keys() if t.group & 0xFF00 == 0x6000]:
                del ds[tag]  # overlays belong to the source image
            for name in _STALE_PIXEL_ELEMENTS:
                if name in ds:
                    delattr(ds, name)
            sop = generate_uid()
            fm = FileMetaDataset()
            fm.MediaStorageSOPClassUID = ds.SOPClassUID
            fm.MediaStorageSOPInstanceUID = sop
            fm.TransferSyntaxUID = ExplicitVRLittleEndian
            fm.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
            fm.ImplementationVersionName = "READERSTUDY_1"
            ds.file_meta = fm
            ds.SOPInstanceUID = sop
            ds.SeriesInstanceUID = series_uid
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.BitsAllocated = 16
            ds.BitsStored = bits_stored
            ds.HighBit = bits_stored - 1
            ds.PixelRepresentation = 0
            if "PlanarConfiguration" in ds:
                del ds.PlanarConfiguration
            ds.PixelData = np.ascontiguousarray(sl).tobytes()
            ds["PixelData"].VR = "OW"
            ds.preamble = b"\0" * 128
            yield ds

    return _save_series(folder, datasets())
