"""Blinded copies of DICOM instances (DESIGN.md "Blinding and integrity rules").

A reader must not learn from a served file the patient, nor the arm, nor any protocol parameter
that differs between arms (NEX, acceleration, partial Fourier, DL, noise-reduction factor).
A blinded copy is made in three layers, each sufficient for what it names:

1. **PS3.15 Annex E, Basic Application Level Confidentiality Profile** (:func:`apply_basic_profile`):
   the action of Table E.1-1 (X remove, Z zero-length, D dummy, U new UID, K keep) for every
   attribute in :data:`ANNEX_E_BASIC_PROFILE`, in nested sequence items too; private tags
   removed; the repeating overlay and curve groups (50xx, 60xx: Overlay Data and Comments are
   "X" in the table) removed whole. Where the standard offers a choice
   (``X/Z/D``) we take the most removing one the attribute's type allows.
2. **Arm-revealing attributes** (:data:`ARM_REVEALING`): acquisition and reconstruction
   parameters (NumberOfAverages, parallel/partial-Fourier factors, ProtocolName, SequenceName,
   ImageComments, DerivationDescription, SoftwareVersions, ImageType, the MR acquisition
   parameters, referenced and source images...) are removed or neutralized. MR Image Storage
   makes ScanningSequence, SequenceVariant, EchoTime and friends mandatory; we drop them anyway,
   because viewers do not need them and an accelerated protocol often changes them.
3. **Allow-list** (:data:`KEPT`): the blinded copy is a *new* dataset into which only what a
   viewer needs is copied (pixel data, pixel module, image plane geometry, rescale), plus the
   values this module sets. Any attribute not named here, including ones no list foresaw, never
   reaches a reader.

Set by us: new Study/Series/SOP Instance/Frame of Reference UIDs (``2.25.<uuid4>``, nothing
derivable; a fresh study UID per *series* so nothing links the arms of a case), a neutral
SeriesDescription (the sequence name), SeriesNumber 1, InstanceNumber from the position along
the slice normal, ImageType ``DERIVED\\PRIMARY``, a default window computed the same way for
every series from its own pixels (scanner or DL-recon presets differ by arm),
PatientIdentityRemoved ``YES`` and DeidentificationMethod (+ code sequence, CID 7050).
The file meta header is rewritten too (no source implementation version, no AE title).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

# DeidentificationMethod is LO (64 characters a value), so the description is multi-valued.
DEIDENTIFICATION_METHOD = [
    "DICOM PS3.15 E.1.1 Basic Application Confidentiality Profile",
    "readerstudy blinding: private attributes removed",
    "acquisition and reconstruction attributes removed",
    "new Study, Series, SOP Instance and Frame of Reference UIDs",
]
IMPLEMENTATION_VERSION_NAME = "READERSTUDY_1"

# PS3.15 Table E.1-1, Basic Profile column: keyword -> (the standard's action code, what we do).
ANNEX_E_BASIC_PROFILE: dict[str, tuple[str, str]] = {
    "AccessionNumber": ("Z", "Z"),
    "AcquisitionComments": ("X", "X"),
    "AcquisitionContextSequence": ("X", "X"),
    "AcquisitionDate": ("X/Z", "X"),
    "AcquisitionDateTime": ("X/Z/D", "X"),
    "AcquisitionDeviceProcessingDescription": ("X/D", "X"),
    "AcquisitionProtocolDescription": ("X", "X"),
    "AcquisitionTime": ("X/Z", "X"),
    "ActualHumanPerformersSequence": ("X", "X"),
    "AdditionalPatientHistory": ("X", "X"),
    "AdmissionID": ("X", "X"),
    "AdmittingDate": ("X", "X"),
    "AdmittingDiagnosesCodeSequence": ("X", "X"),
    "AdmittingDiagnosesDescription": ("X", "X"),
    "AdmittingTime": ("X", "X"),
    "AffectedSOPInstanceUID": ("X", "X"),
    "Allergies": ("X", "X"),
    "AuthorObserverSequence": ("X", "X"),
    "BranchOfService": ("X", "X"),
    "CassetteID": ("X", "X"),
    "CommentsOnThePerformedProcedureStep": ("X", "X"),
    "ConcatenationUID": ("U", "U"),
    "ConfidentialityConstraintOnPatientDataDescription": ("X", "X"),
    "ContentCreatorName": ("Z", "Z"),
    "ContentCreatorIdentificationCodeSequence": ("X", "X"),
    "ContentDate": ("Z/D", "Z"),
    "ContentSequence": ("X", "X"),
    "ContentTime": ("Z/D", "Z"),
    "ContrastBolusAgent": ("Z/D", "Z"),
    "ContributionDescription": ("X", "X"),
    "CountryOfResidence": ("X", "X"),
    "CurrentPatientLocation": ("X", "X"),
    "CustodialOrganizationSequence": ("X", "X"),
    "DataSetTrailingPadding": ("X", "X"),
    "DerivationDescription": ("X", "X"),
    "DetectorID": ("X/D", "X"),
    "DeviceSerialNumber": ("X/Z/D", "X"),
    "DeviceUID": ("U", "U"),
    "DigitalSignatureUID": ("X", "X"),
    "DigitalSignaturesSequence": ("X", "X"),
    "DimensionOrganizationUID": ("U", "U"),
    "DischargeDiagnosisDescription": ("X", "X"),
    "DistributionAddress": ("X", "X"),
    "DistributionName": ("X", "X"),
    "DoseReferenceUID": ("U", "U"),
    "EthnicGroup": ("X", "X"),
    "FailedSOPInstanceUIDList": ("U", "U"),
    "FiducialUID": ("U", "U"),
    "FillerOrderNumberImagingServiceRequest": ("Z", "Z"),
    "FrameComments": ("X", "X"),
    "FrameOfReferenceUID": ("U", "U"),
    "GantryID": ("X", "X"),
    "GeneratorID": ("X", "X"),
    "GraphicAnnotationSequence": ("D", "X"),
    "HumanPerformerName": ("X", "X"),
    "HumanPerformerOrganization": ("X", "X"),
    "IconImageSequence": ("X", "X"),
    "IdentifyingComments": ("X", "X"),
    "ImageComments": ("X", "X"),
    "ImagePresentationComments": ("X", "X"),
    "ImagingServiceRequestComments": ("X", "X"),
    "Impressions": ("X", "X"),
    "InstanceCoercionDateTime": ("X", "X"),
    "InstanceCreationDate": ("X/D", "X"),
    "InstanceCreationTime": ("X/Z/D", "X"),
    "InstanceCreatorUID": ("U", "U"),
    "InstitutionAddress": ("X", "X"),
    "InstitutionCodeSequence": ("X/Z/D", "X"),
    "InstitutionName": ("X/Z/D", "X"),
    "InstitutionalDepartmentName": ("X", "X"),
    "InsurancePlanIdentification": ("X", "X"),
    "IntendedRecipientsOfResultsIdentificationSequence": ("X", "X"),
    "InterpretationApproverSequence": ("X", "X"),
    "InterpretationAuthor": ("X", "X"),
    "InterpretationDiagnosisDescription": ("X", "X"),
    "InterpretationIDIssuer": ("X", "X"),
    "InterpretationRecorder": ("X", "X"),
    "InterpretationText": ("X", "X"),
    "InterpretationTranscriber": ("X", "X"),
    "IrradiationEventUID": ("U", "U"),
    "IssuerOfAdmissionID": ("X", "X"),
    "IssuerOfPatientID": ("X", "X"),
    "IssuerOfServiceEpisodeID": ("X", "X"),
    "LargePaletteColorLookupTableUID": ("U", "U"),
    "MAC": ("X", "X"),
    "MediaStorageSOPInstanceUID": ("U", "U"),
    "MedicalAlerts": ("X", "X"),
    "MedicalRecordLocator": ("X", "X"),
    "MilitaryRank": ("X", "X"),
    "ModifiedAttributesSequence": ("X", "X"),
    "ModifiedImageDescription": ("X", "X"),
    "ModifyingDeviceID": ("X", "X"),
    "ModifyingDeviceManufacturer": ("X", "X"),
    "NameOfPhysiciansReadingStudy": ("X", "X"),
    "NamesOfIntendedRecipientsOfResults": ("X", "X"),
    "Occupation": ("X", "X"),
    "OperatorIdentificationSequence": ("X", "X"),
    "OperatorsName": ("X/Z/D", "X"),
    "OrderCallbackPhoneNumber": ("X", "X"),
    "OrderEnteredBy": ("X", "X"),
    "OrderEntererLocation": ("X", "X"),
    "OriginalAttributesSequence": ("X", "X"),
    "OtherPatientIDs": ("X", "X"),
    "OtherPatientIDsSequence": ("X", "X"),
    "OtherPatientNames": ("X", "X"),
    "PaletteColorLookupTableUID": ("U", "U"),
    "ParticipantSequence": ("X", "X"),
    "PatientAddress": ("X", "X"),
    "PatientAge": ("X", "X"),
    "PatientBirthDate": ("Z", "Z"),
    "PatientBirthName": ("X", "X"),
    "PatientBirthTime": ("X", "X"),
    "PatientComments": ("X", "X"),
    "PatientID": ("Z", "Z"),
    "PatientInstitutionResidence": ("X", "X"),
    "PatientInsurancePlanCodeSequence": ("X", "X"),
    "PatientMotherBirthName": ("X", "X"),
    "PatientName": ("Z", "Z"),
    "PatientPrimaryLanguageCodeSequence": ("X", "X"),
    "PatientPrimaryLanguageModifierCodeSequence": ("X", "X"),
    "PatientReligiousPreference": ("X", "X"),
    "PatientSex": ("Z", "Z"),
    "PatientSexNeutered": ("X/Z", "X"),
    "PatientSize": ("X", "X"),
    "PatientState": ("X", "X"),
    "PatientTelephoneNumbers": ("X", "X"),
    "PatientTransportArrangements": ("X", "X"),
    "PatientWeight": ("X", "X"),
    "PerformedLocation": ("X", "X"),
    "PerformedProcedureStepDescription": ("X", "X"),
    "PerformedProcedureStepEndDate": ("X", "X"),
    "PerformedProcedureStepEndTime": ("X", "X"),
    "PerformedProcedureStepID": ("X", "X"),
    "PerformedProcedureStepStartDate": ("X", "X"),
    "PerformedProcedureStepStartTime": ("X", "X"),
    "PerformedStationAETitle": ("X", "X"),
    "PerformedStationGeographicLocationCodeSequence": ("X", "X"),
    "PerformedStationName": ("X", "X"),
    "PerformedStationNameCodeSequence": ("X", "X"),
    "PerformingPhysicianIdentificationSequence": ("X", "X"),
    "PerformingPhysicianName": ("X", "X"),
    "PersonAddress": ("X", "X"),
    "PersonIdentificationCodeSequence": ("D", "X"),
    "PersonName": ("D", "D"),
    "PersonTelephoneNumbers": ("X", "X"),
    "PhysicianApprovingInterpretation": ("X", "X"),
    "PhysiciansOfRecord": ("X", "X"),
    "PhysiciansOfRecordIdentificationSequence": ("X", "X"),
    "PhysiciansReadingStudyIdentificationSequence": ("X", "X"),
    "PlacerOrderNumberImagingServiceRequest": ("Z", "Z"),
    "PlateID": ("X", "X"),
    "PreMedication": ("X", "X"),
    "PregnancyStatus": ("X", "X"),
    "ProtocolName": ("X/D", "X"),
    "ReasonForStudy": ("X", "X"),
    "ReasonForTheImagingServiceRequest": ("X", "X"),
    "ReferencedDigitalSignatureSequence": ("X", "X"),
    "ReferencedFrameOfReferenceUID": ("U", "U"),
    "ReferencedImageSequence": ("X/Z/U", "X"),
    "ReferencedPatientAliasSequence": ("X", "X"),
    "ReferencedPatientSequence": ("X", "X"),
    "ReferencedPerformedProcedureStepSequence": ("X/Z/D", "X"),
    "ReferencedSOPInstanceMACSequence": ("X", "X"),
    "ReferencedSOPInstanceUID": ("U", "U"),
    "ReferencedSOPInstanceUIDInFile": ("U", "U"),
    "ReferencedStudySequence": ("X/Z", "X"),
    "ReferringPhysicianAddress": ("X", "X"),
    "ReferringPhysicianIdentificationSequence": ("X", "X"),
    "ReferringPhysicianName": ("Z", "Z"),
    "ReferringPhysicianTelephoneNumbers": ("X", "X"),
    "RegionOfResidence": ("X", "X"),
    "RelatedFrameOfReferenceUID": ("U", "U"),
    "RequestAttributesSequence": ("X", "X"),
    "RequestedContrastAgent": ("X", "X"),
    "RequestedProcedureComments": ("X", "X"),
    "RequestedProcedureDescription": ("X/Z", "X"),
    "RequestedProcedureID": ("X", "X"),
    "RequestedProcedureLocation": ("X", "X"),
    "RequestedSOPInstanceUID": ("U", "U"),
    "RequestingPhysician": ("X", "X"),
    "RequestingService": ("X", "X"),
    "RespiratoryMotionCompensationTechniqueDescription": ("X", "X"),
    "ResponsibleOrganization": ("X", "X"),
    "ResponsiblePerson": ("X", "X"),
    "ResultsComments": ("X", "X"),
    "ResultsDistributionListSequence": ("X", "X"),
    "ResultsIDIssuer": ("X", "X"),
    "ReviewerName": ("X/Z", "X"),
    "ScheduledHumanPerformersSequence": ("X", "X"),
    "ScheduledPatientInstitutionResidence": ("X", "X"),
    "ScheduledPerformingPhysicianIdentificationSequence": ("X", "X"),
    "ScheduledPerformingPhysicianName": ("X", "X"),
    "ScheduledProcedureStepDescription": ("X", "X"),
    "ScheduledProcedureStepEndDate": ("X", "X"),
    "ScheduledProcedureStepEndTime": ("X", "X"),
    "ScheduledProcedureStepLocation": ("X", "X"),
    "ScheduledProcedureStepStartDate": ("X", "X"),
    "ScheduledProcedureStepStartTime": ("X", "X"),
    "ScheduledStationAETitle": ("X", "X"),
    "ScheduledStationGeographicLocationCodeSequence": ("X", "X"),
    "ScheduledStationName": ("X", "X"),
    "ScheduledStationNameCodeSequence": ("X", "X"),
    "ScheduledStudyLocation": ("X", "X"),
    "ScheduledStudyLocationAETitle": ("X", "X"),
    "SeriesDate": ("X/D", "X"),
    "SeriesDescription": ("X", "X"),
    "SeriesInstanceUID": ("U", "U"),
    "SeriesTime": ("X/D", "X"),
    "ServiceEpisodeDescription": ("X", "X"),
    "ServiceEpisodeID": ("X", "X"),
    "SmokingStatus": ("X", "X"),
    "SOPInstanceUID": ("U", "U"),
    "SourceImageSequence": ("X/Z/U", "X"),
    "SpecialNeeds": ("X", "X"),
    "StationName": ("X/Z/D", "X"),
    "StorageMediaFileSetUID": ("U", "U"),
    "StudyComments": ("X", "X"),
    "StudyDate": ("Z", "Z"),
    "StudyDescription": ("X", "X"),
    "StudyID": ("Z", "Z"),
    "StudyIDIssuer": ("X", "X"),
    "StudyInstanceUID": ("U", "U"),
    "StudyTime": ("Z", "Z"),
    "SynchronizationFrameOfReferenceUID": ("U", "U"),
    "TextComments": ("X", "X"),
    "TextString": ("X", "X"),
    "TimezoneOffsetFromUTC": ("X", "X"),
    "TopicAuthor": ("X", "X"),
    "TopicKeywords": ("X", "X"),
    "TopicSubject": ("X", "X"),
    "TopicTitle": ("X", "X"),
    "TransactionUID": ("U", "U"),
    "UID": ("U", "U"),
    "VerifyingObserverIdentificationCodeSequence": ("Z", "Z"),
    "VerifyingObserverName": ("D", "D"),
    "VerifyingObserverSequence": ("D", "X"),
    "VerifyingOrganization": ("X", "X"),
    "VisitComments": ("X", "X"),
}

# Attributes that can tell one arm from another (acquisition, reconstruction, provenance).
# Removed or replaced by a neutral value; never in KEPT.
ARM_REVEALING: frozenset[str] = frozenset(
    {
        "NumberOfAverages",
        "ParallelReductionFactorInPlane",
        "ParallelReductionFactorOutOfPlane",
        "ParallelReductionFactorSecondInPlane",
        "ParallelAcquisition",
        "ParallelAcquisitionTechnique",
        "PartialFourier",
        "PartialFourierDirection",
        "ProtocolName",
        "SequenceName",
        "PulseSequenceName",
        "ImageComments",
        "DerivationDescription",
        "DerivationCodeSequence",
        "SoftwareVersions",
        "AcquisitionDuration",
        "AcquisitionContextSequence",
        "AcquisitionDeviceProcessingDescription",
        "PercentSampling",
        "PercentPhaseFieldOfView",
        "EchoTrainLength",
        "NumberOfPhaseEncodingSteps",
        "AcquisitionMatrix",
        "PixelBandwidth",
        "RepetitionTime",
        "EchoTime",
        "InversionTime",
        "FlipAngle",
        "SAR",
        "dBdt",
        "ScanOptions",
        "SequenceVariant",
        "ScanningSequence",
        "MRAcquisitionType",
        "ImagingFrequency",
        "ReceiveCoilName",
        "TransmitCoilName",
        "ImageType",
        "SeriesDescription",
        "SeriesNumber",
        "AcquisitionNumber",
        "InstanceNumber",
        "SourceImageSequence",
        "ReferencedImageSequence",
        "ReferencedSeriesSequence",
        "WindowCenter",
        "WindowWidth",
        "WindowCenterWidthExplanation",
        "SmallestImagePixelValue",
        "LargestImagePixelValue",
        "LossyImageCompression",
        "LossyImageCompressionRatio",
        "LossyImageCompressionMethod",
        "ContentQualification",
        "ImageProcessingApplied",
        "SeriesTime",
        "AcquisitionTime",
        "ContentTime",
        "Manufacturer",
        "ManufacturerModelName",
        "StationName",
        "DeviceSerialNumber",
    }
)

# What a viewer needs, copied verbatim (values are checked for consistency on import).
KEPT: tuple[str, ...] = (
    "SOPClassUID",
    "Modality",
    "PatientPosition",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelSpacing",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SliceLocation",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
)

_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_DUMMY_BY_VR = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "PN": "ANONYMIZED",
    "AS": "000Y",
}


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise LookupError(f"{keyword} is not a DICOM keyword known to pydicom")
    return tag


_PROFILE_BY_TAG: dict[int, str] = {_tag(k): applied for k, (_, applied) in ANNEX_E_BASIC_PROFILE.items()}
_ARM_REVEALING_TAGS: frozenset[int] = frozenset(_tag(k) for k in ARM_REVEALING)
assert not set(KEPT) & ARM_REVEALING, "an arm-revealing attribute may never be kept"
assert not {k for k in KEPT if ANNEX_E_BASIC_PROFILE.get(k, ("K", "K"))[1] != "K"}, "KEPT must be Annex E 'K'"


def new_uid() -> str:
    """A fresh UID ``2.25.<uuid4 as integer>``: random, no organization root, nothing derivable."""
    return generate_uid(prefix=None)


class UIDMap(dict):
    """Original UID -> blinded UID, generating a fresh one the first time an original is seen."""

    def replace(self, original: str) -> str:
        original = str(original)
        if original not in self:
            self[original] = new_uid()
        return self[original]


def _replace_uids(value, uid_map: UIDMap):
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        return [uid_map.replace(v) for v in value]
    return uid_map.replace(value) if value else value


def _is_overlay_or_curve(tag) -> bool:
    group = tag.group
    return 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF


def _is_sequence(ds: Dataset, tag) -> bool:
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None)
    if not vr:  # implicit VR files leave it to the dictionary
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return False
    return vr == "SQ"


def apply_basic_profile(ds: Dataset, uid_map: UIDMap) -> None:
    """Apply the PS3.15 Annex E basic profile to ``ds`` in place (nested items too).

    ``uid_map`` gives the replacement of every UID the profile replaces (action U) and is
    filled with fresh UIDs for originals it does not know yet, so one import maps each original
    consistently.
    """
    # Walk the tags, not the elements: decoding values we are about to delete is the slow part.
    for tag in list(ds.keys()):
        if tag.is_private or _is_overlay_or_curve(tag):
            del ds[tag]
            continue
        action = _PROFILE_BY_TAG.get(int(tag))
        if action is None or action == "K":
            if _is_sequence(ds, tag):
                for item in ds[tag].value or []:
                    apply_basic_profile(item, uid_map)
            continue
        if action == "X":
            del ds[tag]
            continue
        elem = ds[tag]
        if action == "Z":
            if elem.VR == "SQ":
                elem.value = DicomSequence([])
            else:
                elem.value = "" if elem.VR in _TEXT_VRS else None
        elif action == "D":
            if elem.VR == "SQ":
                elem.value = DicomSequence([])
            elif elem.VR == "UI":
                elem.value = new_uid()
            else:
                elem.value = _DUMMY_BY_VR.get(elem.VR, "ANONYMIZED" if elem.VR in {"LO", "SH", "LT", "ST", "UT"} else None)
        elif action == "U":
            if elem.VR == "SQ":
                del ds[tag]
            else:
                elem.value = _replace_uids(elem.value, uid_map)
        else:  # pragma: no cover - the table only holds the codes above
            raise ValueError(f"unknown Annex E action {action!r}")
    if getattr(ds, "file_meta", None) is not None and "MediaStorageSOPInstanceUID" in ds.file_meta:
        ds.file_meta.MediaStorageSOPInstanceUID = uid_map.replace(ds.file_meta.MediaStorageSOPInstanceUID)


def remove_arm_revealing(ds: Dataset) -> None:
    """Remove every attribute of :data:`ARM_REVEALING` (top level and nested items)."""
    for tag in list(ds.keys()):
        if int(tag) in _ARM_REVEALING_TAGS:
            del ds[tag]
            continue
        if _is_sequence(ds, tag):
            for item in ds[tag].value or []:
                remove_arm_revealing(item)


@dataclass(frozen=True)
class BlindedUIDs:
    study: str
    series: str
    frame_of_reference: str


def default_window(arrays: Iterable[np.ndarray], slope: float = 1.0, intercept: float = 0.0) -> tuple[float, float]:
    """(center, width) from the 0.5th..99.5th percentile of a series' output values.

    The same rule for every series, so the default window depends on the images only, never
    on the preset a scanner or reconstruction wrote (which differs by arm).
    """
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) * slope + intercept
    lo, hi = np.percentile(values, [0.5, 99.5])
    width = max(float(hi - lo), 1.0)
    return round(float(lo + hi) / 2, 1), round(width, 1)


def _pixel_bytes(pixels: np.ndarray, bits_allocated: int, signed: bool) -> bytes:
    if bits_allocated == 8:
        return np.ascontiguousarray(pixels, dtype=np.int8 if signed else np.uint8).tobytes()
    if bits_allocated == 16:
        return np.ascontiguousarray(pixels, dtype="<i2" if signed else "<u2").tobytes()
    if bits_allocated == 32:
        return np.ascontiguousarray(pixels, dtype="<i4" if signed else "<u4").tobytes()
    raise ValueError(f"BitsAllocated {bits_allocated} is not supported")


def blind_dataset(
    source: Dataset,
    *,
    pixels: np.ndarray,
    uids: BlindedUIDs,
    uid_map: UIDMap,
    series_description: str,
    instance_number: int,
    window: tuple[float, float],
) -> Dataset:
    """Return the blinded copy of one single-frame image.

    Parameters
    ----------
    source
        The original dataset; modified in place by the Annex E and arm-revealing passes, so pass
        a dataset you do not need afterwards (or a copy).
    pixels
        The decoded pixel array (``source.pixel_array``), written back uncompressed little endian.
    uids
        The blinded study, series and frame-of-reference UIDs of the series this instance joins.
    uid_map
        Original -> blinded UIDs; ``source``'s SOP Instance UID must map to the new one already
        or gets a fresh one here.
    series_description
        Neutral text for SeriesDescription (the sequence name).
    instance_number
        1-based position along the slice normal.
    window
        (center, width) from :func:`default_window`.
    """
    apply_basic_profile(source, uid_map)
    remove_arm_revealing(source)

    out = Dataset()
    for keyword in KEPT:
        if keyword in source:
            elem = source[_tag(keyword)]
            value = list(elem.value) if isinstance(elem.value, MultiValue) else elem.value
            out.add_new(elem.tag, elem.VR, value)
    sop_uid = source.SOPInstanceUID  # replaced by apply_basic_profile through uid_map
    out.SpecificCharacterSet = "ISO_IR 192"
    out.ImageType = ["DERIVED", "PRIMARY"]
    out.SOPInstanceUID = sop_uid
    # Type 2 attributes of the patient, study and equipment modules: present, empty (Annex E "Z").
    out.StudyDate = ""
    out.StudyTime = ""
    out.AccessionNumber = ""
    out.ReferringPhysicianName = ""
    out.Manufacturer = ""
    out.StudyID = ""
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
    out.StudyInstanceUID = uids.study
    out.SeriesInstanceUID = uids.series
    out.FrameOfReferenceUID = uids.frame_of_reference
    out.PositionReferenceIndicator = ""
    out.SeriesDescription = series_description
    out.SeriesNumber = 1
    out.InstanceNumber = instance_number
    out.WindowCenter = window[0]
    out.WindowWidth = window[1]
    bits = int(source.BitsAllocated)
    signed = int(source.get("PixelRepresentation", 0)) == 1
    out.PixelData = _pixel_bytes(pixels, bits, signed)
    out["PixelData"].VR = "OB" if bits == 8 else "OW"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    out.file_meta = meta
    return out
