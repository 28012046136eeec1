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
import datetime as dt
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
#: Background of a verdict cell per status class (the HTML uses the same colours).
STATUS_COLOURS = {"v-ni": "#c8ecd0", "v-inc": "#fdf0c2", "v-inf": "#f8c9c4"}
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


def _absent_text(report: Report) -> str:
    absent = report.absent_sections
    if not absent:
        return ""
    return "Not part of this study's design or data: " + "; ".join(
        f"{s.title.split(':')[0].split(' (')[0].lower()} ({s.note[:1].lower() + s.note[1:].rstrip('.')})"
        for s in absent) + "."


def _table_context(t: Table) -> dict[str, Any]:
    rows = body_rows(t.frame)
    classes = t.cell_classes or [[""] * len(r) for r in rows]
    return {"key": t.key, "title": t.title, "rows": [list(zip(r, c)) for r, c in zip(rows, classes)],
            "headers": [[(text, str(span) if span > 1 else "") for text, span in hrow] for hrow in header_rows(t.frame)],
            "footnotes": t.footnotes, "sources": ", ".join(f"{s}.csv" for s in t.sources),
            "wide": len(t.frame.columns) > 9}


def _numbered(report: Report) -> list[tuple[str, Any]]:
    return [(str(n), sec) for n, sec in enumerate(report.body_sections, 1)]


def _appendix_refs(report: Report, sec) -> str:
    return ", ".join(number for number, s, _ in report.appendix_tables if s is sec)


def _context(report: Report, downloads: dict[str, str] | None) -> dict[str, Any]:
    sections = []
    for number, sec in _numbered(report):
        # Everything reaches the template as text: Django would localize numbers, which needs settings.
        figures = [{"key": f.key, "title": f.title, "caption": f.caption,
                    "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")} for f in sec.figures]
        sections.append({"number": number, "key": sec.key, "title": sec.title, "source": sec.source,
                         "tables": [_table_context(t) for t in sec.body_tables], "figures": figures,
                         "appendix": _appendix_refs(report, sec)})
    appendix = [{**_table_context(t), "number": number, "section": sec.title}
                for number, sec, t in report.appendix_tables]
    v = report.verdict
    return {"report": report, "title": report.title, "stamp": _stamp_items(report), "methods": report.methods,
            "references": report.references, "notes": report.notes, "sections": sections, "appendix": appendix,
            "verdict": {"paragraphs": v.paragraphs, "lines": v.lines, "population": v.population, "note": v.note,
                        "tables": [_table_context(t) for t in v.tables]},
            "absent": _absent_text(report), "downloads": downloads or {}}


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
    widths = _col_widths(headers, rows, width, cell.fontName, head.fontName, cell.fontSize)
    if sum(widths) > width:  # even broken at every space the table is too wide: a smaller type size
        from reportlab.lib.styles import ParagraphStyle

        size = max(4.5, cell.fontSize * width / sum(widths) * 0.98)
        cell = ParagraphStyle("cell-small", parent=cell, fontSize=size, leading=size * 1.18)
        head = ParagraphStyle("head-small", parent=head, fontSize=size, leading=size * 1.18)
        widths = _col_widths(headers, rows, width, cell.fontName, head.fontName, size)
        if sum(widths) > width:  # still too wide: break inside words, columns in proportion
            cell = ParagraphStyle("cell-cjk", parent=cell, wordWrap="CJK")
            head = ParagraphStyle("head-cjk", parent=head, wordWrap="CJK")
            widths = [w * width / sum(widths) for w in widths]
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
    colours = []
    for i, classes in enumerate(table.cell_classes or []):
        for j, cls in enumerate(classes):
            if cls in STATUS_COLOURS:
                colours.append(("BACKGROUND", (j, len(headers) + i), (j, len(headers) + i),
                                colors.HexColor(STATUS_COLOURS[cls])))
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
        *colours,
    ]))
    return t


def _pdf_timestamp(generated_at: str):
    """ReportLab's document time stamp set to the report's generation time (UTC), so the PDF's
    CreationDate is when the report was generated and the file stays a function of the report."""
    import time

    from reportlab.pdfbase.pdfdoc import TimeStamp

    ts = TimeStamp(invariant=True)
    when = dt.datetime.fromisoformat(generated_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    ts.t = when.timestamp()
    ts.lt = time.gmtime(ts.t)
    ts.YMDhms = tuple(ts.lt)[:6]
    return ts


def render_pdf(report: Report) -> bytes:
    """The report as a printable PDF (A4 landscape): verdict first, Methods, the sections this
    study's design has, references, then the per-reader and per-level detail as an appendix."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import CondPageBreak, Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer

    regular, bold = _fonts()
    styles = {
        "title": ParagraphStyle("title", fontName=bold, fontSize=15, leading=19, spaceAfter=4),
        "h2": ParagraphStyle("h2", fontName=bold, fontSize=11.5, leading=14, spaceBefore=7, spaceAfter=3),
        "h3": ParagraphStyle("h3", fontName=bold, fontSize=9, leading=11, spaceBefore=4, spaceAfter=2),
        "body": ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11, spaceAfter=3),
        "bullet": ParagraphStyle("bullet", fontName=regular, fontSize=9, leading=11.5, spaceAfter=1.5, leftIndent=10,
                                 bulletIndent=2),
        "small": ParagraphStyle("small", fontName=regular, fontSize=7, leading=8.6, spaceAfter=1),
        "cell": ParagraphStyle("cell", fontName=regular, fontSize=6.8, leading=8),
        "head": ParagraphStyle("head", fontName=bold, fontSize=6.8, leading=8),
    }
    buf = io.BytesIO()
    page = landscape(A4)
    margin = 12 * mm
    width = page[0] - 2 * margin
    stamp = report.stamp
    timestamp = _pdf_timestamp(stamp["generated_at"])

    def footer(canvas, doc):
        canvas._doc._timeStamp = timestamp
        canvas.saveState()
        canvas.setFont(regular, 6.5)
        canvas.drawString(margin, 7 * mm, f"{stamp['software']} {stamp['version']} · study seed {stamp.get('seed')} · "
                                          f"{stamp['answers']} answers · SHA-256 {stamp['answers_sha256']} · "
                                          f"{stamp['generated_at']}")
        canvas.drawRightString(page[0] - margin, 7 * mm, f"page {doc.page}")
        canvas.restoreState()

    def add_table(story, table: Table, number: str = "") -> None:
        title = f"{number} {table.title}".strip()
        story.append(KeepTogether([Paragraph(html.escape(title), styles["h3"])]))
        story.append(_pdf_table(table, width, styles))
        for fn in table.footnotes:
            story.append(Paragraph(html.escape(fn), styles["small"]))
        story.append(Spacer(1, 2 * mm))

    doc = SimpleDocTemplate(buf, pagesize=page, leftMargin=margin, rightMargin=margin, topMargin=margin,
                            bottomMargin=14 * mm, title=report.title, author=f"readerstudy {stamp['version']}",
                            creator=f"readerstudy {stamp['version']}", invariant=True)
    story: list = [Paragraph(html.escape(report.title), styles["title"])]
    story.append(Paragraph(" · ".join(f"<b>{html.escape(k)}:</b> {html.escape(v)}" for k, v in _stamp_items(report)),
                           styles["small"]))
    verdict = report.verdict
    story.append(Paragraph("Verdict", styles["h2"]))
    for text in verdict.paragraphs:
        story.append(Paragraph(html.escape(text), styles["bullet"], bulletText="•"))
    if not (verdict.paragraphs or verdict.lines) and verdict.note:
        story.append(Paragraph(html.escape(verdict.note), styles["body"]))
    for table in verdict.tables:
        add_table(story, table)
    for text in verdict.lines:
        story.append(Paragraph(html.escape(text), styles["bullet"], bulletText="•"))
    for text in verdict.population:
        story.append(Paragraph(html.escape(text), styles["small"]))
    story.append(Paragraph("Methods", styles["h2"]))
    story.append(Paragraph(html.escape(report.methods), styles["body"]))
    for note in report.notes:
        story.append(Paragraph(html.escape(f"Note: {note}"), styles["small"]))
    if absent := _absent_text(report):
        story.append(Paragraph(html.escape(absent), styles["small"]))
    for number, sec in _numbered(report):
        story.append(CondPageBreak(40 * mm))
        source = f" <font size=7 color='#555555'>({html.escape(sec.source)})</font>" if sec.source else ""
        story.append(Paragraph(html.escape(f"{number}. {sec.title}") + source, styles["h2"]))
        for table in sec.body_tables:
            add_table(story, table)
        for fig in sec.figures:
            img = Image(io.BytesIO(fig.png))
            natural = 72.0 / 120  # figures are saved at 120 dpi; points per pixel at natural size
            scale = min(natural, width / img.imageWidth, 120 * mm / img.imageHeight)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            story.append(KeepTogether([Paragraph(html.escape(f"Figure: {fig.title}"), styles["h3"]), img,
                                       Paragraph(html.escape(fig.caption), styles["small"])]))
        if refs := _appendix_refs(report, sec):
            story.append(Paragraph(html.escape(f"Per-reader detail: Appendix {refs}."), styles["small"]))
    story.append(Paragraph("References", styles["h2"]))
    for i, ref in enumerate(report.references, 1):
        story.append(Paragraph(html.escape(f"[{i}] {ref}"), styles["small"]))
    if report.appendix_tables:
        story.append(PageBreak())
        story.append(Paragraph("Appendix: per-reader and per-level detail", styles["h2"]))
        for number, sec, table in report.appendix_tables:
            add_table(story, table, f"{number} ({sec.title}):")
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
    from openpyxl.styles import Alignment, Font, PatternFill
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
    for i, text in enumerate(report.verdict.paragraphs + report.verdict.lines + report.verdict.population):
        ws.append(["Verdict" if i == 0 else "", text])
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
    for sec in [report.verdict, *report.sections]:
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
            for i, row in enumerate(body_rows(table.frame)):
                sh.append(row)
                for j, cls in enumerate((table.cell_classes or [[]] * (i + 1))[i]):
                    if cls in STATUS_COLOURS:
                        colour = STATUS_COLOURS[cls].lstrip("#").upper()
                        sh.cell(sh.max_row, j + 1).fill = PatternFill("solid", start_color=colour, end_color=colour)
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
