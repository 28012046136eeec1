"""DICOM import: a zip or a folder of MR series in, blinded Series and Instances out, all or nothing.

Public interface (stable; the recon worker and the upload endpoint call it)::

    import_dicom(*, study, source, mapping, actor, progress=None,
                 create_cases=True, series_source="import") -> ImportResult

``source``
    A ``Path`` to a zip archive or a folder. Files are found recursively; hidden files,
    ``__MACOSX/``, ``DICOMDIR`` and text side files (``.csv .json .toml .txt .md``) are skipped,
    every other file must be a readable DICOM image.
``mapping``
    Assigns every series to (case, sequence, arm). One of
    - :class:`MappingTable` from a CSV (:func:`load_mapping_csv` / :func:`parse_mapping_csv`):
      columns ``case,sequence,arm`` and, per row, one selector: ``path`` (a folder or file
      relative to the source root; every file under it belongs to the row) or
      ``series_instance_uid``; an optional ``slices`` column is checked against the number of
      files. The recon worker's ``manifest.csv`` (``case,sequence,arm,path,slices``) is such a
      CSV. Other columns are an error. If every file lies under one top folder that no mapping
      path names (a zipped folder), that folder is stripped first.
    - :class:`HeaderRules` from JSON or TOML (:func:`load_rules` / :func:`parse_rules`): per target
      (``case``, ``sequence``, ``arm``) a header ``field`` and an exact ``map`` and/or a list of
      ``regex`` ``[pattern, value]`` pairs (first match wins; ``\\1`` expands groups); for the case,
      ``pseudonymize = "C{:03d}"`` labels the distinct field values, sorted, with the first labels
      of that pattern not used in the study yet. A later import of the same patient therefore
      makes a *new* case: import all arms of a patient together, or use a ``map``.
    - a ``Path`` or ``str`` to such a file (``.csv`` → table, ``.json``/``.toml`` → rules).
``actor``
    The user the audit log names (``None`` for system jobs).
``progress``
    Optional ``callable(percent: int, message: str)``.
``create_cases``
    Cases named by the mapping but missing in the study are created (default). Sequences and arms
    must exist: an unknown one is an error, because a typo there would silently make a new arm.
``series_source``
    Stored in ``Series.source`` ("import", "recon", "phantom").

Validation (every problem is collected, then :class:`DicomImportError` is raised with all of
them as ``errors = [{"file": ..., "problem": ...}]``; ``file`` is relative to the source root):
MR Image Storage only (enhanced multi-frame MR and other modalities are refused), grayscale,
one patient and one SeriesInstanceUID per series, identical rows/columns/pixel spacing/
orientation in a series, distinct positions with uniform spacing along the slice normal,
decodable pixel data of the declared size, known sequence and arm, no (case, sequence, arm)
or original series imported twice, a case label that is not the patient's name or ID.

Atomicity: headers are validated before anything is written; blinded copies (see
:mod:`readerstudy.studies.blinding`) are written to a staging folder under MEDIA_ROOT; the
Case/Series/Instance/UIDMapping rows are created in one transaction, at whose end the files are
moved (same file system, ``os.replace``) to opaque names ``dicom/<xx>/<random>.dcm``; if
anything fails the moved files are removed and the staging folder deleted, so the database and
MEDIA_ROOT are as before. Do not call it inside an outer transaction that may still roll back:
the files of a rolled-back outer transaction would stay (unreferenced) in MEDIA_ROOT.

Zip safety (checked on the central directory *before* extracting anything, and again while
extracting): absolute names, ``..`` components, NUL bytes, symlinks and other non-regular
entries, encrypted or duplicate entries, more than ``IMPORT_MAX_MEMBERS`` members, a total
expanded size over ``IMPORT_MAX_EXPANDED_BYTES``, a member over 1 MiB compressed more than
``IMPORT_MAX_COMPRESSION_RATIO``:1, an archive over ``IMPORT_MAX_ARCHIVE_BYTES``. Folders are
walked without following links; a symlink in a folder is an error too.

Jobs: :func:`import_job_create` stores an :class:`ImportJob` and enqueues
``readerstudy.studies.tasks.import_job_task`` after commit; :func:`import_job_run` runs it
(idempotent: a finished job is left alone, a redelivered running one is re-run, which is safe
because a failed or interrupted import stored nothing). :func:`store_upload` saves an uploaded
archive where ``import_job_run`` deletes it after the run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import tomllib
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable, Iterator

import numpy as np
import pydicom
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from pydicom.errors import InvalidDicomError
from pydicom.uid import MRImageStorage

from . import audit, blinding
from .models import Arm, Case, ImportJob, Instance, Sequence, Series, Study, UIDMapping

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]

MAX_REPORTED_ERRORS = 200
RATIO_CHECK_MIN_BYTES = 1024**2
SKIPPED_SUFFIXES = {".csv", ".json", ".toml", ".txt", ".md"}
SKIPPED_NAMES = {"DICOMDIR", "Thumbs.db"}
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
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
SPACING_TOLERANCE_MM = 1e-3
ORIENTATION_TOLERANCE = 1e-4
UPLOAD_DIR_NAME = "import-uploads"


# --- errors -------------------------------------------------------------------------------------


class DicomImportError(Exception):
    """An import that stored nothing. ``errors`` lists every problem as ``{"file", "problem"}``."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        head = "; ".join(f"{e['file']}: {e['problem']}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        noun = "problem" if len(errors) == 1 else "problems"
        super().__init__(f"DICOM import failed, nothing was stored; {len(errors)} {noun}: {head}{more}")


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.dropped = 0

    def add(self, file: str, problem: str) -> None:
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"file": file, "problem": problem})
        else:
            self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            errors = list(self.items)
            if self.dropped:
                errors.append({"file": "", "problem": f"{self.dropped} more problems not listed"})
            raise DicomImportError(errors)


def _fail(file: str, problem: str) -> DicomImportError:
    return DicomImportError([{"file": file, "problem": problem}])


# --- mapping ------------------------------------------------------------------------------------

CSV_REQUIRED = ("case", "sequence", "arm")
CSV_SELECTORS = ("path", "series_instance_uid")
CSV_OPTIONAL = ("slices",)


@dataclass(frozen=True)
class MappingRow:
    case: str
    sequence: str
    arm: str
    path: str = ""
    series_instance_uid: str = ""
    slices: int | None = None
    line: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.case, self.sequence, self.arm)


@dataclass(frozen=True)
class MappingTable:
    rows: tuple[MappingRow, ...]
    name: str = "mapping.csv"


@dataclass(frozen=True)
class FieldRule:
    field: str
    map: dict[str, str] = field(default_factory=dict)
    regex: tuple[tuple[str, str], ...] = ()
    pseudonymize: str = ""


@dataclass(frozen=True)
class HeaderRules:
    case: FieldRule
    sequence: FieldRule
    arm: FieldRule
    name: str = "rules"


Mapping = MappingTable | HeaderRules


def _clean_relative_path(value: str) -> str | None:
    """Normalize a mapping path; None if absolute or leaving the root."""
    value = value.strip().replace("\\", "/")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        return None
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def parse_mapping_csv(text: str, *, name: str = "mapping.csv") -> MappingTable:
    """Parse a mapping CSV (see the module docstring); DicomImportError names every bad line."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise _fail(name, "the mapping CSV is empty") from None
    columns = [c.strip().lower() for c in header]
    problems = _Problems()
    known = set(CSV_REQUIRED) | set(CSV_SELECTORS) | set(CSV_OPTIONAL)
    unknown = [c for c in columns if c not in known]
    missing = [c for c in CSV_REQUIRED if c not in columns]
    expected = "expected case, sequence, arm and a selector (path or series_instance_uid); optional: slices"
    if unknown:
        problems.add(name, f"unknown column(s) {', '.join(repr(c) for c in unknown)}; {expected}")
    if missing:
        problems.add(name, f"missing column(s) {', '.join(missing)}; {expected}")
    if not any(c in columns for c in CSV_SELECTORS):
        problems.add(name, f"no selector column; {expected}")
    if len(set(columns)) != len(columns):
        problems.add(name, "a column appears twice")
    problems.raise_if_any()

    rows: list[MappingRow] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line_no, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(columns):
            problems.add(name, f"line {line_no}: {len(raw)} fields, the header has {len(columns)}")
            continue
        values = {c: v.strip() for c, v in zip(columns, raw)}
        where = f"line {line_no}"
        empty = [c for c in CSV_REQUIRED if not values.get(c)]
        if empty:
            problems.add(name, f"{where}: empty {', '.join(empty)}")
            continue
        path = values.get("path", "")
        uid = values.get("series_instance_uid", "")
        if bool(path) == bool(uid):
            problems.add(name, f"{where}: give exactly one of path and series_instance_uid")
            continue
        if path:
            cleaned = _clean_relative_path(path)
            if not cleaned:
                problems.add(name, f"{where}: path {path!r} must be relative and stay inside the source")
                continue
            path = cleaned
        slices = None
        if values.get("slices"):
            try:
                slices = int(values["slices"])
                if slices < 1:
                    raise ValueError
            except ValueError:
                problems.add(name, f"{where}: slices {values['slices']!r} is not a positive integer")
                continue
        row = MappingRow(values["case"], values["sequence"], values["arm"], path, uid, slices, line_no)
        if row.key in seen:
            problems.add(name, f"{where}: case/sequence/arm {'/'.join(row.key)} is already mapped on line {seen[row.key]}")
            continue
        seen[row.key] = line_no
        rows.append(row)
    if not rows and not problems:
        problems.add(name, "the mapping CSV has no rows")
    problems.raise_if_any()
    return MappingTable(rows=tuple(rows), name=name)


def load_mapping_csv(path: Path | str) -> MappingTable:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path.name, f"cannot read the mapping CSV: {exc}") from None
    return parse_mapping_csv(text, name=path.name)


def _field_rule(data: Any, target: str, name: str) -> FieldRule:
    if not isinstance(data, dict):
        raise _fail(name, f"[{target}] must be a table with 'field' and 'map' and/or 'regex'")
    unknown = set(data) - {"field", "map", "regex", "pseudonymize"}
    if unknown:
        raise _fail(name, f"[{target}]: unknown key(s) {', '.join(sorted(unknown))}")
    field_name = data.get("field")
    if not isinstance(field_name, str) or pydicom.datadict.tag_for_keyword(field_name) is None:
        raise _fail(name, f"[{target}]: 'field' must be a DICOM keyword such as SeriesDescription, got {field_name!r}")
    mapping = data.get("map", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise _fail(name, f"[{target}]: 'map' must map header values to names")
    regex = []
    for pair in data.get("regex", []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise _fail(name, f"[{target}]: each 'regex' entry must be [pattern, value], got {pair!r}")
        try:
            re.compile(pair[0])
        except re.error as exc:
            raise _fail(name, f"[{target}]: bad regular expression {pair[0]!r}: {exc}") from None
        regex.append((pair[0], pair[1]))
    pseudonymize = data.get("pseudonymize", "")
    if pseudonymize:
        if target != "case":
            raise _fail(name, f"[{target}]: 'pseudonymize' is only for the case")
        if pseudonymize is True:
            pseudonymize = "C{:03d}"
        try:
            pseudonymize.format(1)
        except (AttributeError, IndexError, ValueError, KeyError):
            raise _fail(name, f"[case]: pseudonymize must be a format such as 'C{{:03d}}', got {pseudonymize!r}") from None
    if not mapping and not regex and not pseudonymize:
        raise _fail(name, f"[{target}]: give 'map', 'regex'" + (" or 'pseudonymize'" if target == "case" else ""))
    return FieldRule(field=field_name, map={str(k): v for k, v in mapping.items()}, regex=tuple(regex), pseudonymize=pseudonymize)


def rules_from_dict(data: dict, *, name: str = "rules") -> HeaderRules:
    if not isinstance(data, dict):
        raise _fail(name, "header rules must be a table with [case], [sequence] and [arm]")
    unknown = set(data) - {"case", "sequence", "arm"}
    if unknown:
        raise _fail(name, f"unknown section(s) {', '.join(sorted(unknown))}; expected case, sequence, arm")
    missing = [k for k in ("case", "sequence", "arm") if k not in data]
    if missing:
        raise _fail(name, f"missing section(s) {', '.join(missing)}")
    return HeaderRules(
        case=_field_rule(data["case"], "case", name),
        sequence=_field_rule(data["sequence"], "sequence", name),
        arm=_field_rule(data["arm"], "arm", name),
        name=name,
    )


def parse_rules(text: str, *, fmt: str, name: str = "rules") -> HeaderRules:
    """Parse header rules from TOML (``fmt="toml"``) or JSON (``fmt="json"``)."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise _fail(name, f"cannot parse the rules as {fmt.upper()}: {exc}") from None
    return rules_from_dict(data, name=name)


def load_rules(path: Path | str) -> HeaderRules:
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path.name, f"cannot read the rules: {exc}") from None
    return parse_rules(text, fmt=fmt, name=path.name)


def load_mapping(path: Path | str) -> Mapping:
    """A mapping file by its suffix: ``.csv`` → table, ``.json``/``.toml`` → header rules."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return load_mapping_csv(path)
    if path.suffix.lower() in {".json", ".toml"}:
        return load_rules(path)
    raise _fail(path.name, "a mapping must be a .csv table or .json/.toml header rules")


def mapping_to_json(mapping: Mapping) -> dict:
    """The JSON stored in ``ImportJob.mapping``."""
    if isinstance(mapping, MappingTable):
        return {
            "kind": "table",
            "name": mapping.name,
            "rows": [
                {k: v for k, v in vars(r).items() if k != "line" and v not in ("", None)} for r in mapping.rows
            ],
        }
    rules = {}
    for target in ("case", "sequence", "arm"):
        rule: FieldRule = getattr(mapping, target)
        entry: dict[str, Any] = {"field": rule.field}
        if rule.map:
            entry["map"] = dict(rule.map)
        if rule.regex:
            entry["regex"] = [list(p) for p in rule.regex]
        if rule.pseudonymize:
            entry["pseudonymize"] = rule.pseudonymize
        rules[target] = entry
    return {"kind": "rules", "name": mapping.name, "rules": rules}


def mapping_from_json(data: dict) -> Mapping:
    """Inverse of :func:`mapping_to_json` (validates again)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    name = (data or {}).get("name", "mapping") if isinstance(data, dict) else "mapping"
    if kind == "table":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["case", "sequence", "arm", "path", "series_instance_uid", "slices"])
        writer.writeheader()
        for row in data.get("rows", []):
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
        return parse_mapping_csv(buffer.getvalue(), name=name)
    if kind == "rules":
        return rules_from_dict(data.get("rules", {}), name=name)
    raise _fail(str(name), "the job's mapping must have kind 'table' or 'rules'")


def _coerce_mapping(mapping: Mapping | Path | str) -> Mapping:
    if isinstance(mapping, (MappingTable, HeaderRules)):
        return mapping
    if isinstance(mapping, (str, os.PathLike)):
        return load_mapping(Path(mapping))
    raise TypeError(f"mapping must be a MappingTable, HeaderRules or a path, not {type(mapping).__name__}")


# --- sources: folder or zip ---------------------------------------------------------------------


@dataclass
class _SourceFile:
    rel: str  # posix path relative to the source root, as shown in errors
    path: Path


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return True
    return parts[-1] in SKIPPED_NAMES or PurePosixPath(parts[-1]).suffix.lower() in SKIPPED_SUFFIXES


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name:
        return "entry name contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "absolute path in the archive"
    if ".." in normalized.split("/"):
        return "path leaves the archive ('..')"
    # Unix mode bits, when the archiver stored a file type (many store permissions only).
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) and stat.S_ISLNK(mode):
        return "symbolic link in the archive"
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted entry"
    return None


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    problems = _Problems()
    infos = zf.infolist()
    if len(infos) > settings.IMPORT_MAX_MEMBERS:
        raise _fail(archive.name, f"{len(infos)} entries; the limit is {settings.IMPORT_MAX_MEMBERS}")
    total = 0
    names: set[str] = set()
    ratio_limit = settings.IMPORT_MAX_COMPRESSION_RATIO
    for info in infos:
        problem = _zip_member_problem(info)
        if problem:
            problems.add(info.filename, problem)
            continue
        if info.is_dir():
            continue
        key = info.filename.replace("\\", "/")
        if key in names:
            problems.add(info.filename, "duplicate entry in the archive")
        names.add(key)
        total += info.file_size
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > ratio_limit * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            problems.add(
                info.filename,
                f"compression ratio {ratio:.0f}:1 exceeds the limit of {ratio_limit:.0f}:1 (zip bomb?)",
            )
    if total > settings.IMPORT_MAX_EXPANDED_BYTES:
        problems.add(
            archive.name,
            f"the archive expands to {total} bytes; the limit is {settings.IMPORT_MAX_EXPANDED_BYTES} (zip bomb?)",
        )
    problems.raise_if_any()
    return [i for i in infos if not i.is_dir()]


def _extract_zip(archive: Path, dest: Path) -> list[_SourceFile]:
    if archive.stat().st_size > settings.IMPORT_MAX_ARCHIVE_BYTES:
        raise _fail(archive.name, f"the archive is larger than {settings.IMPORT_MAX_ARCHIVE_BYTES} bytes")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _fail(archive.name, f"not a readable zip archive: {exc}") from None
    files: list[_SourceFile] = []
    written = 0
    with zf:
        members = _check_zip(archive, zf)
        dest_resolved = dest.resolve()
        for info in members:
            rel = "/".join(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
            if _skipped(rel):
                continue
            target = dest / rel
            if dest_resolved not in target.resolve().parents:
                raise _fail(info.filename, "path leaves the archive")
            target.parent.mkdir(parents=True, exist_ok=True)
            member_bytes = 0
            try:
                with zf.open(info) as src, target.open("xb") as out:
                    while chunk := src.read(1024 * 1024):
                        member_bytes += len(chunk)
                        written += len(chunk)
                        # The central directory can lie; what actually comes out is what counts.
                        if member_bytes > info.file_size or written > settings.IMPORT_MAX_EXPANDED_BYTES:
                            raise _fail(info.filename, "expands beyond its declared size or the import limit (zip bomb?)")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
                raise _fail(info.filename, f"cannot extract: {exc}") from None
            files.append(_SourceFile(rel, target))
    return files


def _list_folder(root: Path) -> list[_SourceFile]:
    problems = _Problems()
    files: list[_SourceFile] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                problems.add((base / d).relative_to(root).as_posix(), "symbolic link (not followed)")
                dirnames.remove(d)
        for f in filenames:
            path = base / f
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                problems.add(rel, "symbolic link (not followed)")
                continue
            if _skipped(rel):
                continue
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                problems.add(rel, "not a regular file")
                continue
            total += st.st_size
            files.append(_SourceFile(rel, path))
    if len(files) > settings.IMPORT_MAX_MEMBERS:
        problems.add(root.name, f"{len(files)} files; the limit is {settings.IMPORT_MAX_MEMBERS}")
    if total > settings.IMPORT_MAX_EXPANDED_BYTES:
        problems.add(root.name, f"{total} bytes; the limit is {settings.IMPORT_MAX_EXPANDED_BYTES}")
    problems.raise_if_any()
    return files


@contextlib.contextmanager
def _source_files(source: Path) -> Iterator[list[_SourceFile]]:
    if source.is_symlink():
        raise _fail(source.name, "the source is a symbolic link")
    if source.is_dir():
        yield sorted(_list_folder(source), key=lambda f: f.rel)
        return
    if not source.is_file():
        raise _fail(source.name, "no such file or folder")
    with tempfile.TemporaryDirectory(prefix="readerstudy-import-", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        yield sorted(_extract_zip(source, Path(tmp)), key=lambda f: f.rel)


# --- headers, grouping, validation --------------------------------------------------------------


def _read_header(f: _SourceFile) -> tuple[pydicom.Dataset | None, str | None]:
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


def _floats(value, n: int) -> list[float] | None:
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


@dataclass
class _Planned:
    case: str
    sequence: str
    arm: str
    where: str  # mapping path or series UID, for series-level errors
    files: list[_SourceFile]
    expected_slices: int | None = None
    headers: list[pydicom.Dataset] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # indices into files, sorted along the normal
    geometry: dict[str, Any] = field(default_factory=dict)


def _strip_common_top(files: list[_SourceFile], table: MappingTable) -> None:
    tops = {f.rel.split("/", 1)[0] for f in files}
    if len(tops) != 1 or any("/" not in f.rel for f in files):
        return
    top = tops.pop()
    paths = [r.path for r in table.rows if r.path]
    if not paths or any(p == top or p.startswith(top + "/") for p in paths):
        return
    for f in files:
        f.rel = f.rel.split("/", 1)[1]


def _plan_from_table(
    files: list[_SourceFile], headers: dict[str, pydicom.Dataset], table: MappingTable, problems: _Problems
) -> list[_Planned]:
    by_row: dict[int, list[_SourceFile]] = defaultdict(list)
    uid_rows = {r.series_instance_uid: i for i, r in enumerate(table.rows) if r.series_instance_uid}
    for f in files:
        ds = headers[f.rel]
        matches = [
            i for i, r in enumerate(table.rows) if r.path and (f.rel == r.path or f.rel.startswith(r.path + "/"))
        ]
        uid_row = uid_rows.get(str(ds.SeriesInstanceUID))
        if uid_row is not None:
            matches.append(uid_row)
        if not matches:
            problems.add(f.rel, f"not assigned to a case/sequence/arm by any row of {table.name}")
        elif len(matches) > 1:
            lines = " and ".join(str(table.rows[i].line) for i in matches)
            problems.add(f.rel, f"matched by more than one row of {table.name} (lines {lines})")
        else:
            by_row[matches[0]].append(f)
    planned = []
    for i, row in enumerate(table.rows):
        where = row.path or row.series_instance_uid
        if not by_row.get(i):
            problems.add(table.name, f"line {row.line} ({'/'.join(row.key)}): no DICOM files match {where!r}")
            continue
        planned.append(_Planned(row.case, row.sequence, row.arm, where, by_row[i], expected_slices=row.slices))
    return planned


def _apply_rule(rule: FieldRule, value: str) -> str | None:
    if value in rule.map:
        return rule.map[value]
    for pattern, target in rule.regex:
        m = re.search(pattern, value)
        if m:
            return m.expand(target)
    return None


def _plan_from_rules(
    study: Study, files: list[_SourceFile], headers: dict[str, pydicom.Dataset], rules: HeaderRules, problems: _Problems
) -> list[_Planned]:
    by_series: dict[str, list[_SourceFile]] = defaultdict(list)
    for f in files:
        by_series[str(headers[f.rel].SeriesInstanceUID)].append(f)
    pseudonyms: dict[str, str] = {}
    if rules.case.pseudonymize:
        values = sorted({str(headers[fs[0].rel].get(rules.case.field, "") or "") for fs in by_series.values()})
        used = set(study.cases.values_list("label", flat=True))
        n = 0
        for value in values:
            if value == "":
                continue
            mapped = _apply_rule(rules.case, value) if (rules.case.map or rules.case.regex) else None
            if mapped:
                pseudonyms[value] = mapped
                continue
            while True:
                n += 1
                label = rules.case.pseudonymize.format(n)
                if label not in used:
                    break
            used.add(label)
            pseudonyms[value] = label
    planned = []
    for uid, fs in sorted(by_series.items(), key=lambda kv: kv[1][0].rel):
        ds = headers[fs[0].rel]
        names = {}
        for target in ("case", "sequence", "arm"):
            rule: FieldRule = getattr(rules, target)
            value = str(ds.get(rule.field, "") or "").strip()
            if target == "case" and rule.pseudonymize:
                names[target] = pseudonyms.get(value)
            else:
                names[target] = _apply_rule(rule, value) if value else None
            if not names[target]:
                # The value is the coordinator's own data; it is shown only to them.
                problems.add(fs[0].rel, f"{target}: {rule.field} {value!r} matches no rule in {rules.name}")
        if all(names.values()):
            planned.append(_Planned(names["case"], names["sequence"], names["arm"], fs[0].rel.rsplit("/", 1)[0], fs))
    return planned


def _validate_series(p: _Planned, headers: dict[str, pydicom.Dataset], problems: _Problems) -> None:
    hs = [headers[f.rel] for f in p.files]
    p.headers = hs
    ok = True
    ref = hs[0]
    ref_file = p.files[0].rel
    for f, ds in zip(p.files, hs):
        if str(ds.Modality).upper() != "MR":
            problems.add(f.rel, f"modality is {ds.Modality!s}, expected MR")
            ok = False
            continue
        if ds.SOPClassUID == ENHANCED_MR_STORAGE or int(ds.get("NumberOfFrames", 1) or 1) > 1:
            problems.add(f.rel, "enhanced multi-frame MR is not supported; export single-frame MR images")
            ok = False
            continue
        if ds.SOPClassUID != MRImageStorage:
            problems.add(f.rel, f"SOP class {ds.SOPClassUID} is not MR Image Storage")
            ok = False
            continue
        if int(ds.SamplesPerPixel) != 1 or str(ds.PhotometricInterpretation) not in {"MONOCHROME1", "MONOCHROME2"}:
            problems.add(f.rel, f"not a grayscale image ({ds.PhotometricInterpretation})")
            ok = False
        if int(ds.BitsAllocated) not in (8, 16):
            problems.add(f.rel, f"BitsAllocated {ds.BitsAllocated} is not supported (8 or 16)")
            ok = False
    if not ok:
        return
    uids = {str(ds.SeriesInstanceUID) for ds in hs}
    if len(uids) > 1:
        problems.add(
            p.where, f"holds {len(uids)} different series (SeriesInstanceUID); map each one by its own path or UID"
        )
        return
    ref_patient = (str(ref.get("PatientID", "")), str(ref.get("PatientName", "")))
    ref_spacing = _floats(ref.PixelSpacing, 2)
    ref_orient = _floats(ref.ImageOrientationPatient, 6)
    if ref_spacing is None or ref_orient is None or min(ref_spacing) <= 0:
        problems.add(ref_file, "PixelSpacing or ImageOrientationPatient is malformed")
        return
    positions = []
    for f, ds in zip(p.files, hs):
        if (str(ds.get("PatientID", "")), str(ds.get("PatientName", ""))) != ref_patient:
            problems.add(f.rel, f"patient differs from {ref_file}: a series must hold one patient")
            ok = False
        if (int(ds.Rows), int(ds.Columns)) != (int(ref.Rows), int(ref.Columns)):
            problems.add(f.rel, f"{ds.Rows}×{ds.Columns} pixels differs from {ref.Rows}×{ref.Columns} in {ref_file}")
            ok = False
        spacing = _floats(ds.PixelSpacing, 2)
        if spacing is None or max(abs(a - b) for a, b in zip(spacing, ref_spacing)) > SPACING_TOLERANCE_MM:
            problems.add(f.rel, f"pixel spacing {list(ds.PixelSpacing)} differs from {ref_spacing} in {ref_file}")
            ok = False
        orient = _floats(ds.ImageOrientationPatient, 6)
        if orient is None or max(abs(a - b) for a, b in zip(orient, ref_orient)) > ORIENTATION_TOLERANCE:
            problems.add(f.rel, f"image orientation differs from {ref_file}")
            ok = False
        position = _floats(ds.ImagePositionPatient, 3)
        if position is None:
            problems.add(f.rel, "ImagePositionPatient is malformed")
            ok = False
        positions.append(position)
    if not ok:
        return
    row_cos, col_cos = np.array(ref_orient[:3]), np.array(ref_orient[3:])
    normal = np.cross(row_cos, col_cos)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        problems.add(ref_file, "ImageOrientationPatient is not two orthogonal unit vectors")
        return
    distances = np.array([float(np.dot(pos, normal)) for pos in positions])
    order = list(np.argsort(distances, kind="stable"))
    sorted_d = distances[order]
    if len(sorted_d) > 1:
        gaps = np.diff(sorted_d)
        if np.any(gaps < SPACING_TOLERANCE_MM):
            dup = int(np.argmin(gaps))
            problems.add(
                p.files[order[dup + 1]].rel,
                f"same slice position as {p.files[order[dup]].rel} (several echoes, phases or series in one?)",
            )
            return
        median = float(np.median(gaps))
        if np.max(np.abs(gaps - median)) > max(0.01, 0.01 * median):
            problems.add(p.where, f"slice spacing along the normal is not uniform ({gaps.min():.3f}–{gaps.max():.3f} mm)")
            return
    if p.expected_slices is not None and p.expected_slices != len(p.files):
        problems.add(p.where, f"{len(p.files)} images, the mapping says slices={p.expected_slices}")
        return
    p.order = [int(i) for i in order]
    thickness = ref.get("SliceThickness")
    p.geometry = {
        "rows": int(ref.Rows),
        "columns": int(ref.Columns),
        "pixel_spacing_mm": [round(v, 6) for v in ref_spacing],
        "slice_thickness_mm": float(thickness) if thickness not in (None, "") else None,
        "image_orientation": [round(v, 6) for v in ref_orient],
        "num_instances": len(p.files),
    }


def _validate_plan(
    study: Study, planned: list[_Planned], headers: dict[str, pydicom.Dataset], create_cases: bool, problems: _Problems
) -> tuple[dict[str, Sequence], dict[str, Arm], dict[str, Case]]:
    sequences = {s.name: s for s in study.sequences.all()}
    arms = {a.name: a for a in study.arms.all()}
    cases = {c.label: c for c in study.cases.all()}
    keys: dict[tuple[str, str, str], str] = {}
    for p in planned:
        key = (p.case, p.sequence, p.arm)
        if p.sequence not in sequences:
            known = ", ".join(sorted(sequences)) or "none"
            problems.add(p.where, f"unknown sequence {p.sequence!r} (the study has: {known})")
        if p.arm not in arms:
            known = ", ".join(sorted(arms)) or "none"
            problems.add(p.where, f"unknown arm {p.arm!r} (the study has: {known})")
        if p.case not in cases and not create_cases:
            problems.add(p.where, f"unknown case {p.case!r} (cases are not created by this import)")
        if len(p.case) > Case._meta.get_field("label").max_length:
            problems.add(p.where, f"case label {p.case!r} is too long")
        if key in keys:
            problems.add(p.where, f"{'/'.join(key)} is also assigned to {keys[key]}")
        keys[key] = p.where
        identities = set()
        for f in p.files:
            ds = headers[f.rel]
            identities |= {str(ds.get("PatientID", "")).strip(), str(ds.get("PatientName", "")).strip()}
        if p.case.strip() in identities - {""}:
            problems.add(p.where, f"case label {p.case!r} is the patient's name or ID; use a pseudonym")
    existing = set(
        Series.objects.filter(case__study=study).values_list("case__label", "sequence__name", "arm__name")
    )
    for p in planned:
        if (p.case, p.sequence, p.arm) in existing:
            problems.add(p.where, f"{p.case}/{p.sequence}/{p.arm} already has a series in this study")
    originals = {str(headers[p.files[0].rel].SeriesInstanceUID): p for p in planned}
    for uid in Series.objects.filter(case__study=study, original_series_instance_uid__in=list(originals)).values_list(
        "original_series_instance_uid", flat=True
    ):
        problems.add(originals[uid].where, "this series (SeriesInstanceUID) was already imported into the study")
    sop_seen: dict[str, str] = {}
    for p in planned:
        for f in p.files:
            sop = str(headers[f.rel].SOPInstanceUID)
            if sop in sop_seen:
                problems.add(f.rel, f"same SOPInstanceUID as {sop_seen[sop]}")
            sop_seen[sop] = f.rel
    return sequences, arms, cases


# --- blinding and storage -----------------------------------------------------------------------


@dataclass
class _StagedInstance:
    index: int
    staged: Path
    rel_path: str
    size: int
    sha256: str
    sop_uid: str
    original_sop_uid: str


@dataclass
class _StagedSeries:
    plan: _Planned
    uids: blinding.BlindedUIDs
    original_study_uid: str
    original_series_uid: str
    original_frame_uids: list[str]
    instances: list[_StagedInstance]


def _opaque_rel_path() -> str:
    token = secrets.token_hex(16)
    return f"dicom/{token[:2]}/{token}.dcm"


def _stage_series(
    p: _Planned, sequence_name: str, staging: Path, problems: _Problems
) -> _StagedSeries | None:
    datasets: list[pydicom.Dataset] = []
    arrays: list[np.ndarray] = []
    for i in p.order:
        f = p.files[i]
        try:
            ds = pydicom.dcmread(f.path)
            if "PixelData" not in ds:
                problems.add(f.rel, "no pixel data")
                continue
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's problem
            problems.add(f.rel, f"pixel data unreadable: {exc}")
            continue
        if pixels.shape != (int(ds.Rows), int(ds.Columns)):
            problems.add(f.rel, f"pixel data has shape {pixels.shape}, expected {int(ds.Rows)}×{int(ds.Columns)}")
            continue
        datasets.append(ds)
        arrays.append(pixels)
    if len(datasets) != len(p.order):
        return None
    first = datasets[0]
    window = blinding.default_window(
        arrays, float(first.get("RescaleSlope", 1) or 1), float(first.get("RescaleIntercept", 0) or 0)
    )
    uids = blinding.BlindedUIDs(study=blinding.new_uid(), series=blinding.new_uid(), frame_of_reference=blinding.new_uid())
    uid_map = blinding.UIDMap()
    original_study = str(first.StudyInstanceUID) if "StudyInstanceUID" in first else ""
    original_series = str(first.SeriesInstanceUID)
    frames = sorted({str(ds.FrameOfReferenceUID) for ds in datasets if ds.get("FrameOfReferenceUID")})
    if original_study:
        uid_map[original_study] = uids.study
    uid_map[original_series] = uids.series
    for frame in frames:
        uid_map[frame] = uids.frame_of_reference
    staged = []
    for index, (ds, pixels) in enumerate(zip(datasets, arrays)):
        original_sop = str(ds.SOPInstanceUID)
        new_sop = uid_map.replace(original_sop)
        out = blinding.blind_dataset(
            ds,
            pixels=pixels,
            uids=uids,
            uid_map=uid_map,
            series_description=sequence_name,
            instance_number=index + 1,
            window=window,
        )
        buffer = io.BytesIO()
        out.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        rel = _opaque_rel_path()
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        staged.append(
            _StagedInstance(index, target, rel, len(data), hashlib.sha256(data).hexdigest(), new_sop, original_sop)
        )
    return _StagedSeries(p, uids, original_study, original_series, frames, staged)


def _make_staging_dir() -> Path:
    base = Path(settings.MEDIA_ROOT) / ".staging"
    for _ in range(5):
        base.mkdir(parents=True, exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(dir=base))
        except FileNotFoundError:  # another import removed the empty base meanwhile
            continue
    raise OSError(f"cannot create a staging folder under {base}")


def _remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # only succeeds when no other import is staging


@dataclass
class ImportResult:
    """What an import stored."""

    series: list[Series]
    instances: int
    cases_created: list[str]


def _commit(
    study: Study,
    staged: list[_StagedSeries],
    sequences: dict[str, Sequence],
    arms: dict[str, Arm],
    cases: dict[str, Case],
    series_source: str,
    source_name: str,
) -> ImportResult:
    media = Path(settings.MEDIA_ROOT)
    moved: list[Path] = []
    made_dirs: list[Path] = []
    created_cases: list[str] = []
    created_series: list[Series] = []
    n_instances = 0
    try:
        with transaction.atomic():
            for s in staged:
                p = s.plan
                case = cases.get(p.case)
                if case is None:
                    case = Case(study=study, label=p.case)
                    case.full_clean()
                    case.save()
                    cases[p.case] = case
                    created_cases.append(p.case)
                series = Series(
                    case=case,
                    sequence=sequences[p.sequence],
                    arm=arms[p.arm],
                    study_instance_uid=s.uids.study,
                    series_instance_uid=s.uids.series,
                    frame_of_reference_uid=s.uids.frame_of_reference,
                    original_series_instance_uid=s.original_series_uid,
                    source=series_source,
                    **p.geometry,
                )
                try:
                    series.full_clean()
                except ValidationError as exc:
                    raise _fail(p.where, "; ".join(exc.messages)) from None
                series.save()
                created_series.append(series)
                Instance.objects.bulk_create(
                    [
                        Instance(
                            series=series,
                            index=i.index,
                            sop_instance_uid=i.sop_uid,
                            original_sop_instance_uid=i.original_sop_uid,
                            path=i.rel_path,
                            size_bytes=i.size,
                            sha256=i.sha256,
                        )
                        for i in s.instances
                    ]
                )
                n_instances += len(s.instances)
                mappings = [UIDMapping(series=series, kind=UIDMapping.Kind.SERIES, original_uid=s.original_series_uid, blinded_uid=s.uids.series)]
                if s.original_study_uid:
                    mappings.append(UIDMapping(series=series, kind=UIDMapping.Kind.STUDY, original_uid=s.original_study_uid, blinded_uid=s.uids.study))
                mappings += [
                    UIDMapping(series=series, kind=UIDMapping.Kind.FRAME_OF_REFERENCE, original_uid=f, blinded_uid=s.uids.frame_of_reference)
                    for f in s.original_frame_uids
                ]
                mappings += [
                    UIDMapping(series=series, kind=UIDMapping.Kind.INSTANCE, original_uid=i.original_sop_uid, blinded_uid=i.sop_uid)
                    for i in s.instances
                ]
                UIDMapping.objects.bulk_create(mappings)
            audit.record(
                action="event",
                object_type="studies.import",
                study_id=study.pk,
                summary=f"imported {len(created_series)} series ({n_instances} instances) from {source_name}"[:255],
                changes={
                    "series": [x.public_id for x in created_series],
                    "cases_created": created_cases,
                    "source": source_name,
                },
            )
            # Last step inside the transaction: files appear only together with their rows.
            for s in staged:
                for i in s.instances:
                    final = media / i.rel_path
                    for parent in reversed(final.relative_to(media).parents):
                        d = media / parent
                        if parent != Path(".") and not d.exists():
                            d.mkdir()
                            made_dirs.append(d)
                    if final.exists():
                        raise FileExistsError(f"{i.rel_path} exists")
                    os.replace(i.staged, final)
                    moved.append(final)
    except BaseException:
        for f in moved:
            with contextlib.suppress(OSError):
                f.unlink()
        for d in reversed(made_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return ImportResult(series=created_series, instances=n_instances, cases_created=created_cases)


def import_dicom(
    *,
    study: Study,
    source: Path | str,
    mapping: Mapping | Path | str,
    actor=None,
    progress: ProgressCallback | None = None,
    create_cases: bool = True,
    series_source: str = "import",
) -> ImportResult:
    """Import the MR series in ``source`` into ``study`` as blinded copies, all or nothing.

    See the module docstring for the mapping formats, what is validated and how atomicity is
    kept. Raises :class:`DicomImportError` (``.errors``: ``[{"file", "problem"}]``) for any bad
    input; nothing is stored then.
    """
    report = progress or (lambda percent, message: None)
    source = Path(source)
    mapping = _coerce_mapping(mapping)
    context = audit.acting_as(actor, reason="DICOM import") if actor is not None else contextlib.nullcontext()
    with context, _source_files(source) as files:
        report(5, f"found {len(files)} files")
        if not files:
            raise _fail(source.name, "no DICOM files found")
        problems = _Problems()
        headers: dict[str, pydicom.Dataset] = {}
        for n, f in enumerate(files):
            ds, problem = _read_header(f)
            if problem:
                problems.add(f.rel, problem)
            else:
                headers[f.rel] = ds
            if n % 50 == 0:
                report(5 + int(25 * n / len(files)), "reading headers")
        problems.raise_if_any()
        if isinstance(mapping, MappingTable):
            pairs = [(f, headers[f.rel]) for f in files]
            _strip_common_top(files, mapping)
            headers = {f.rel: ds for f, ds in pairs}
            planned = _plan_from_table(files, headers, mapping, problems)
        else:
            planned = _plan_from_rules(study, files, headers, mapping, problems)
        problems.raise_if_any()
        for p in planned:
            _validate_series(p, headers, problems)
        sequences, arms, cases = _validate_plan(study, planned, headers, create_cases, problems)
        problems.raise_if_any()
        report(30, f"validated {len(planned)} series")

        staging = _make_staging_dir()
        try:
            staged: list[_StagedSeries] = []
            for n, p in enumerate(planned):
                s = _stage_series(p, p.sequence, staging, problems)
                if s is not None:
                    staged.append(s)
                report(30 + int(60 * (n + 1) / len(planned)), f"blinded {n + 1} of {len(planned)} series")
            problems.raise_if_any()
            result = _commit(study, staged, sequences, arms, cases, series_source, source.name)
        finally:
            _remove_staging(staging)
    report(100, f"imported {len(result.series)} series")
    return result


# --- jobs ---------------------------------------------------------------------------------------


def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / UPLOAD_DIR_NAME


def store_upload(uploaded: IO[bytes], *, suffix: str = ".zip") -> Path:
    """Save an uploaded archive (a Django ``UploadedFile`` or any binary file object) for a job.

    Refuses more than ``IMPORT_MAX_ARCHIVE_BYTES``. The file gets a random name under
    ``VAR_DIR/import-uploads/``; :func:`import_job_run` deletes it when the job is finished.
    """
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{secrets.token_hex(16)}{suffix}"
    written = 0
    chunks = uploaded.chunks() if hasattr(uploaded, "chunks") else iter(lambda: uploaded.read(1024 * 1024), b"")
    try:
        with target.open("xb") as out:
            for chunk in chunks:
                written += len(chunk)
                if written > settings.IMPORT_MAX_ARCHIVE_BYTES:
                    raise _fail("upload", f"the archive is larger than {settings.IMPORT_MAX_ARCHIVE_BYTES} bytes")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def import_job_create(*, study: Study, source_path: Path | str, mapping: Mapping, actor) -> ImportJob:
    """Store a queued ImportJob and enqueue its task once the transaction commits."""
    from .tasks import import_job_task

    job = ImportJob(study=study, created_by=actor, source_path=str(source_path), mapping=mapping_to_json(mapping))
    job.full_clean()
    job.save()
    transaction.on_commit(lambda: import_job_task.delay(job.pk))
    return job


def import_job_run(job_id: int) -> None:
    """Run one ImportJob; safe to call twice (a finished job is left as it is)."""
    claimed = ImportJob.objects.filter(
        pk=job_id, state__in=[ImportJob.State.QUEUED, ImportJob.State.RUNNING]
    ).update(state=ImportJob.State.RUNNING, started_at=timezone.now(), progress=0, error="", errors=[])
    if not claimed:
        return
    job = ImportJob.objects.select_related("study", "created_by").get(pk=job_id)
    last = {"percent": -1}

    def progress(percent: int, message: str) -> None:
        if percent >= last["percent"] + 5:
            last["percent"] = percent
            ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(progress=min(percent, 99))

    try:
        mapping = mapping_from_json(job.mapping)
        result = import_dicom(
            study=job.study, source=Path(job.source_path), mapping=mapping, actor=job.created_by, progress=progress
        )
    except DicomImportError as exc:
        # Only a running job turns failed: if a duplicate delivery already succeeded, it stays so.
        ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(
            state=ImportJob.State.FAILED, error=str(exc), errors=exc.errors, finished_at=timezone.now()
        )
    except Exception as exc:  # noqa: BLE001 - recorded on the job for the coordinator, logged in full
        logger.exception("import job %s failed", job_id)
        ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(
            state=ImportJob.State.FAILED,
            error=f"internal error ({type(exc).__name__}); nothing was stored",
            errors=[],
            finished_at=timezone.now(),
        )
    else:
        ImportJob.objects.filter(pk=job_id).update(
            state=ImportJob.State.SUCCEEDED,
            progress=100,
            error="",
            errors=[],
            series_created=len(result.series),
            finished_at=timezone.now(),
        )
    finally:
        source = Path(job.source_path)
        if source.is_file() and source.parent.resolve() == upload_dir().resolve():
            source.unlink(missing_ok=True)
