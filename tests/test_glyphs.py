"""Characters of the data the report's typeface (DejaVu Sans) has no glyph for: said by code point
where they are drawn as boxes (the PDF's first page: tests/test_pdf.py), never printed by
matplotlib's warning, which names them (a patient id's, in a swimmer plot)."""

import warnings

from ltfu.report.glyphs import drawable, figure_texts, note, undrawable
from ltfu.report.writer import figure_files
from ltfu.results import BarFigure


def test_the_font_draws_latin_greek_cyrillic_and_superscripts_not_cjk():
    assert undrawable(["\u0141\u00f3d\u017a \u0160pil\u0165 \u0391\u03b8\u03ae\u03bd\u03b1 "
                       "\u041c\u043e\u0441\u043a\u0432\u0430 3 \u00d7 10\u2076\u207b\u00b9"]) == []
    assert undrawable(["a\t\u5317\n", "\U0001f3e5"]) == ["\u5317", "\U0001f3e5"]     # line breaks are layout
    assert "A" in drawable() and "\u5317" not in drawable()


def test_the_note_counts_the_characters_and_names_the_first_twelve():
    one = note(["\u5317"])
    assert one.startswith("1 character of the data (U+5317) has no glyph in this PDF's font (DejaVu Sans)")
    assert "is drawn as an empty box:" in one
    many = note([chr(0x4E00 + k) for k in range(15)])
    assert many.startswith("15 characters of the data (U+4E00, ") and "U+4E0B and 3 more) have no glyph" in many
    assert "in this PDF's font" in many and "are drawn as empty boxes:" in many


def _bars(groups):
    return BarFigure(name="bars", title="Grade by centre", categories=("0", "1"),
                     counts=tuple((g, (3, 4)) for g in groups))


def test_figure_texts_are_the_specs_strings():
    assert set(figure_texts([_bars(["\u5317\u4eac", "Lodz"])])) >= {"Grade by centre", "0", "1", "\u5317\u4eac",
                                                                     "Lodz", "Patients", "Grade"}


def test_a_figure_with_cjk_prints_no_glyph_warning_and_its_svg_keeps_the_text():
    """The PNG draws the boxes (the PDF, which embeds it, says so: test_pdf.py); the SVG, which the
    HTML shows, holds the text itself for the browser's fonts."""
    spec = _bars(["\u5317\u4eac", "Lodz"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pages = figure_files(spec)
    assert pages and not [w for w in caught if "Glyph" in str(w.message)]
    svg = pages[0][0].decode()
    assert ">\u5317\u4eac (N = 7)</text>" in svg and "font-family: 'DejaVu Sans'" in svg
