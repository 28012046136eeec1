"""Reading headers (no pixel data) and the attributes every MR image must have."""

from __future__ import annotations

import pydicom
from pydicom.errors import InvalidDicomError

from .archive import SourceFile

# What grouping and mapping need; the image attributes are checked per series (validation.py),
# so that a series skipped on request may hold anything DICOM.
REQUIRED_ATTRIBUTES = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID")



def read_header(f: SourceFile) -> tuple[pydicom.Dataset | None, str | None]:
    try:
        ds = pydicom.dcmread(f.path, stop_before_pixels=True)
    except InvalidDicomError:
        return None, "not a DICOM file (no DICM header)"
    except Exception as exc:  # noqa: BLE001 - any parser failure is this file's problem
        return None, f"broken DICOM file: {type(exc).__name__}: {exc}"
    missing = [k for k in REQUIRED_ATTRIBUTES if k not in ds or ds[k].value in (None, "", [])]
    if missing:
        return None, f"broken or incomplete DICOM file: missing {', '.join(missing)}"
    return ds, None
