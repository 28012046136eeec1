"""Which series is which: the mapping CSV, header rules (TOML/JSON), their JSON form for jobs, and
the plan that assigns every file to (case, sequence, arm). See docs/import.md "Mapping"."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom

from readerstudy.studies.models import Study

from .archive import SourceFile
from .errors import Problems, fail
from .frames import Frame


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
        raise fail(name, "the mapping CSV is empty") from None
    columns = [c.strip().lower() for c in header]
    problems = Problems()
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
        raise fail(path.name, f"cannot read the mapping CSV: {exc}") from None
    return parse_mapping_csv(text, name=path.name)


def _field_rule(data: Any, target: str, name: str) -> FieldRule:
    if not isinstance(data, dict):
        raise fail(name, f"[{target}] must be a table with 'field' and 'map' and/or 'regex'")
    unknown = set(data) - {"field", "map", "regex", "pseudonymize"}
    if unknown:
        raise fail(name, f"[{target}]: unknown key(s) {', '.join(sorted(unknown))}")
    field_name = data.get("field")
    if not isinstance(field_name, str) or pydicom.datadict.tag_for_keyword(field_name) is None:
        raise fail(name, f"[{target}]: 'field' must be a DICOM keyword such as SeriesDescription, got {field_name!r}")
    mapping = data.get("map", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise fail(name, f"[{target}]: 'map' must map header values to names")
    regex = []
    for pair in data.get("regex", []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise fail(name, f"[{target}]: each 'regex' entry must be [pattern, value], got {pair!r}")
        try:
            re.compile(pair[0])
        except re.error as exc:
            raise fail(name, f"[{target}]: bad regular expression {pair[0]!r}: {exc}") from None
        regex.append((pair[0], pair[1]))
    pseudonymize = data.get("pseudonymize", "")
    if pseudonymize:
        if target != "case":
            raise fail(name, f"[{target}]: 'pseudonymize' is only for the case")
        if pseudonymize is True:
            pseudonymize = "C{:03d}"
        try:
            pseudonymize.format(1)
        except (AttributeError, IndexError, ValueError, KeyError):
            raise fail(name, f"[case]: pseudonymize must be a format such as 'C{{:03d}}', got {pseudonymize!r}") from None
    if not mapping and not regex and not pseudonymize:
        raise fail(name, f"[{target}]: give 'map', 'regex'" + (" or 'pseudonymize'" if target == "case" else ""))
    return FieldRule(field=field_name, map={str(k): v for k, v in mapping.items()}, regex=tuple(regex), pseudonymize=pseudonymize)


def rules_from_dict(data: dict, *, name: str = "rules") -> HeaderRules:
    if not isinstance(data, dict):
        raise fail(name, "header rules must be a table with [case], [sequence] and [arm]")
    unknown = set(data) - {"case", "sequence", "arm"}
    if unknown:
        raise fail(name, f"unknown section(s) {', '.join(sorted(unknown))}; expected case, sequence, arm")
    missing = [k for k in ("case", "sequence", "arm") if k not in data]
    if missing:
        raise fail(name, f"missing section(s) {', '.join(missing)}")
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
        raise fail(name, f"cannot parse the rules as {fmt.upper()}: {exc}") from None
    return rules_from_dict(data, name=name)


def load_rules(path: Path | str) -> HeaderRules:
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(path.name, f"cannot read the rules: {exc}") from None
    return parse_rules(text, fmt=fmt, name=path.name)


def load_mapping(path: Path | str) -> Mapping:
    """A mapping file by its suffix: ``.csv`` → table, ``.json``/``.toml`` → header rules."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return load_mapping_csv(path)
    if path.suffix.lower() in {".json", ".toml"}:
        return load_rules(path)
    raise fail(path.name, "a mapping must be a .csv table or .json/.toml header rules")


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
    raise fail(str(name), "the job's mapping must have kind 'table' or 'rules'")


def coerce_mapping(mapping: Mapping | Path | str) -> Mapping:
    if isinstance(mapping, (MappingTable, HeaderRules)):
        return mapping
    if isinstance(mapping, (str, os.PathLike)):
        return load_mapping(Path(mapping))
    raise TypeError(f"mapping must be a MappingTable, HeaderRules or a path, not {type(mapping).__name__}")



@dataclass
class PlannedSeries:
    case: str
    sequence: str
    arm: str
    where: str  # mapping path or series UID, for series-level errors
    files: list[SourceFile]
    expected_slices: int | None = None
    headers: list[pydicom.Dataset] = field(default_factory=list)
    # (index into files, frame), sorted along the slice normal: the images of the series
    frames: list[tuple[int, Frame]] = field(default_factory=list)
    geometry: dict[str, Any] = field(default_factory=dict)


def strip_common_top(files: list[SourceFile], table: MappingTable) -> None:
    tops = {f.rel.split("/", 1)[0] for f in files}
    if len(tops) != 1 or any("/" not in f.rel for f in files):
        return
    top = tops.pop()
    paths = [r.path for r in table.rows if r.path]
    if not paths or any(p == top or p.startswith(top + "/") for p in paths):
        return
    for f in files:
        f.rel = f.rel.split("/", 1)[1]


@dataclass
class Skipped:
    """Series left out on request (``skip_unmapped``): what the job result lists."""

    series: dict[str, list[SourceFile]] = field(default_factory=dict)  # SeriesInstanceUID -> files

    def add(self, uid: str, f: SourceFile) -> None:
        self.series.setdefault(uid, []).append(f)

    def add_all(self, uid: str, fs: list[SourceFile]) -> None:
        for f in fs:
            self.add(uid, f)

    def listing(self, headers: dict[str, pydicom.Dataset]) -> list[dict[str, Any]]:
        """``[{series_description, images, folder}]`` sorted by folder; the coordinator's own data."""
        out = []
        for fs in self.series.values():
            ds = headers[fs[0].rel]
            folder = fs[0].rel.rsplit("/", 1)[0] if "/" in fs[0].rel else ""
            out.append(
                {
                    "series_description": str(ds.get("SeriesDescription", "") or ""),
                    "modality": str(ds.get("Modality", "") or ""),
                    "images": len(fs),
                    "folder": folder,
                }
            )
        return sorted(out, key=lambda s: (s["folder"], s["series_description"]))


def plan_from_table(
    files: list[SourceFile],
    headers: dict[str, pydicom.Dataset],
    table: MappingTable,
    problems: Problems,
    skipped: Skipped | None = None,
) -> list[PlannedSeries]:
    """Assign files to rows; unmatched files are an error, or set aside in ``skipped`` when given."""
    by_row: dict[int, list[SourceFile]] = defaultdict(list)
    uid_rows = {r.series_instance_uid: i for i, r in enumerate(table.rows) if r.series_instance_uid}
    for f in files:
        ds = headers[f.rel]
        matches = [
            i for i, r in enumerate(table.rows) if r.path and (f.rel == r.path or f.rel.startswith(r.path + "/"))
        ]
        uid_row = uid_rows.get(str(ds.SeriesInstanceUID))
        if uid_row is not None:
            matches.append(uid_row)
        if not matches and skipped is not None:
            skipped.add(str(ds.SeriesInstanceUID), f)
        elif not matches:
            problems.add(
                f.rel, f"not assigned to a case/sequence/arm by any row of {table.name} (skip such series with skip_unmapped)"
            )
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
        planned.append(PlannedSeries(row.case, row.sequence, row.arm, where, by_row[i], expected_slices=row.slices))
    return planned


def apply_rule(rule: FieldRule, value: str) -> str | None:
    if value in rule.map:
        return rule.map[value]
    for pattern, target in rule.regex:
        m = re.search(pattern, value)
        if m:
            return m.expand(target)
    return None


def plan_from_rules(
    study: Study,
    files: list[SourceFile],
    headers: dict[str, pydicom.Dataset],
    rules: HeaderRules,
    problems: Problems,
    skipped: Skipped | None = None,
) -> list[PlannedSeries]:
    """One series per SeriesInstanceUID named by the rules; a series a rule does not name is an
    error, or set aside in ``skipped`` when given."""
    by_series: dict[str, list[SourceFile]] = defaultdict(list)
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
            mapped = apply_rule(rules.case, value) if (rules.case.map or rules.case.regex) else None
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
                names[target] = apply_rule(rule, value) if value else None
            if not names[target] and skipped is None:
                # The value is the coordinator's own data; it is shown only to them.
                problems.add(fs[0].rel, f"{target}: {rule.field} {value!r} matches no rule in {rules.name}")
        if not all(names.values()) and skipped is not None:
            skipped.add_all(uid, fs)
        elif all(names.values()):
            planned.append(PlannedSeries(names["case"], names["sequence"], names["arm"], fs[0].rel.rsplit("/", 1)[0], fs))
    return planned
