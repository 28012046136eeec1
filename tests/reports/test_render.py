"""The rendered report: one number agrees across the HTML, the PDF (pdftoppm/pdftotext), the XLSX
and the CSV; the PDF's pages render; the zip holds what the analysis command writes."""
from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from html.parser import HTMLParser

import pandas as pd
import pytest
from openpyxl import load_workbook

from readerstudy.analysis.runner import TABLES
from readerstudy.reports.formatting import fmt, fmt_p, mean_sd


class _Cells(HTMLParser):
    """Rows of every <table data-table=...> as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-table" in attrs:
            self._table = self.tables.setdefault(attrs["data-table"], [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def csv_tables(rendered):
    with zipfile.ZipFile(rendered["zip"]) as zf:
        return {name: pd.read_csv(io.BytesIO(zf.read(f"csv/{name}.csv")), keep_default_na=False, na_values=[""])
                for name in TABLES}


@pytest.fixture(scope="module")
def pdf_text(rendered):
    return subprocess.run(["pdftotext", "-layout", str(rendered["pdf"]), "-"], check=True, capture_output=True,
                          text=True).stdout


def _row(table: list[list[str]], *first: str) -> list[str]:
    rows = [r for r in table if r[:len(first)] == list(first)]
    assert len(rows) == 1, (first, rows)
    return rows[0]


def test_a_number_agrees_across_html_pdf_xlsx_and_csv(rendered, csv_tables, pdf_text):
    # Noninferiority of Fast-DL50 against Standard on SAG T2 FS, Apparent SNR (seed 000 Table 4).
    ni = csv_tables["noninferiority"]
    row = ni[(ni["sequence"] == "SAG T2 FS") & (ni["arm"] == "Fast-DL50") & (ni["item"] == "apparent_snr")].iloc[0]
    pseudo, p_adj = fmt(row["pseudomedian"]), fmt_p(row["p_adjusted"]) + ("*" if row["noninferior"] else "")
    # Descriptives (seed 000 Table 3) of the same arm: mean ± SD of Apparent SNR.
    de = csv_tables["descriptives"]
    d = de[(de["sequence"] == "SAG T2 FS") & (de["arm"] == "Fast-DL50") & (de["item"] == "apparent_snr")].iloc[0]
    cell = mean_sd(d["mean"], d["sd"])
    expected_ni = ["SAG T2 FS", "Fast-DL50 vs Standard", pseudo]

    parser = _Cells()
    parser.feed(rendered["html"].read_text(encoding="utf-8"))
    html_row = _row(parser.tables["noninferiority"], "SAG T2 FS", "Fast-DL50 vs Standard")
    assert html_row[2:5] == [pseudo, fmt_p(row["p_value"]), p_adj]
    assert _row(parser.tables["descriptives"], "SAG T2 FS", "Fast-DL50")[2] == cell

    ni_text = pdf_text[pdf_text.index("Noninferiority tests"):]  # the verdict matrix comes first
    pdf_line = next(line for line in ni_text.splitlines() if re.match(r"\s*SAG T2 FS\s+Fast-DL50 vs Standard", line))
    assert pdf_line.split()[6:9] == [pseudo, fmt_p(row["p_value"]), p_adj]
    desc_line = next(line for line in pdf_text.splitlines() if re.match(r"\s*SAG T2 FS\s+Fast-DL50\s+\d", line))
    assert cell in desc_line

    wb = load_workbook(rendered["xlsx"], read_only=True)
    ni_sheet = [list(r) for r in wb["Noninferiority tests"].iter_rows(values_only=True)]
    assert ni_sheet[3 + list(map(tuple, (r[:2] for r in ni_sheet[3:]))).index(tuple(expected_ni[:2]))][2:5] == \
        [pseudo, fmt_p(row["p_value"]), p_adj]
    data = pd.DataFrame(list(wb["data_noninferiority"].iter_rows(values_only=True))[1:],
                        columns=next(wb["data_noninferiority"].iter_rows(values_only=True)))
    x = data[(data["sequence"] == "SAG T2 FS") & (data["arm"] == "Fast-DL50") & (data["item"] == "apparent_snr")]
    assert x["pseudomedian"].iloc[0] == pytest.approx(row["pseudomedian"], rel=1e-9)
    assert x["p_adjusted"].iloc[0] == pytest.approx(row["p_adjusted"], rel=1e-9)


def test_pdf_pages_render_and_show_the_expected_content(rendered, pdf_text, report, tmp_path):
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(rendered["pdf"])], capture_output=True,
                                                              text=True, check=True).stdout).group(1))
    assert pages >= 5
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(rendered["pdf"]), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == pages
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 2000 for p in pngs)
    flat = " ".join(pdf_text.split())
    for text in ("Methods", "Noninferiority tests", "Conger's κ over readers", "Findings reported",
                 "Structural similarity and per-pixel L1 difference",
                 "Figure: Difference of each arm from the reference",
                 "a margin of -0.5", report.stamp["answers_sha256"], "References"):
        assert text in flat, text


def test_html_is_one_standalone_printable_page(rendered, report):
    html = rendered["html"].read_text(encoding="utf-8")
    assert "@media print" in html and "@page" in html
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)  # nothing fetched from elsewhere
    assert html.count("data:image/png;base64,") == len(report.figures)
    assert report.stamp["answers_sha256"] in html and "a margin of 0.25" in html


def test_xlsx_has_a_sheet_per_table(rendered, report):
    wb = load_workbook(rendered["xlsx"], read_only=True)
    names = wb.sheetnames
    assert names[0] == "Report"
    for table in (t for s in report.sections for t in s.tables):
        assert table.title[:31] in names or table.key in names
    assert {f"data_{t}" for t in TABLES} | {"data_integrity"} <= set(names)
    # The verdict matrix keeps its colours: one filled cell per status cell.
    sheet = load_workbook(rendered["xlsx"])["verdict"]
    classes = [c for row in report.verdict.tables[0].cell_classes for c in row if c]
    filled = [c for row in sheet.iter_rows() for c in row if c.fill is not None and c.fill.fill_type == "solid"]
    assert len(filled) == len(classes) > 0


def test_zip_holds_csvs_results_answers_figures_and_methods(rendered, report, study_tables):
    with zipfile.ZipFile(rendered["zip"]) as zf:
        names = set(zf.namelist())
        assert {f"csv/{t}.csv" for t in TABLES} | {"csv/integrity.csv", "results.json", "answers.csv", "methods.txt",
                                                   "stamp.json", "report.html"} <= names
        assert {f"figures/{f.key}.{ext}" for f in report.figures for ext in ("png", "svg")} <= names
        answers = zf.read("answers.csv")
        assert hashlib.sha256(answers).hexdigest() == report.stamp["answers_sha256"]
        assert json.loads(zf.read("stamp.json")) == report.stamp
        assert zf.read("methods.txt").decode().startswith(report.methods)
        results = json.loads(zf.read("results.json"))
    assert set(results["tables"]) == set(TABLES)
    assert len(pd.read_csv(io.BytesIO(answers))) == len(study_tables[0])
