"""The PDF report renders to pages (pdftoppm, Debian poppler-utils) and holds every section."""

import shutil
import subprocess

import pytest

from ltfu.report import write_report

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
                                 reason="poppler-utils (pdftoppm, pdftotext) not installed; .ci/run installs it")]


@pytest.fixture(scope="module")
def written(tmp_path_factory, demo_results):
    """The demonstration report's PDF and PNG figures, written once for the tests that read them."""
    out = tmp_path_factory.mktemp("pdf") / "rep"
    assert write_report(demo_results, out, formats=("png", "pdf")) == out / "report.pdf"
    return out


def _pdftotext(pdf, *options) -> str:
    return subprocess.run(["pdftotext", *options, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_pdf_pages_and_sections(tmp_path, written, demo_results):
    results = demo_results
    pdf = written / "report.pdf"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 8
    assert all(p.stat().st_size > 2000 for p in pages)
    text = _pdftotext(pdf)
    assert "SYNTHETIC DEMONSTRATION DATA" in text
    for s in results.sections:
        assert s.title in text, s.title
    # Table 1's doses are written with a superscript exponent, drawn as it is (it was a black box
    # in Helvetica's WinAnsi encoding), and every character of the demonstration has its glyph
    assert any(v.endswith("cells/kg") and "\u2076" in v for t in results.tables for row in t.rows for v in row
               if isinstance(v, str))
    assert "3 \u00d7 10\u2076 cells/kg" in text
    assert "\u25a0" not in text and "Characters not drawn" not in text


def test_pdf_fonts_are_dejavu_sans_embedded(written):
    """Every font the pages use is a DejaVu Sans face embedded as a subset (pdffonts' columns:
    name, type, encoding, embedded, subset, ToUnicode); reportlab's document lists its default
    Helvetica once, unused by the pages' text."""
    rows = [ln.split() for ln in subprocess.run(["pdffonts", str(written / "report.pdf")], capture_output=True,
                                                 text=True, check=True).stdout.splitlines()[2:]]
    used = [r for r in rows if r[0] != "Helvetica"]
    assert {r[0].split("+")[1] for r in used} >= {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-BoldOblique"}
    assert all(r[-5:-2] == ["yes", "yes", "yes"] for r in used), rows


def test_text_outside_winansi_is_drawn_and_what_the_font_lacks_is_said(tmp_path, demo_results):
    """Centres and terms in Polish, Czech, Greek or Cyrillic are drawn (pdftotext reads them back);
    a character DejaVu Sans has no glyph for (CJK), in a table or in a figure's text, is drawn as a
    box, and the front matter says so with its code point (the note itself: tests/test_glyphs.py)."""
    import dataclasses

    from ltfu.report.pdf import render_pdf

    names = ["\u0141\u00f3d\u017a", "Brno \u0160pil\u0165", "\u0391\u03b8\u03ae\u03bd\u03b1",
             "\u041c\u043e\u0441\u043a\u0432\u0430", "\u5317\u4eac"]      # Lodz, Brno, Athens, Moscow, Beijing
    first = demo_results.tables[0]
    table = dataclasses.replace(first, rows=tuple((name, *first.rows[0][1:]) for name in names))
    figure = dataclasses.replace(demo_results.figures[0], title="\u751f\u5b58")           # "survival"
    results = dataclasses.replace(demo_results, tables=(table, *demo_results.tables[1:]),
                                  figures=(figure, *demo_results.figures[1:]))
    render_pdf(results, {spec.name: [] for spec in results.figures}, tmp_path / "r.pdf")
    text = _pdftotext(tmp_path / "r.pdf")
    for name in names[:4]:
        assert name in text, name
    note = "4 characters of the data (U+4EAC, U+5317, U+5B58, U+751F) have no glyph in this PDF's font"
    assert note in " ".join(text.split()), text[:2000]


def test_no_heading_or_table_title_is_left_at_the_foot_of_a_page(written, demo_results):
    """Issue 16: a heading stays with what it introduces."""
    results = demo_results
    text = _pdftotext(written / "report.pdf", "-layout")
    titles = {f"{i}. {s.title}" for i, s in enumerate(results.sections, start=1)} | {t.title for t in results.tables}
    for number, page in enumerate(text.split("\f")[:-1], start=1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        body = [ln for ln in lines if not ln.startswith("SYNTHETIC DEMONSTRATION DATA - ltfu") and
                not ln.startswith("ltfu ") and not ln.endswith(f"page {number}")]
        assert not body or body[-1] not in titles, f"page {number} ends with the heading {body[-1]!r}"


def test_the_pdf_shows_each_figure_with_the_pixels_of_its_png(tmp_path, written, demo_results):
    """Every figure is opaque (an RGB PNG; ltfu's figures are drawn on white), so the PDF needs no
    soft mask (it holds no /SMask), and the PNGs are embedded as they are (their compressed rows,
    decoded by the PNG predictors: ltfu.report.pdf_png): poppler's pdfimages reads back, image for
    image, exactly the pixels of the report's own PNG files, and no image is compressed again."""
    import numpy as np
    from PIL import Image

    pdf = (written / "report.pdf").read_bytes()
    assert b"/SMask" not in pdf
    order = [f"{spec.name}{'' if k == 0 else f'-page{k + 1}'}.png" for spec in demo_results.figures
             for k in range(len(list((written / "figures").glob(f"{spec.name}*.png"))))]
    subprocess.run(["pdfimages", "-png", str(written / "report.pdf"), str(tmp_path / "img")], check=True)
    shown = sorted(tmp_path.glob("img-*.png"))
    assert len(shown) == len(order) == pdf.count(b"/Predictor 15")
    for name, got in zip(order, shown):
        with Image.open(written / "figures" / name) as a, Image.open(got) as b:
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
