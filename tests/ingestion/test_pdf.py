"""PDFs through the real CLI: a text-layer PDF made here with fpdf2 ingests as the right
paragraphs, with its metadata; a scan, a damaged file and a locked one are refused in
one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fpdf import FPDF

from tests.helpers import assert_one_line_error, run

PARAGRAPHS = [
    "The old river bridge was inspected on Monday by a team of four engineers from the "
    "regional transport office, who spent the whole day on the site and the banks.",
    "They found that the main span needs new bearings and that the deck must be resurfaced "
    "before the winter, at a cost the office puts at two million euros.",
    "Traffic will be limited to one lane while the work goes on, and the well-known "
    "Saturday market will move to the car park by the station.",
]
LATER_PAGES = [
    "The second page lists the bearings, the joints and the railings that were checked, "
    "with the state each one was found in and the repair the engineers propose for it.",
    "The third page sets out the timetable: the survey in spring, the tender in summer, "
    "and the work itself from September, when the river is at its lowest.",
]


def report_pdf(path: Path, *, pages: int = 3) -> None:
    """A report as offices write them: a heading, paragraphs set with a line gap between
    them, a running header and page numbers, a word hyphenated at a line end."""
    pdf = FPDF()
    pdf.set_title("Bridge inspection report")
    pdf.set_author("Regional Transport Office")
    pdf.set_creation_date(datetime(2024, 5, 6, 9, 0, tzinfo=UTC))
    pdf.set_lang("en-GB")
    pdf.set_auto_page_break(False)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=8)
        pdf.cell(0, 5, "Regional Transport Office - internal", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        if number == 1:
            pdf.set_font("Helvetica", size=18)
            pdf.cell(0, 10, "Bridge inspection report", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        pdf.set_font("Helvetica", size=11)
        for paragraph in PARAGRAPHS if number == 1 else LATER_PAGES[number - 2 : number - 1]:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        if number == 1:
            # A word split at the line end, as justified text does.
            pdf.cell(0, 6, "The engineers recommended a com-", new_x="LMARGIN", new_y="NEXT")
            pdf.cell(0, 6, "plete survey of the foundations.", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-15)
        pdf.set_font("Helvetica", size=8)
        pdf.cell(0, 5, f"Page {number} of {pages}")
    pdf.output(str(path))


def show(doc_id: str) -> dict[str, object]:
    code, out, _ = run("show", doc_id, "--json")
    assert code == 0
    shown: dict[str, object] = json.loads(out)
    return shown


def only_document() -> dict[str, object]:
    _code, out, _ = run("list", "--json")
    [document] = json.loads(out)["documents"]
    return dict(document)


def test_a_text_pdf_ingests_as_its_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "bridge.pdf"
    report_pdf(path)
    code, _out, err = run("ingest", str(path))
    assert code == 0, err
    document = only_document()
    shown = show(str(document["id"]))
    assert shown["title"] == "Bridge inspection report"
    paragraphs = str(shown["text"]).split("\n\n")
    # Page 1's paragraphs, the hyphenated word joined, "well-known" kept, then the later
    # pages'; the running header and the page numbers are gone.
    assert paragraphs == [
        *PARAGRAPHS,
        "The engineers recommended a complete survey of the foundations.",
        *LATER_PAGES,
    ]
    assert (shown["author"], shown["published"], shown["language"]) == (
        "Regional Transport Office",
        "2024-05-06",
        "en-GB",
    )
    assert "page furniture" in err


def test_a_scanned_pdf_is_refused(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    # A page that is one picture, as a scanner writes it: no text at all.
    pdf.set_fill_color(200, 200, 200)
    pdf.rect(10, 10, 190, 270, style="F")
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    code, out, err = run("ingest", str(path))
    assert code == 2 and out == ""
    assert_one_line_error(err, "scan.pdf", "scanned PDF with no text layer", "OCR")


def test_a_damaged_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.pdf"
    report_pdf(tmp_path / "whole.pdf")
    path.write_bytes((tmp_path / "whole.pdf").read_bytes()[:300])
    code, _, err = run("ingest", str(path))
    assert code == 2
    assert_one_line_error(err, "cut.pdf")


def test_a_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    pdf = FPDF()
    try:
        pdf.set_encryption(owner_password="owner", user_password="secret")
    except Exception as error:  # fpdf2 without its optional crypto support
        pytest.skip(f"fpdf2 cannot encrypt here: {error}")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 6, "Confidential minutes of the meeting.")
    path = tmp_path / "locked.pdf"
    pdf.output(str(path))
    code, _, err = run("ingest", str(path))
    assert code == 2
    assert_one_line_error(err, "locked.pdf")
    assert "password" in err or "encrypted" in err
