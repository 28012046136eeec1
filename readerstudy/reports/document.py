"""What a report is made of (tables, figures, sections, the report) and the context of one build.

Pure: no Django. :class:`Context` carries what every section needs (the analysis result, the
configuration, labels and the study's order of sequences and arms) so that nothing is global.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from readerstudy.analysis.config import AnalysisConfig
from readerstudy.analysis.runner import AnalysisResult

@dataclass
class Table:
    """One display table: ``frame`` holds strings; ``columns`` may be 2-level ``(group, column)``."""

    key: str
    title: str
    frame: pd.DataFrame
    footnotes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: Per body cell a status class ("v-ni", "v-inc", "v-inf", or ""), for coloured cells; same shape as ``frame``.
    cell_classes: list[list[str]] | None = None
    #: Detail (per reader, per level) printed in the appendix of the PDF/HTML; always in the workbook.
    appendix: bool = False


@dataclass
class Figure:
    """One figure as PNG and SVG bytes."""

    key: str
    title: str
    caption: str
    png: bytes
    svg: bytes


@dataclass
class Section:
    """A part of the report; ``source`` cites the published table it is shaped like (may be empty)."""

    key: str
    title: str
    source: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    note: str = ""
    paragraphs: list[str] = field(default_factory=list)
    #: Further result lines printed after the section's tables (the verdict's detection, κ, ... lines).
    lines: list[str] = field(default_factory=list)
    population: list[str] = field(default_factory=list)
    #: Keys of ``methods.REFERENCES`` of the published studies this section's tables follow.
    cites: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        return bool(self.tables or self.paragraphs or self.lines)

    @property
    def body_tables(self) -> list[Table]:
        return [t for t in self.tables if not t.appendix]

    @property
    def appendix_tables(self) -> list[Table]:
        return [t for t in self.tables if t.appendix]


@dataclass
class Report:
    """Everything the renderers need; nothing here depends on Django."""

    title: str
    stamp: dict[str, Any]
    verdict: Section
    sections: list[Section]
    methods: str
    references: list[str]
    result: AnalysisResult
    answers_csv: bytes
    integrity: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def section(self, key: str) -> Section:
        for s in [self.verdict, *self.sections]:
            if s.key == key:
                return s
        raise KeyError(key)

    @property
    def present_sections(self) -> list[Section]:
        """The sections this study's design has, in report order (the others are not printed)."""
        return [s for s in self.sections if s.present]

    @property
    def body_sections(self) -> list[Section]:
        """Present sections with something for the main text (the others live in the appendix only)."""
        return [s for s in self.present_sections if s.body_tables or s.figures]

    @property
    def appendix_tables(self) -> list[tuple[str, Section, Table]]:
        """``(number, section, table)`` of every appendix table, numbered A1, A2, ... in report order."""
        tables = [(sec, t) for sec in self.present_sections for t in sec.appendix_tables]
        return [(f"A{i}", sec, t) for i, (sec, t) in enumerate(tables, 1)]

    @property
    def absent_sections(self) -> list[Section]:
        return [s for s in self.sections if not s.present]

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    @property
    def data_tables(self) -> dict[str, pd.DataFrame]:
        """The analysis tables at full precision (plus ``integrity`` when given): the CSVs."""
        tables = dict(self.result.tables)
        if self.integrity is not None:
            tables["integrity"] = self.integrity
        return tables



@dataclass(frozen=True)
class Order:
    """The study's own order of sequences and arms (``meta["sequences"]``, ``meta["arms"]``)."""

    ranks: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, names) -> "Order":
        return cls({str(name): i for i, name in enumerate(dict.fromkeys(str(n) for n in names))})

    def rank(self, value) -> tuple[int, int]:
        return (0, self.ranks[value]) if value in self.ranks else (1, 0)

    def values(self, values, first: str | None = None) -> list:
        """Distinct values in the study's order (then as they come), ``first`` (the reference) first."""
        vals = sorted(dict.fromkeys(values), key=self.rank)
        return ([first] if first in vals else []) + [v for v in vals if v != first]

    def sort_rows(self, table: "Table") -> None:
        """Rows in the study's sequence order (a stable sort: the order within a sequence stays)."""
        frame = table.frame
        col = next((c for c in frame.columns if c in ("Sequence", ("", "Sequence"))), None)
        if col is None or frame.empty:
            return
        ranks = [self.rank(v) for v in frame[col]]
        order = sorted(range(len(frame)), key=lambda i: ranks[i])
        table.frame = frame.iloc[order].reset_index(drop=True)


class Labels:
    """Display label of an item or derived quantity (its configured ``label``, else its id)."""

    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg

    def __call__(self, item: str) -> str:
        it = self.cfg.items.get(item)
        if it is not None and it.label:
            return it.label
        d = self.cfg.derived.get(item)
        if d is not None and d.label:
            return d.label
        return item


@dataclass(frozen=True)
class Context:
    """Everything the section, figure and methods builders of one report read."""

    result: AnalysisResult
    cfg: AnalysisConfig
    label: Labels
    order: Order
    single: pd.DataFrame          # validated answers without preference items (derived quantities added)
    units: pd.DataFrame           # arm/reference pairs per case (readers' mean), for Bland–Altman plots
    has_reference: bool = False
    integrity: pd.DataFrame | None = None
    #: ``build_report``'s ``meta`` (study name, seed, order, ``reads`` scheduled/submitted per reader, ...).
    meta: dict[str, Any] = field(default_factory=dict)
