"""The PDF report renders to pages (pdftoppm, Debian poppler-utils) and holds every section."""

import shutil
import subprocess

import pytest

from ltfu.report import write_report

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
                                 reason="poppler-utils (pdftoppm, pdftotext) not installed; .ci/run installs it")]


def test_pdf_pages_and_sections(tmp_path, demo_results):
    results = demo_results
    out = write_report(results, tmp_path / "rep", formats=("pdf",))
    pdf = tmp_path / "rep" / "report.pdf"
    assert out == pdf
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 8
    assert all(p.stat().st_size > 2000 for p in pages)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "SYNTHETIC DEMONSTRATION DATA" in text
    for s in results.sections:
        assert s.title in text, s.title


def test_no_heading_or_table_title_is_left_at_the_foot_of_a_page(tmp_path, demo_results):
    """Issue 16: a heading stays with what it introduces."""
    results = demo_results
    write_report(results, tmp_path / "rep", formats=("pdf",))
    pdf = tmp_path / "rep" / "report.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    titles = {f"{i}. {s.title}" for i, s in enumerate(results.sections, start=1)} | {t.title for t in results.tables}
    for number, page in enumerate(text.split("\f")[:-1], start=1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        body = [ln for ln in lines if not ln.startswith("SYNTHETIC DEMONSTRATION DATA - ltfu") and
                not ln.startswith("ltfu ") and not ln.endswith(f"page {number}")]
        assert not body or body[-1] not in titles, f"page {number} ends with the heading {body[-1]!r}"


def test_figures_are_opaque_so_the_pdf_draws_them_without_a_soft_mask(tmp_path, demo_results):
    """The PDF draws each figure's PNG with mask=None (no soft mask from its alpha channel): lossless
    only because every pixel of every figure is opaque, which this checks; and the PDF then holds no
    /SMask at all."""
    import numpy as np
    from PIL import Image

    write_report(demo_results, tmp_path / "rep", formats=("png", "pdf"))
    pngs = sorted((tmp_path / "rep" / "figures").glob("*.png"))
    assert len(pngs) >= len(demo_results.figures)       # a figure of several pages has one PNG per page
    for png in pngs:
        with Image.open(png) as im:
            assert im.mode in ("RGB", "RGBA"), png.name
            if im.mode == "RGBA":
                assert int(np.asarray(im)[..., 3].min()) == 255, f"{png.name} has transparent pixels"
    assert b"/SMask" not in (tmp_path / "rep" / "report.pdf").read_bytes()
