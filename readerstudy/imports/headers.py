"""Reading headers (no pixel data) and the attributes every MR image must have."""

from __future__ import annotations

import pydicom
from pydicom.errors import InvalidDicomError

from .archive import SourceFile

REQUIRED_ATTRIBUTES = (
    "SOPClassUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "Rows",
    "Columns",
    "BitsAllocated",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PixelSpacing",
    "ImageOrientationPatient",
    "ImagePositionPatient",
)



def read_header(f: SourceFile) -> tuple[pydicom.Dataset | None, str | None]:
    try:
        ds = pydicom.dcmread(f.path, stop_before_pixels=True)
    except InvalidDicomError:
        return None, "not a DICOM file (no DICM header)"
    except Exception as exc:  # noqa: BLE001 - any parser failure is this file's problem
        return None, f"broken DICOM file: {type(exc).__name__}: {exc}"
    missing = [k for k in REQUIRED_ATTRIBUTES if k not in ds or ds[k].value in (None, "", [])]
    modality = str(ds.get("Modality", "") or "")
    if missing and modality and modality.upper() != "MR":
        return None, f"modality is {modality}, expected MR"
    if missing:
        return None, f"broken or incomplete DICOM file: missing {', '.join(missing)}"
    return ds, None


def floats(value, n: int) -> list[float] | None:
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None

