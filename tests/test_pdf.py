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
    # no character the PDF's fonts lack, drawn as a black box (the doses' 10\u2076 were)
    assert "\u25a0" not in text
    assert any(v.endswith("cells/kg") and "\u2076" in v for t in results.tables for row in t.rows for v in row
               if isinstance(v, str))
    assert "\u00d7 106 cells/kg" in text                     # 3 x 10 with a raised 6


def test_pdf_markup_escapes_and_raises_superscripts():
    """The PDF's text: escaped for reportlab's markup, superscript digits and minus as <super>
    (Helvetica's WinAnsi encoding has none of them but 1, 2 and 3)."""
    from reportlab.pdfbase.pdfmetrics import getFont

    from ltfu.report.pdf import _markup

    assert _markup("3 \u00d7 10\u2076 cells/kg") == "3 \u00d7 10<super>6</super> cells/kg"
    assert _markup("a<b & 10\u207b\u00b9\u00b2") == "a&lt;b &amp; 10<super>-12</super>"
    assert _markup("plain") == "plain"
    widths = getFont("Helvetica").encoding.vector
    assert "sixsuperior" not in widths and "onesuperior" in widths          # why: only 1, 2, 3 exist


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


def test_the_pdf_shows_each_figure_with_the_pixels_of_its_png(tmp_path, demo_results):
    """Every figure is opaque (an RGB PNG; ltfu's figures are drawn on white), so the PDF needs no
    soft mask (it holds no /SMask), and the PNGs are embedded as they are (their compressed rows,
    decoded by the PNG predictors: ltfu.report.pdf_png): poppler's pdfimages reads back, image for
    image, exactly the pixels of the report's own PNG files, and no image is compressed again."""
    import numpy as np
    from PIL import Image

    write_report(demo_results, tmp_path / "rep", formats=("png", "pdf"))
    pdf = (tmp_path / "rep" / "report.pdf").read_bytes()
    assert b"/SMask" not in pdf
    order = [f"{spec.name}{'' if k == 0 else f'-page{k + 1}'}.png" for spec in demo_results.figures
             for k in range(len(list((tmp_path / "rep" / "figures").glob(f"{spec.name}*.png"))))]
    subprocess.run(["pdfimages", "-png", str(tmp_path / "rep" / "report.pdf"), str(tmp_path / "img")], check=True)
    shown = sorted(tmp_path.glob("img-*.png"))
    assert len(shown) == len(order) == pdf.count(b"/Predictor 15")
    for name, got in zip(order, shown):
        with Image.open(tmp_path / "rep" / "figures" / name) as a, Image.open(got) as b:
            assert a.mode == b.mode == "RGB", name
            assert a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b)), name


def test_a_png_the_pdf_cannot_take_as_it_is_goes_through_reportlab(tmp_path, demo_results):
    """An RGBA (or palette, or interlaced) PNG is not an RGB stream: reportlab's Image decodes it
    as before, and the page shows the same pixels."""
    import io
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    from ltfu.report.pdf import render_pdf
    from ltfu.report.pdf_png import rgb_stream

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    pngs = {}
    for mode in ("RGB", "RGBA", "P"):
        buf = io.BytesIO()
        im = Image.fromarray(rgb, "RGB")
        (im if mode == "RGB" else im.convert("RGBA") if mode == "RGBA" else im.convert("P")).save(buf, format="png")
        pngs[mode] = buf.getvalue()
    # the same PNG marked interlaced (Pillow writes none): its header's last byte, its CRC again
    header = pngs["RGB"][12:29]
    header = header[:-1] + b"\x01"
    interlaced = pngs["RGB"][:12] + header + struct.pack(">I", zlib.crc32(header)) + pngs["RGB"][33:]
    assert [rgb_stream(p) is None for p in (*pngs.values(), interlaced)] == [False, True, True, True]
    assert rgb_stream(pngs["RGB"][:-20]) is None                   # cut short: not a whole PNG
    w, h, data = rgb_stream(pngs["RGB"])
    assert (w, h) == (60, 40) and len(zlib.decompress(data)) == h * (1 + 3 * w)    # a filter byte per row
    figures = {spec.name: [] for spec in demo_results.figures}
    first = demo_results.figures[0].name
    figures[first] = [(pngs["RGB"], 60, 40), (pngs["RGBA"], 60, 40)]
    render_pdf(demo_results, figures, tmp_path / "r.pdf")
    subprocess.run(["pdfimages", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "img")], check=True)
    shown = sorted(tmp_path.glob("img-*.png"))
    assert len(shown) == 2 and (tmp_path / "r.pdf").read_bytes().count(b"/Predictor 15") == 1
    for got in shown:
        with Image.open(got) as b:
            assert np.array_equal(np.asarray(b.convert("RGB")), rgb)


def test_reportlab_measures_text_with_its_c_accelerator():
    """The PDF's paragraphs and tables are laid out with reportlab's C string widths (``rl_accel``,
    installed through the ``reportlab[accel]`` dependency): without it reportlab falls back to
    Python silently, and the 1e6-patient report's PDF took 0.8 s where it takes 0.4-0.5 s.  The
    demonstration PDF is the same file either way (checked when the accelerator was added)."""
    import types

    from reportlab.lib import rl_accel

    assert isinstance(rl_accel.instanceStringWidthT1, types.BuiltinFunctionType)
