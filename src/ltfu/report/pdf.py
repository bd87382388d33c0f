"""The PDF report (reportlab): title, synthetic banner, data summary, every section with its tables
and figures, page numbers.  Text from the data is escaped for reportlab's paragraph markup."""

from __future__ import annotations

import io
import math
from xml.sax.saxutils import escape

from ltfu import __version__

MAX_CELL_CHARS = 300     # a table cell cannot break across pages: longer text is cut, with a note


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


def render_pdf(results, figures_png: dict, path) -> None:
    """``figures_png``: name -> (png bytes, width_px, height_px), or a list of those (pages)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=7, leading=8.5)
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontSize=6.6, leading=7.8)
    banner = ParagraphStyle("banner", parent=styles["BodyText"], textColor=colors.white,
                            backColor=colors.HexColor("#b00020"),
                            alignment=1, fontSize=11, leading=16, borderPadding=4)
    width = A4[0] - 3 * cm
    story = []
    if results.synthetic:
        story += [Paragraph("SYNTHETIC DEMONSTRATION DATA - not patient data", banner), Spacer(1, 8)]
    story.append(Paragraph(escape(results.title), styles["Title"]))
    m = results.meta
    sha = m.get("sha256") or ("withheld" if m.get("deidentified") else "-")
    story.append(Paragraph(escape(f"Source: {m.get('source')} | SHA-256: {sha} | "
                                  f"patients: {m.get('n_patients')} | data cut-off: {m.get('data_cutoff') or '-'} | "
                                  f"ltfu {m.get('ltfu_version')}"), small))
    if results.warnings:
        story.append(Spacer(1, 4))
        story.append(Paragraph(f"<b>Validation warnings ({len(results.warnings)})</b>: " +
                               escape("; ".join(results.warnings)), small))
    tables = {t.name: t for t in results.tables}
    heading = ParagraphStyle("h2k", parent=styles["Heading2"], keepWithNext=1)
    title_style = ParagraphStyle("h4k", parent=styles["Heading4"], keepWithNext=1)   # never left at a page foot
    for number, s in enumerate(results.sections, start=1):
        story.append(Spacer(1, 10))
        # the heading and the section's text go with its first table (reportlab's keepWithNext does
        # not reach into a KeepTogether, so they are put inside it)
        lead = [Paragraph(escape(f"{number}. {s.title}"), heading),
                *(Paragraph(escape(p), small) for p in s.paragraphs)]
        for name in s.tables:
            t = tables[name]
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
            block = [Paragraph(escape(t.title), title_style), tbl]
            if t.notes:
                block.append(Paragraph(escape(" ".join(t.notes)), small))
            story += [KeepTogether([*lead, *block[:2]]) if len(t.rows) < 25 else KeepTogether([*lead, block[0]]),
                      *([] if len(t.rows) < 25 else [tbl]), *block[2:], Spacer(1, 6)]
            lead = []
        story += lead          # a section without tables: keepWithNext holds the heading to its figure
        for name in s.figures:
            entry = figures_png[name]
            for png, w_px, h_px in (entry if isinstance(entry, list) else [entry]):   # pages
                w = min(width, 16 * cm)
                h = w * h_px / w_px
                if h > 22 * cm:
                    h, w = 22 * cm, 22 * cm * w_px / h_px
                story += [Image(io.BytesIO(png), width=w, height=h), Spacer(1, 6)]

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        label = "SYNTHETIC DEMONSTRATION DATA - " if results.synthetic else ""
        canvas.drawString(1.5 * cm, 1 * cm, f"{label}ltfu {__version__}")
        canvas.drawRightString(A4[0] - 1.5 * cm, 1 * cm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.6 * cm, title=results.title, author="ltfu", invariant=1)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
