"""The PDF report (reportlab): title, synthetic banner, data summary, every section with its tables
and figures, page numbers.  Text from the data is escaped for reportlab's paragraph markup."""

from __future__ import annotations

import io
import math
from functools import cache
from xml.sax.saxutils import escape

from ltfu import __version__
from ltfu.report.glyphs import FONT_FILES, figure_texts, font_path, note, undrawable

MAX_CELL_CHARS = 300     # a table cell cannot break across pages: longer text is cut, with a note

#: the PDF's typeface: DejaVu Sans (``ltfu.report.glyphs``), the figures' own, embedded as
#: subsets.  reportlab's standard Helvetica is WinAnsi-encoded: a centre or a term in Polish, Czech,
#: Greek or Cyrillic, and Table 1's 10\u2076, were drawn as black boxes
FONT = "DejaVuSans"


@cache
def _fonts() -> None:
    """Register the four DejaVu Sans faces with reportlab, once per process."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for face, name in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, font_path(face)))
    for (bold, italic), face in {(0, 0): "normal", (1, 0): "bold", (0, 1): "italic", (1, 1): "boldItalic"}.items():
        addMapping(FONT, bold, italic, FONT_FILES[face])          # <b> and <i> in paragraphs


def _indented(markup: str) -> str:
    """A first-column level written with leading spaces (Table 1) keeps its indent in the PDF."""
    stripped = markup.lstrip(" ")
    return "&nbsp;" * 6 + stripped if len(markup) - len(stripped) >= 4 else markup


def _text(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:g}"
    return str(v)


def clip(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """``text`` itself, or its first ``limit`` characters and a note saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... (truncated; {len(text):,} characters)"


def _styles() -> dict:
    """The paragraph styles of the report, by role."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    _fonts()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=FONT_FILES["normal"])
    return {
        "title": ParagraphStyle("title", parent=styles["Title"], fontName=FONT_FILES["bold"]),
        "small": ParagraphStyle("small", parent=body, fontSize=7, leading=8.5),
        "cell": ParagraphStyle("cell", parent=body, fontSize=6.6, leading=7.8),
        "banner": ParagraphStyle("banner", parent=body, textColor=colors.white,
                                 backColor=colors.HexColor("#b00020"),
                                 alignment=1, fontSize=11, leading=16, borderPadding=4),
        "heading": ParagraphStyle("h2k", parent=styles["Heading2"], fontName=FONT_FILES["bold"], keepWithNext=1),
        # a table's title is never left at a page foot
        "table_title": ParagraphStyle("h4k", parent=styles["Heading4"], fontName=FONT_FILES["boldItalic"],
                                      keepWithNext=1),
    }


def _source_line(results) -> str:
    m = results.meta
    sha = m.get("sha256") or ("withheld" if m.get("deidentified") else "-")
    return (f"Source: {m.get('source')} | SHA-256: {sha} | patients: {m.get('n_patients')} | "
            f"data cut-off: {m.get('data_cutoff') or '-'} | ltfu {m.get('ltfu_version')}")


def _texts(results):
    """Every text the PDF draws from ``results``, as it draws it (its figures' as images)."""
    yield results.title
    yield _source_line(results)
    yield from results.warnings
    for s in results.sections:
        yield s.title
        yield from s.paragraphs
    for t in results.tables:
        yield t.title
        yield from t.notes
        yield from (clip(str(c)) for c in t.columns)
        yield from (clip(_text(v)) for row in t.rows for v in row)
    yield from figure_texts(results.figures)


def _front_matter(results, st) -> list:
    """The synthetic banner, the title, the source line, the characters the PDF's font cannot draw
    (said, with their code points) and the validation warnings."""
    from reportlab.platypus import Paragraph, Spacer

    story = []
    if results.synthetic:
        story += [Paragraph("SYNTHETIC DEMONSTRATION DATA - not patient data", st["banner"]), Spacer(1, 8)]
    story.append(Paragraph(escape(results.title), st["title"]))
    story.append(Paragraph(escape(_source_line(results)), st["small"]))
    missing = undrawable(_texts(results))
    if missing:
        story.append(Paragraph("<b>Characters not drawn</b>: " + escape(note(missing)), st["small"]))
    if results.warnings:
        story.append(Spacer(1, 4))
        story.append(Paragraph(f"<b>Validation warnings ({len(results.warnings)})</b>: " +
                               escape("; ".join(results.warnings)), st["small"]))
    return story


def _table(t, st, width):
    """Table ``t`` as a reportlab Table, its bold header row repeated on every page."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    cell = st["cell"]
    data = [[Paragraph(f"<b>{escape(clip(str(c)))}</b>", cell) for c in t.columns]]
    data += [[Paragraph(_indented(escape(clip(_text(v)))) if i == 0 else escape(clip(_text(v))), cell)
              for i, v in enumerate(row)] for row in t.rows]
    ncol = len(t.columns)
    first = min(0.34, 1.6 / ncol) * width if ncol > 2 else width * 0.45
    col_w = [first] + [(width - first) / max(ncol - 1, 1)] * (ncol - 1)
    tbl = Table(data, colWidths=col_w, repeatRows=1)
    tbl.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                             ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                             ("VALIGN", (0, 0), (-1, -1), "TOP"),
                             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f6f9"))]))
    return tbl


def _table_block(t, lead, st, width) -> list:
    """Table ``t`` with its title and notes, kept together with ``lead`` (the section's heading and
    text, for its first table); a table of 25 rows or more may break across pages."""
    from reportlab.platypus import KeepTogether, Paragraph, Spacer

    tbl = _table(t, st, width)
    block = [Paragraph(escape(t.title), st["table_title"]), tbl]
    if t.notes:
        block.append(Paragraph(escape(" ".join(t.notes)), st["small"]))
    return [KeepTogether([*lead, *block[:2]]) if len(t.rows) < 25 else KeepTogether([*lead, block[0]]),
            *([] if len(t.rows) < 25 else [tbl]), *block[2:], Spacer(1, 6)]


def _figure_images(entry, width) -> list:
    """A figure's pages as images 16 cm wide at most (22 cm high at most), each followed by a space."""
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Spacer

    from ltfu.report.pdf_png import PngFigure, rgb_stream

    story = []
    for png, w_px, h_px in (entry if isinstance(entry, list) else [entry]):   # pages
        w = min(width, 16 * cm)
        h = w * h_px / w_px
        if h > 22 * cm:
            h, w = 22 * cm, 22 * cm * w_px / h_px
        stream = rgb_stream(png)        # ltfu's figures: RGB, embedded as they are (ltfu.report.pdf_png)
        # otherwise mask=None: no soft mask from the PNG's alpha channel, which is opaque everywhere
        # (ltfu's savefig.facecolor is white; tested), so the page is the same; building the mask took
        # reportlab a decode, a digest and a compression more per image, a third of the PDF's time
        image = PngFigure(stream, w, h) if stream else Image(io.BytesIO(png), width=w, height=h, mask=None)
        story += [image, Spacer(1, 6)]
    return story


def _section(number, s, tables, figures_png, st, width) -> list:
    """Section ``number``: heading, text, tables and figures."""
    from reportlab.platypus import Paragraph, Spacer

    story = [Spacer(1, 10)]
    # the heading and the section's text go with its first table (reportlab's keepWithNext does
    # not reach into a KeepTogether, so they are put inside it)
    lead = [Paragraph(escape(f"{number}. {s.title}"), st["heading"]),
            *(Paragraph(escape(p), st["small"]) for p in s.paragraphs)]
    for name in s.tables:
        story += _table_block(tables[name], lead, st, width)
        lead = []
    story += lead          # a section without tables: keepWithNext holds the heading to its figure
    for name in s.figures:
        story += _figure_images(figures_png[name], width)
    return story


def _footer(results):
    """The page footer: the synthetic label, ltfu's version and the page number."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT_FILES["normal"], 7)
        label = "SYNTHETIC DEMONSTRATION DATA - " if results.synthetic else ""
        canvas.drawString(1.5 * cm, 1 * cm, f"{label}ltfu {__version__}")
        canvas.drawRightString(A4[0] - 1.5 * cm, 1 * cm, f"page {doc.page}")
        canvas.restoreState()

    return footer


def render_pdf(results, figures_png: dict, path) -> None:
    """``figures_png``: name -> (png bytes, width_px, height_px), or a list of those (pages)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate

    st = _styles()
    width = A4[0] - 3 * cm
    story = _front_matter(results, st)
    tables = {t.name: t for t in results.tables}
    for number, s in enumerate(results.sections, start=1):
        story += _section(number, s, tables, figures_png, st, width)
    footer = _footer(results)
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.6 * cm, title=results.title, author="ltfu", invariant=1)
    from reportlab import rl_config

    # images as binary Flate streams, not also ASCII85-encoded (a third larger, and reportlab's
    # pure-Python encoder took seconds); reportlab's switch is global, so it is restored after
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    finally:
        rl_config.useA85 = saved
