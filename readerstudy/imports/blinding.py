"""Blinded copies of DICOM images (DESIGN.md "Blinding and integrity rules"): one rule, an allow-list.

A reader must not learn from a served file the patient, the arm, or any protocol parameter that
differs between arms (NEX, acceleration, partial Fourier, DL, noise-reduction factor). The blinded
copy is therefore a **new** dataset built attribute by attribute; nothing of the source reaches it
unless this module names it. Every attribute a served file can hold is in :data:`ALLOWED`, and
each comes from exactly one place:

- :data:`FROM_SOURCE`: copied verbatim from the source's top level (``PatientPosition``,
  ``PhotometricInterpretation``, ``SpacingBetweenSlices``);
- the frame (:class:`readerstudy.imports.frames.Frame`): PixelSpacing, ImageOrientationPatient,
  ImagePositionPatient, SliceThickness, SliceLocation (computed along the normal), Rows, Columns;
- the case × sequence's common :class:`~readerstudy.imports.representation.Representation`:
  the pixel module and, only when values need it, RescaleSlope/Intercept/Type;
- the case × sequence's :class:`SeriesProfile`, taken from its *reference* arm: default window
  and the MR Image module's Type 1 ScanningSequence and SequenceVariant; the Type 2 MR
  attributes (ScanOptions, MRAcquisitionType, EchoTime, EchoTrainLength, RepetitionTime, and
  InversionTime for IR) are present and empty, so every arm carries the same;
- the source's lossy compression history (LossyImageCompression/Ratio/Method), completed when the
  transfer syntax itself was lossy (:class:`LossyHistory`); the publish checklist flags arms that
  differ in it;
- values set here: new UIDs ``2.25.<random>`` (a fresh *study* UID and frame of reference per
  series, so nothing links the arms of a case), SOP class MR Image Storage (enhanced frames are
  written as single images), ImageType ``DERIVED\\PRIMARY\\OTHER``, SeriesDescription = the sequence name,
  SeriesNumber 1, InstanceNumber by position, empty patient/study identifiers (Type 2),
  PatientIdentityRemoved ``YES``, DeidentificationMethod and its code (113100 Basic Profile,
  113108 Retain Patient Characteristics is *not* claimed: none are kept).

Private tags, overlays, curves, sequences, dates, device, institution and every acquisition
parameter are thereby dropped, including ones no list foresaw. This is the PS3.15 Annex E Basic
Profile's intent reached by construction: a hand-copied removal table (the previous design) was
measured to change nothing once the allow-list existed, and was removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.valuerep import DSfloat
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from .frames import Frame
from .representation import Representation

DEIDENTIFICATION_METHOD = [
    "readerstudy allow-list: new dataset from named attributes only",
    "new Study, Series, SOP Instance and Frame of Reference UIDs",
    "MR attributes equal for all arms (reference arm's or empty)",
]
IMPLEMENTATION_VERSION_NAME = "READERSTUDY_2"

FROM_SOURCE: tuple[str, ...] = ("PatientPosition", "PhotometricInterpretation", "SpacingBetweenSlices")
FROM_FRAME: tuple[str, ...] = (
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "SliceThickness",
    "SliceLocation",
)
PIXEL_MODULE: tuple[str, ...] = (
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
)
PROFILE_TYPE1: tuple[str, ...] = ("ScanningSequence", "SequenceVariant")
PROFILE_TYPE2_EMPTY: tuple[str, ...] = (
    "ScanOptions",
    "MRAcquisitionType",
    "RepetitionTime",
    "EchoTime",
    "EchoTrainLength",
    "InversionTime",
)
LOSSY: tuple[str, ...] = ("LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod")
SET_HERE: tuple[str, ...] = (
    "SpecificCharacterSet",
    "ImageType",
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "Manufacturer",
    "StudyID",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "SeriesDescription",
    "SeriesNumber",
    "Laterality",
    "InstanceNumber",
    "WindowCenter",
    "WindowWidth",
)
ALLOWED: frozenset[str] = frozenset(FROM_SOURCE + FROM_FRAME + PIXEL_MODULE + PROFILE_TYPE1 + PROFILE_TYPE2_EMPTY + LOSSY + SET_HERE)
# Attributes that identify one instance or series and so differ between arms by design.
PER_INSTANCE: frozenset[str] = frozenset(
    {"SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "InstanceNumber",
     "ImagePositionPatient", "SliceLocation", "PixelData"}
)

_ECHO_PULSE_TO_SCANNING = {"SPIN": ["SE"], "GRADIENT": ["GR"], "BOTH": ["SE", "GR"]}


def _ds(value: float) -> DSfloat:
    """A decimal string of at most 16 characters (PS3.5), rounded as little as that allows."""
    return DSfloat(float(value), auto_format=True)


def new_uid() -> str:
    """A fresh UID ``2.25.<uuid4 as integer>``: random, no organization root, nothing derivable."""
    return generate_uid(prefix=None)


@dataclass(frozen=True)
class BlindedUIDs:
    study: str
    series: str
    frame_of_reference: str


@dataclass(frozen=True)
class SeriesProfile:
    """What every arm of one case × sequence is served with: the reference arm's window and MR
    Type 1 attributes."""

    window: tuple[float, float]
    scanning_sequence: tuple[str, ...] = ("SE",)
    sequence_variant: tuple[str, ...] = ("NONE",)


def _multi(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, (list, tuple, MultiValue)):
        return tuple(str(v) for v in value)
    return (str(value),)


def mr_type1_of(source: Dataset) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ScanningSequence, SequenceVariant) of a source image; for Enhanced MR, derived from its
    EchoPulseSequence / InversionRecovery / EchoPlanarPulseSequence."""
    scanning = _multi(source.get("ScanningSequence"))
    variant = _multi(source.get("SequenceVariant"))
    if not scanning:
        derived = list(_ECHO_PULSE_TO_SCANNING.get(str(source.get("EchoPulseSequence", "")).upper(), []))
        if str(source.get("InversionRecovery", "")).upper() == "YES":
            derived.append("IR")
        if str(source.get("EchoPlanarPulseSequence", "")).upper() == "YES":
            derived.append("EP")
        scanning = tuple(derived) or ("RM",)
    return scanning, variant or ("NONE",)


@dataclass(frozen=True)
class LossyHistory:
    """LossyImageCompression and, when lossy, its ratio(s) and method(s) (PS3.3 C.7.6.1.1.5)."""

    lossy: bool = False
    ratios: tuple[str, ...] = field(default_factory=tuple)
    methods: tuple[str, ...] = field(default_factory=tuple)


def lossy_history(source: Dataset, *, syntax: str, lossy_method: str | None, always_lossy: bool, ratio: float | None) -> LossyHistory:
    """The history to keep: the source's own, plus the compression its transfer syntax applied."""
    said = str(source.get("LossyImageCompression", "") or "").strip()
    ratios = _multi(source.get("LossyImageCompressionRatio"))
    methods = _multi(source.get("LossyImageCompressionMethod"))
    lossy = said == "01"
    syntax_lossy = lossy_method is not None and (always_lossy or said != "00")
    if syntax_lossy:
        lossy = True
        if lossy_method not in methods:
            methods = methods + (lossy_method,)
            if ratio:
                ratios = ratios + (f"{ratio:.2f}"[:16],)
    if not lossy:
        return LossyHistory()
    return LossyHistory(True, ratios, methods)


def blind_frame(
    source: Dataset,
    *,
    frame: Frame,
    stored: np.ndarray,
    representation: Representation,
    profile: SeriesProfile,
    lossy: LossyHistory,
    uids: BlindedUIDs,
    sop_instance_uid: str,
    series_description: str,
    instance_number: int,
) -> Dataset:
    """The blinded copy of one frame of ``source`` as an MR Image Storage instance.

    ``stored`` is the frame already in ``representation`` (see
    :func:`readerstudy.imports.representation.to_stored`).
    """
    out = Dataset()
    out.SpecificCharacterSet = "ISO_IR 192"
    out.ImageType = ["DERIVED", "PRIMARY", "OTHER"]  # value 3 is required for MR
    out.SOPClassUID = MRImageStorage
    out.SOPInstanceUID = sop_instance_uid
    out.StudyDate = ""
    out.StudyTime = ""
    out.AccessionNumber = ""
    out.Modality = "MR"
    out.Manufacturer = ""
    out.ReferringPhysicianName = ""
    out.SeriesDescription = series_description
    out.PatientName = ""
    out.PatientID = ""
    out.PatientBirthDate = ""
    out.PatientSex = ""
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = [code]
    out.LongitudinalTemporalInformationModified = "REMOVED"

    # MR Image module: Type 1 from the reference arm, Type 2 present and empty for every arm.
    out.ScanningSequence = list(profile.scanning_sequence)
    out.SequenceVariant = list(profile.sequence_variant)
    out.ScanOptions = ""
    out.MRAcquisitionType = ""
    out.SliceThickness = _ds(frame.thickness_mm) if frame.thickness_mm is not None else ""
    if "SpacingBetweenSlices" in source and source.SpacingBetweenSlices not in (None, ""):
        out.SpacingBetweenSlices = source.SpacingBetweenSlices
    out.RepetitionTime = ""
    out.EchoTime = ""
    if "IR" in profile.scanning_sequence:
        out.InversionTime = ""
    out.EchoTrainLength = ""
    out.PatientPosition = source.get("PatientPosition", "") or ""

    out.StudyInstanceUID = uids.study
    out.SeriesInstanceUID = uids.series
    out.StudyID = ""
    out.SeriesNumber = 1
    out.Laterality = ""  # Type 2C of General Series
    out.InstanceNumber = instance_number
    out.ImagePositionPatient = [_ds(v) for v in frame.position]
    out.ImageOrientationPatient = [_ds(v) for v in frame.orientation]
    out.FrameOfReferenceUID = uids.frame_of_reference
    out.PositionReferenceIndicator = ""
    normal = np.cross(np.array(frame.orientation[:3]), np.array(frame.orientation[3:]))
    out.SliceLocation = _ds(float(np.dot(frame.position, normal)))

    out.SamplesPerPixel = 1
    out.PhotometricInterpretation = str(source.get("PhotometricInterpretation", "MONOCHROME2"))
    out.Rows = frame.rows
    out.Columns = frame.columns
    out.PixelSpacing = [_ds(v) for v in frame.pixel_spacing]
    out.BitsAllocated = representation.bits_allocated
    out.BitsStored = representation.bits_stored
    out.HighBit = representation.high_bit
    out.PixelRepresentation = 1 if representation.signed else 0
    out.LossyImageCompression = "01" if lossy.lossy else "00"
    if lossy.lossy and lossy.ratios:
        out.LossyImageCompressionRatio = list(lossy.ratios)
    if lossy.lossy and lossy.methods:
        out.LossyImageCompressionMethod = list(lossy.methods)
    out.WindowCenter = _ds(profile.window[0])
    out.WindowWidth = _ds(profile.window[1])
    if representation.has_rescale:
        out.RescaleIntercept = _ds(representation.intercept)
        out.RescaleSlope = _ds(representation.slope)
        out.RescaleType = "US"
    if stored.shape != (frame.rows, frame.columns):
        raise ValueError(f"frame pixels {stored.shape} do not match {frame.rows}×{frame.columns}")
    out.PixelData = np.ascontiguousarray(stored, dtype=representation.dtype).tobytes()
    out["PixelData"].VR = "OW"

    unexpected = {elem.keyword for elem in out} - ALLOWED
    if unexpected:  # pragma: no cover - a programming error, caught by the tests
        raise AssertionError(f"not in the allow-list: {sorted(unexpected)}")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    out.file_meta = meta
    return out
