"""One DICOM object → the 2-D images (frames) it holds, each with its own geometry and values.

- Classic MR Image Storage: one frame, geometry from the Image Plane module.
- Enhanced MR / Legacy Converted Enhanced MR: one frame per item of the Per-frame Functional
  Groups, each overlaid on the Shared Functional Groups: Pixel Measures (PixelSpacing,
  SliceThickness), Plane Orientation, Plane Position, Pixel Value Transformation (rescale) and
  Frame VOI LUT (window). A frame missing any of the geometry groups is an error.
- Siemens MOSAIC (ImageType contains ``MOSAIC``): the tiles are unpacked when the private
  NumberOfImagesInMosaic (0019,100A) says how many there are; tile positions follow the usual
  correction (the mosaic's position is that of the whole tiled image) along the slice normal
  (private SliceNormalVector (0019,100E), else row × column cosines) at SpacingBetweenSlices
  (else SliceThickness). Without those tags the image is refused: a tiled image is never
  imported as one slice.

Everything here works on headers read without pixel data, so an import can plan and validate
before decoding anything; :func:`frame_pixels` then cuts the decoded array into the frames.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.uid import MRImageStorage

ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
LEGACY_ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.4"
ENHANCED_MR_COLOR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.3"
MR_SPECTROSCOPY_STORAGE = "1.2.840.10008.5.1.4.1.1.4.2"
MULTIFRAME_MR = {ENHANCED_MR_STORAGE, LEGACY_ENHANCED_MR_STORAGE}
SIEMENS_MR_HEADER = "SIEMENS MR HEADER"


class FrameError(ValueError):
    """The object's frames cannot be made into images (the message says why)."""


@dataclass(frozen=True)
class Frame:
    """One 2-D image of a DICOM object, with everything the import needs about it."""

    number: int  # 1-based frame number in a multi-frame object; 1 for single-frame
    tile: int | None  # 0-based tile of a MOSAIC, else None
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]
    orientation: tuple[float, ...]  # 6 direction cosines
    position: tuple[float, float, float]
    thickness_mm: float | None
    slope: float
    intercept: float
    window: tuple[float, float] | None


def _floats(value, n: int, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in (value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]))
    except (TypeError, ValueError):
        raise FrameError(f"{what} is malformed ({value!r})") from None
    if len(out) != n:
        raise FrameError(f"{what} has {len(out)} values, expected {n}")
    return out


def _optional_float(value) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value[0] if isinstance(value, (list, pydicom.multival.MultiValue)) else value)
    except (TypeError, ValueError, IndexError):
        return None


def _window(item) -> tuple[float, float] | None:
    center, width = _optional_float(item.get("WindowCenter")), _optional_float(item.get("WindowWidth"))
    return (center, width) if center is not None and width is not None else None


def is_multiframe(ds: pydicom.Dataset) -> bool:
    return str(ds.get("SOPClassUID", "")) in MULTIFRAME_MR or int(ds.get("NumberOfFrames", 1) or 1) > 1


def is_mosaic(ds: pydicom.Dataset) -> bool:
    return any(str(v).upper() == "MOSAIC" for v in (ds.get("ImageType") or []))


def _check_grayscale(ds: pydicom.Dataset) -> None:
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if samples != 1 or photometric not in {"MONOCHROME1", "MONOCHROME2"}:
        raise FrameError(f"a colour image ({photometric or '?'}, {samples} samples per pixel); MR reads need grayscale")


def frames_of(ds: pydicom.Dataset) -> list[Frame]:
    """The frames of ``ds`` (a header read with or without pixel data); FrameError if it has none usable."""
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == ENHANCED_MR_COLOR_STORAGE:
        raise FrameError("Enhanced MR Color Image Storage: colour images are not read in MR studies")
    if sop_class == MR_SPECTROSCOPY_STORAGE:
        raise FrameError("MR Spectroscopy Storage holds spectra, not images")
    _check_grayscale(ds)
    if sop_class in MULTIFRAME_MR:
        return _enhanced_frames(ds)
    if sop_class != MRImageStorage:
        name = getattr(pydicom.uid.UID(sop_class), "name", sop_class)
        raise FrameError(f"SOP class {name} ({sop_class}) is not MR Image Storage or Enhanced MR Image Storage")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise FrameError(
            f"MR Image Storage with {ds.NumberOfFrames} frames and no functional groups: the frames' geometry is unknown"
        )
    if is_mosaic(ds):
        return _mosaic_frames(ds)
    return [_classic_frame(ds)]


def _plane(item, what: str) -> tuple[tuple[float, float], tuple[float, ...], tuple[float, float, float]]:
    for keyword in ("PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient"):
        if item.get(keyword) in (None, "", []):
            raise FrameError(f"{what}: missing {keyword}")
    spacing = _floats(item.PixelSpacing, 2, f"{what}: PixelSpacing")
    if min(spacing) <= 0:
        raise FrameError(f"{what}: PixelSpacing {list(spacing)} must be positive")
    return (
        spacing,
        _floats(item.ImageOrientationPatient, 6, f"{what}: ImageOrientationPatient"),
        _floats(item.ImagePositionPatient, 3, f"{what}: ImagePositionPatient"),
    )


def _classic_frame(ds: pydicom.Dataset) -> Frame:
    spacing, orientation, position = _plane(ds, "image")
    return Frame(
        number=1,
        tile=None,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        pixel_spacing=spacing,
        orientation=orientation,
        position=position,
        thickness_mm=_optional_float(ds.get("SliceThickness")),
        slope=_optional_float(ds.get("RescaleSlope")) or 1.0,
        intercept=_optional_float(ds.get("RescaleIntercept")) or 0.0,
        window=_window(ds),
    )


def _group(items: list, keyword: str):
    """The first item of functional group ``keyword`` found in ``items`` (per-frame first)."""
    for item in items:
        if item is not None and keyword in item and len(item[keyword].value) > 0:
            return item[keyword].value[0]
    return None


def _enhanced_frames(ds: pydicom.Dataset) -> list[Frame]:
    n = int(ds.get("NumberOfFrames", 0) or 0)
    if n < 1:
        raise FrameError("Enhanced MR without NumberOfFrames")
    shared_seq = ds.get("SharedFunctionalGroupsSequence") or []
    shared = shared_seq[0] if len(shared_seq) else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != n:
        raise FrameError(f"PerFrameFunctionalGroupsSequence has {len(per_frame)} items for {n} frames")
    frames = []
    for i, item in enumerate(per_frame):
        what = f"frame {i + 1}"
        groups = [item, shared]
        measures = _group(groups, "PixelMeasuresSequence")
        orientation = _group(groups, "PlaneOrientationSequence")
        position = _group(groups, "PlanePositionSequence")
        missing = [
            name
            for name, group in (
                ("PixelMeasuresSequence", measures),
                ("PlaneOrientationSequence", orientation),
                ("PlanePositionSequence", position),
            )
            if group is None
        ]
        if missing:
            raise FrameError(f"{what}: the functional groups have no {', '.join(missing)}, so its geometry is unknown")
        plane = pydicom.Dataset()
        plane.PixelSpacing = measures.get("PixelSpacing")
        plane.ImageOrientationPatient = orientation.get("ImageOrientationPatient")
        plane.ImagePositionPatient = position.get("ImagePositionPatient")
        spacing, cosines, pos = _plane(plane, what)
        transform = _group(groups, "PixelValueTransformationSequence")
        voi = _group(groups, "FrameVOILUTSequence")
        frames.append(
            Frame(
                number=i + 1,
                tile=None,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                pixel_spacing=spacing,
                orientation=cosines,
                position=pos,
                thickness_mm=_optional_float(measures.get("SliceThickness")),
                slope=(_optional_float(transform.get("RescaleSlope")) if transform is not None else None) or 1.0,
                intercept=(_optional_float(transform.get("RescaleIntercept")) if transform is not None else None) or 0.0,
                window=_window(voi) if voi is not None else None,
            )
        )
    return frames


def _private_value(ds: pydicom.Dataset, element: int, fmt: str):
    """A value of the Siemens MR header block (group 0019), decoded from raw bytes if needed."""
    try:
        block = ds.private_block(0x0019, SIEMENS_MR_HEADER)
        elem = block[element]
    except (KeyError, ValueError):
        return None
    value = elem.value
    if isinstance(value, bytes):  # implicit VR or UN: little endian per PS3.5
        size = struct.calcsize("<" + fmt)
        if len(value) < size:
            return None
        value = struct.unpack("<" + fmt, value[:size])
        return value if len(value) > 1 else value[0]
    return value


def _mosaic_frames(ds: pydicom.Dataset) -> list[Frame]:
    count = _private_value(ds, 0x0A, "H")
    if not count:
        raise FrameError(
            "Siemens MOSAIC (tiled) image without NumberOfImagesInMosaic (0019,100A): its tiles cannot be "
            "unpacked, and a tiled image is never imported as one slice; export the series as single images"
        )
    count = int(count)
    tiles_per_side = math.ceil(math.sqrt(count))
    rows, columns = int(ds.Rows), int(ds.Columns)
    if rows % tiles_per_side or columns % tiles_per_side:
        raise FrameError(
            f"MOSAIC of {count} images: {rows}×{columns} pixels do not split into {tiles_per_side}×{tiles_per_side} tiles"
        )
    tile_rows, tile_columns = rows // tiles_per_side, columns // tiles_per_side
    spacing, cosines, position = _plane(ds, "MOSAIC image")
    step = _optional_float(ds.get("SpacingBetweenSlices")) or _optional_float(ds.get("SliceThickness"))
    if not step:
        raise FrameError("MOSAIC image without SpacingBetweenSlices or SliceThickness: slice positions unknown")
    row_cos, col_cos = np.array(cosines[:3]), np.array(cosines[3:])
    normal = _private_value(ds, 0x0E, "ddd")
    normal = np.array([float(v) for v in normal]) if normal is not None and len(normal) == 3 else np.cross(row_cos, col_cos)
    # PixelSpacing is (row spacing, column spacing): moving along a row (row_cos) steps columns.
    first = (
        np.array(position)
        + row_cos * spacing[1] * (columns - tile_columns) / 2
        + col_cos * spacing[0] * (rows - tile_rows) / 2
    )
    base = _classic_frame(ds)
    return [
        Frame(
            number=1,
            tile=i,
            rows=tile_rows,
            columns=tile_columns,
            pixel_spacing=spacing,
            orientation=cosines,
            position=tuple(float(v) for v in first + normal * step * i),
            thickness_mm=base.thickness_mm,
            slope=base.slope,
            intercept=base.intercept,
            window=base.window,
        )
        for i in range(count)
    ]


def frame_pixels(array: np.ndarray, frames: list[Frame], *, rows: int, columns: int) -> list[np.ndarray]:
    """Cut a decoded ``pixel_array`` (2-D, or frames × rows × columns) into the arrays of ``frames``."""
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3 or array.shape[1:] != (rows, columns):
        raise FrameError(f"pixel data has shape {array.shape}, expected frames of {rows}×{columns}")
    out = []
    for f in frames:
        if f.number > array.shape[0]:
            raise FrameError(f"pixel data has {array.shape[0]} frames, frame {f.number} is missing")
        image = array[f.number - 1]
        if f.tile is not None:
            per_side = columns // f.columns
            r, c = divmod(f.tile, per_side)
            image = image[r * f.rows : (r + 1) * f.rows, c * f.columns : (c + 1) * f.columns]
        out.append(np.ascontiguousarray(image))
    return out
