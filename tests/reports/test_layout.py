"""What a reader of the PDF/HTML sees: the verdict on page 1, a main text of at most 10 pages for a
demo-sized study with the detail in an appendix, no internal markup, only the sections the design has,
and the real generation time in the PDF."""
from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pytest

from readerstudy.reports.build import build_report
from readerstudy.reports.render import render_html, render_pdf, write_report

from .fixture_study import ARMS, CONFIG, SEQUENCES, make_study

#: Text that must never reach a reader: template or TOML markup, internal seed tags, raw HTML.
MARKUP = re.compile(r"\[\[|\]\]|\{\{|\}\}|\{%|%\}|seed \d{3}|</?[a-z]+[ >/]|&lt;|&gt;|&amp;|\bnan\b|\bNaN\b")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def pdf_pages(path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


@pytest.fixture(scope="module")
def demo_sized(tmp_path_factory):
    """A study the size of the demo and of seed 000: 18 cases, 3 readers, 2 sequences, 3 arms, every section."""
    answers, reference, integrity = make_study(seed=11, n_cases=18)
    report = build_report(answers, CONFIG, reference, integrity,
                          meta={"study": "Demo-sized", "seed": 3, "sequences": list(SEQUENCES), "arms": list(ARMS)})
    return report, write_report(report, tmp_path_factory.mktemp("demo_sized"))


def test_main_text_fits_ten_pages_and_the_detail_is_in_the_appendix(demo_sized):
    report, paths = demo_sized
    pages = pdf_pages(paths["pdf"])
    info = subprocess.run(["pdfinfo", str(paths["pdf"])], check=True, capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == len(pages)
    first_appendix = next(i for i, page in enumerate(pages) if "Appendix: per-reader and per-level detail" in page)
    assert first_appendix <= 10, f"main text runs to {first_appendix} pages"
    main, appendix = "\n".join(pages[:first_appendix]), "\n".join(pages[first_appendix:])
    for title in ("Per-reader scores and paired tests", "Findings reported per reader",
                  "Sensitivity and specificity per reader", "Measurements per reader, paired tests and ICC"):
        assert title in appendix and title not in main, title
    # The verdict opens page 1, before the Methods.
    assert pages[0].index("Verdict") < pages[0].index("Methods") if "Methods" in pages[0] else "Verdict" in pages[0]
    assert "Noninferiority against the reference, per item" in pages[0]


def test_main_text_of_a_demo_shaped_study_fits_ten_pages(tmp_path):
    """The demo's shape: 18 cases, 3 readers, 2 sequences, 5 arms (Standard, Fast, three Fast-DL),
    8 findings on 6 levels; the per-level detail grows with it, the main text must not."""
    import tomllib

    from tests.analysis.data.generate import CONFIG_TOML
    from tests.analysis.data.generate import make_study as make_analysis_study

    arms = {"Standard": 0.0, "Fast": -0.7, "Fast-DL25": 0.0, "Fast-DL50": 0.15, "Fast-DL75": 0.2}
    answers, reference = make_analysis_study(
        n_cases=18, n_readers=3, sequences=("SAG T2 FS", "SAG T1"), arms=arms, n_findings=8,
        levels=("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"))
    config = tomllib.loads(CONFIG_TOML)
    config["items"].update({f"finding{k}": {"kind": "finding"} for k in range(2, 9)})
    report = build_report(answers, config, reference,
                          meta={"seed": 1, "sequences": ["SAG T2 FS", "SAG T1"], "arms": list(arms)})
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(report))
    pages = pdf_pages(pdf)
    first_appendix = next(i for i, page in enumerate(pages) if "Appendix: per-reader and per-level detail" in page)
    assert first_appendix <= 10, f"main text runs to {first_appendix} pages ({len(pages)} in all)"


def test_no_internal_markup_reaches_the_reader(demo_sized):
    report, paths = demo_sized
    pdf_text = "\n".join(pdf_pages(paths["pdf"]))
    html_text = visible_text(paths["html"].read_text(encoding="utf-8"))
    for where, text in (("pdf", pdf_text), ("html", html_text)):
        found = MARKUP.findall(text)
        assert not found, f"{where}: {found[:5]}"
    for citation in ("after Han et al., Pain Med 2023, Table 4", "Tang et al., Eur Radiol Exp 2024",
                     "Bash et al., Clin Neuroradiol 2022"):
        assert citation in html_text
    assert "Han M, Bahroos E, Hess ME" in html_text  # the full reference in the list


def test_sections_absent_for_a_design_without_them():
    answers, _, _ = make_study(seed=3, n_cases=6)
    keep = ["apparent_snr", "artifacts"]
    answers = answers[answers["item"].isin(keep) & (answers["sequence"] == "AX T2")]
    report = build_report(answers, {"reference": "Standard", "items": {k: CONFIG["items"][k] for k in keep}},
                          meta={"seed": 5})
    html = render_html(report)
    text = visible_text(html)
    for key in ("preference", "detection", "accuracy", "quantitative", "integrity", "mrmc"):
        assert f'<section id="{key}"' not in html, key
    for heading in ("Side-by-side preference", "Detection of findings", "Multi-reader multi-case analysis (",
                    "Image integrity against"):
        assert heading not in text, heading
    assert "Not part of this study's design or data:" in text
    assert "No [" not in text
    pdf = render_pdf(report)
    assert b"Side-by-side" not in pdf  # (the PDF text is compressed; the HTML check above is the real one)


def test_pdf_carries_the_generation_time(rendered, report):
    info = subprocess.run(["pdfinfo", "-isodates", str(rendered["pdf"])], check=True, capture_output=True,
                          text=True).stdout
    created = re.search(r"CreationDate:\s+(\S+)", info).group(1)
    assert created.startswith(report.stamp["generated_at"][:19])  # 2026-01-31T12:00:00
    assert not created.startswith("2000-01-01")


def test_a_very_wide_table_is_set_smaller_to_fit_the_page():
    import pandas as pd

    from readerstudy.reports.document import Table
    from readerstudy.reports.render import _pdf_table

    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm

    frame = pd.DataFrame([[f"value-{i}-{j}-longwordwithoutspaces" for j in range(24)] for i in range(3)],
                         columns=[f"Column heading {j}" for j in range(24)])
    width = landscape(A4)[0] - 24 * mm
    styles = {"cell": ParagraphStyle("cell", fontName="Helvetica", fontSize=6.8, leading=8),
              "head": ParagraphStyle("head", fontName="Helvetica-Bold", fontSize=6.8, leading=8)}
    table = _pdf_table(Table("wide", "Wide", frame), width, styles)
    assert sum(table._colWidths) <= width + 0.01
    import io

    from reportlab.platypus import SimpleDocTemplate

    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm).build([table])
    assert buf.getvalue().startswith(b"%PDF")
