"""Render a :class:`~.build.Report` as HTML, PDF, XLSX and a zip (pure: no Django settings needed).

* HTML: the Django template ``templates/reports/report.html`` rendered by a standalone template
  engine; figures are embedded as data URIs, so the file works on its own and prints (print CSS).
* PDF: ReportLab (pure Python, no browser or system library on the worker), A4 landscape, with
  the DejaVu Sans font that matplotlib ships (κ, ±, − and ρ print; text extracts with pdftotext).
* XLSX: openpyxl; a sheet for the report (stamp, methods), one per display table, one per
  analysis table at full precision (``data_<name>``).
* zip: ``csv/<table>.csv`` as ``manage.py analyze`` writes them, ``results.json``,
  ``answers.csv`` (the exact bytes the stamp hashes), ``figures/*.png|svg``, ``methods.txt``,
  ``stamp.json`` and ``report.html``.
"""
from __future__ import annotations

import base64
import html
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from readerstudy.analysis.runner import write_results

from .document import Report, Table

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"
FORMATS = ("html", "pdf", "xlsx", "zip")
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


# --- shared view of a table -----------------------------------------------------------------------

def header_rows(frame: pd.DataFrame) -> list[list[tuple[str, int]]]:
    """Header rows as ``(text, colspan)`` cells: one row, or two for ``(group, column)`` labels."""
    cols = list(frame.columns)
    if not isinstance(frame.columns, pd.MultiIndex):
        return [[(str(c), 1) for c in cols]]
    top: list[tuple[str, int]] = []
    for group, _ in cols:
        if top and top[-1][0] == group and group:
            top[-1] = (group, top[-1][1] + 1)
        else:
            top.append((str(group), 1))
    return [top, [(str(sub), 1) for _, sub in cols]]


def body_rows(frame: pd.DataFrame) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def _stamp_items(report: Report) -> list[tuple[str, str]]:
    s = report.stamp
    seed = s.get("seed")
    return [("Study", str(s.get("study") or "—")), ("Study seed", "—" if seed is None else str(seed)),
            ("Answers", str(s["answers"])), ("Readers × cases", f"{s.get('readers')} × {s.get('cases')}"),
            ("Answers SHA-256", s["answers_sha256"]), ("Software", f"{s['software']} {s['version']}"),
            ("Generated", s["generated_at"])]


def _context(report: Report, downloads: dict[str, str] | None) -> dict[str, Any]:
    sections = []
    for number, sec in enumerate(report.sections, 1):
        # Everything reaches the template as text: Django would localize numbers, which needs settings.
        tables = [{"key": t.key, "title": t.title, "rows": body_rows(t.frame),
                   "headers": [[(text, str(span) if span > 1 else "") for text, span in hrow]
                               for hrow in header_rows(t.frame)],
                   "footnotes": t.footnotes, "sources": ", ".join(f"{s}.csv" for s in t.sources)} for t in sec.tables]
        figures = [{"key": f.key, "title": f.title, "caption": f.caption,
                    "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")} for f in sec.figures]
        sections.append({"number": str(number), "key": sec.key, "title": sec.title, "seed": sec.seed, "note": sec.note,
                         "tables": tables, "figures": figures})
    return {"report": report, "title": report.title, "stamp": _stamp_items(report), "methods": report.methods,
            "references": report.references, "notes": report.notes, "sections": sections,
            "downloads": downloads or {}}


# --- HTML -----------------------------------------------------------------------------------------

def render_html(report: Report, *, downloads: dict[str, str] | None = None) -> str:
    """The report as one self-contained HTML page (``downloads``: format → URL, shown as links)."""
    from django.template import Context, Engine

    engine = Engine(dirs=[str(TEMPLATE_DIR)], autoescape=True)
    return engine.get_template("reports/report.html").render(Context(_context(report, downloads)))


# --- PDF ------------------------------------------------------------------------------------------

_FONTS_READY = False


def _fonts() -> tuple[str, str]:
    global _FONTS_READY
    if not _FONTS_READY:
        import matplotlib
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(ttf / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(ttf / "DejaVuSans-Bold.ttf")))
        _FONTS_READY = True
    return "DejaVuSans", "DejaVuSans-Bold"


def _col_widths(headers: list[list[tuple[str, int]]], rows: list[list[str]], total: float, font: str,
                bold: str, size: float) -> list[float]:
    """Natural column widths; when the table is wider than the page, the widest columns give way
    (their text wraps) down to their longest word, so short columns such as "Sequence" never break."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pad = 5.0
    n = sum(span for _, span in headers[-1])
    natural, minimum = [], []
    for j in range(n):
        head = headers[-1][j][0]
        texts = [r[j] for r in rows]
        natural.append(max([stringWidth(head, bold, size)] + [stringWidth(t, font, size) for t in texts]) + pad)
        words = [w for t in [head] + texts for w in t.split()] or [""]
        minimum.append(max(stringWidth(w, bold, size) for w in words) + pad)
    if sum(natural) <= total:
        return natural
    lo, hi = 0.0, max(natural)
    for _ in range(40):  # the cap c with sum(max(min(natural, c), minimum)) = total
        c = (lo + hi) / 2
        if sum(max(min(w, c), m) for w, m in zip(natural, minimum)) > total:
            hi = c
        else:
            lo = c
    return [max(min(w, lo), m) for w, m in zip(natural, minimum)]


def _pdf_table(table: Table, width: float, styles: dict):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    headers = header_rows(table.frame)
    rows = body_rows(table.frame)
    cell, head = styles["cell"], styles["head"]
    data = []
    spans = []
    for h, hrow in enumerate(headers):
        line, col = [], 0
        for text, span in hrow:
            line.append(Paragraph(html.escape(text), head))
            line.extend([""] * (span - 1))
            if span > 1:
                spans.append(("SPAN", (col, h), (col + span - 1, h)))
            col += span
        data.append(line)
    for r in rows:
        data.append([Paragraph(html.escape(v), cell) for v in r])
    widths = _col_widths(headers, rows, width, cell.fontName, head.fontName, cell.fontSize)
    t = RLTable(data, colWidths=widths, repeatRows=len(headers), hAlign="LEFT")
    t.setStyle(TableStyle([
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, len(headers) - 1), (-1, len(headers) - 1), 0.6, colors.black),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("ROWBACKGROUNDS", (0, len(headers)), (-1, -1), [colors.white, colors.HexColor("#f3f4f6")]),
        *spans,
    ]))
    return t


def render_pdf(report: Report) -> bytes:
    """The report as a printable PDF (A4 landscape): stamp, Methods, every section, figures."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import CondPageBreak, Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer

    regular, bold = _fonts()
    styles = {
        "title": ParagraphStyle("title", fontName=bold, fontSize=15, leading=19, spaceAfter=6),
        "h2": ParagraphStyle("h2", fontName=bold, fontSize=11.5, leading=14, spaceBefore=8, spaceAfter=3),
        "h3": ParagraphStyle("h3", fontName=bold, fontSize=9, leading=11, spaceBefore=4, spaceAfter=2),
        "body": ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11, spaceAfter=3),
        "small": ParagraphStyle("small", fontName=regular, fontSize=7, leading=8.6, spaceAfter=1),
        "cell": ParagraphStyle("cell", fontName=regular, fontSize=6.8, leading=8),
        "head": ParagraphStyle("head", fontName=bold, fontSize=6.8, leading=8),
    }
    buf = io.BytesIO()
    page = landscape(A4)
    margin = 12 * mm
    width = page[0] - 2 * margin
    stamp = report.stamp

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(regular, 6.5)
        canvas.drawString(margin, 7 * mm, f"{stamp['software']} {stamp['version']} · study seed {stamp.get('seed')} · "
                                          f"{stamp['answers']} answers · SHA-256 {stamp['answers_sha256']} · "
                                          f"{stamp['generated_at']}")
        canvas.drawRightString(page[0] - margin, 7 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(buf, pagesize=page, leftMargin=margin, rightMargin=margin, topMargin=margin,
                            bottomMargin=14 * mm, title=report.title, author=f"readerstudy {stamp['version']}",
                            creator=f"readerstudy {stamp['version']}", invariant=True)
    story: list = [Paragraph(html.escape(report.title), styles["title"])]
    story.append(Paragraph("<br/>".join(f"<b>{html.escape(k)}:</b> {html.escape(v)}" for k, v in _stamp_items(report)),
                           styles["small"]))
    story.append(Paragraph("Methods", styles["h2"]))
    story.append(Paragraph(html.escape(report.methods), styles["body"]))
    for note in report.notes:
        story.append(Paragraph(html.escape(f"Note: {note}"), styles["small"]))
    for number, sec in enumerate(report.sections, 1):
        story.append(CondPageBreak(40 * mm))
        story.append(Paragraph(html.escape(f"{number}. {sec.title}") +
                               f" <font size=7 color='#555555'>({html.escape(sec.seed)})</font>", styles["h2"]))
        if not sec.present:
            story.append(Paragraph(html.escape(sec.note), styles["body"]))
            continue
        for table in sec.tables:
            story.append(KeepTogether([Paragraph(html.escape(table.title), styles["h3"])]))
            story.append(_pdf_table(table, width, styles))
            for fn in table.footnotes:
                story.append(Paragraph(html.escape(fn), styles["small"]))
            story.append(Spacer(1, 3 * mm))
        for fig in sec.figures:
            img = Image(io.BytesIO(fig.png))
            natural = 72.0 / 120  # figures are saved at 120 dpi; points per pixel at natural size
            scale = min(natural, width / img.imageWidth, 150 * mm / img.imageHeight)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            story.append(KeepTogether([Paragraph(html.escape(f"Figure: {fig.title}"), styles["h3"]), img,
                                       Paragraph(html.escape(fig.caption), styles["small"])]))
    story.append(Paragraph("References", styles["h2"]))
    for i, ref in enumerate(report.references, 1):
        story.append(Paragraph(html.escape(f"[{i}] {ref}"), styles["small"]))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


# --- XLSX -----------------------------------------------------------------------------------------

def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join("_" if ch in '[]:*?/\\' else ch for ch in name)[:31]
    out, i = base, 2
    while out.lower() in used:
        suffix = f" {i}"
        out, i = base[:31 - len(suffix)] + suffix, i + 1
    used.add(out.lower())
    return out


def _xlsx_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and (v != v):
        return None
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return str(v)
    if hasattr(v, "item"):
        return _xlsx_value(v.item())
    return v


def render_xlsx(report: Report) -> bytes:
    """The report as a workbook: ``Report`` (stamp, methods), one sheet per display table, ``data_*`` sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "Report"
    used = {"report"}
    bold = Font(bold=True)
    ws.append([report.title])
    ws["A1"].font = Font(bold=True, size=13)
    for k, v in _stamp_items(report):
        ws.append([k, v])
    ws.append([])
    ws.append(["Methods", report.methods])
    ws.cell(ws.max_row, 2).alignment = Alignment(wrap_text=True, vertical="top")
    for i, ref in enumerate(report.references, 1):
        ws.append([f"[{i}]", ref])
    ws.append([])
    ws.append(["Section", "Table", "Sheet", "Note"])
    index_start = ws.max_row
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 110
    listing = []
    for sec in report.sections:
        if not sec.present:
            listing.append([sec.title, "", "", sec.note])
        for table in sec.tables:
            name = _sheet_name(table.title if len(table.title) <= 31 else table.key, used)
            listing.append([sec.title, table.title, name, ""])
            sh = wb.create_sheet(name)
            sh.append([table.title])
            sh["A1"].font = bold
            headers = header_rows(table.frame)
            for hrow in headers:
                r = sh.max_row + 1
                col = 1
                for text, span in hrow:
                    sh.cell(r, col, text).font = bold
                    if span > 1:
                        sh.merge_cells(start_row=r, start_column=col, end_row=r, end_column=col + span - 1)
                    col += span
            for row in body_rows(table.frame):
                sh.append(row)
            for fn in table.footnotes:
                sh.append([fn])
            for j in range(1, sum(s for _, s in headers[-1]) + 1):
                sh.column_dimensions[get_column_letter(j)].width = 16
    for row in listing:
        ws.append(row)
    for cell in ws[index_start]:
        cell.font = bold
    for name, df in report.data_tables.items():
        sh = wb.create_sheet(_sheet_name(f"data_{name}", used))
        sh.append([str(c) for c in df.columns])
        for c in sh[1]:
            c.font = bold
        for row in df.itertuples(index=False, name=None):
            sh.append([_xlsx_value(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- zip ------------------------------------------------------------------------------------------

def methods_text(report: Report) -> str:
    refs = "\n".join(f"[{i}] {r}" for i, r in enumerate(report.references, 1))
    return f"{report.methods}\n\nReferences\n{refs}\n"


def render_zip(report: Report, *, html_text: str | None = None) -> bytes:
    """CSV tables, ``results.json``, the tidy answers, figures, ``methods.txt``, ``stamp.json``, ``report.html``."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in write_results(report.result, tmp):
            arc = "results.json" if path.name == "results.json" else f"csv/{path.name}"
            zf.write(path, arc)
        if report.integrity is not None:
            zf.writestr("csv/integrity.csv", report.integrity.to_csv(index=False, float_format="%.10g"))
        zf.writestr("answers.csv", report.answers_csv)
        for fig in report.figures:
            zf.writestr(f"figures/{fig.key}.png", fig.png)
            zf.writestr(f"figures/{fig.key}.svg", fig.svg)
        zf.writestr("methods.txt", methods_text(report))
        zf.writestr("stamp.json", json.dumps(report.stamp, indent=1))
        zf.writestr("report.html", html_text if html_text is not None else render_html(report))
    return buf.getvalue()


# --- all at once ----------------------------------------------------------------------------------

def render_all(report: Report, *, downloads: dict[str, str] | None = None, progress=None) -> dict[str, bytes]:
    """Every format as bytes: ``{"html": ..., "pdf": ..., "xlsx": ..., "zip": ...}``."""
    tick = progress or (lambda pct, msg: None)
    html_text = render_html(report, downloads=downloads)
    tick(88, "PDF")
    pdf = render_pdf(report)
    tick(94, "workbook")
    xlsx = render_xlsx(report)
    tick(97, "zip")
    zipped = render_zip(report, html_text=render_html(report) if downloads else html_text)
    return {"html": html_text.encode("utf-8"), "pdf": pdf, "xlsx": xlsx, "zip": zipped}


def write_report(report: Report, out_dir: str | Path, *, downloads: dict[str, str] | None = None,
                 progress=None) -> dict[str, Path]:
    """Write ``report.html``, ``report.pdf``, ``report.xlsx`` and ``report.zip`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt_, data in render_all(report, downloads=downloads, progress=progress).items():
        path = out / f"report.{fmt_}"
        path.write_bytes(data)
        paths[fmt_] = path
    return paths
