"""Writing a report directory atomically, and only where no user file can be lost.

Which ``out_dir`` is accepted, and how the swap works, is :mod:`ltfu.outputs`: a new path, an
empty directory or an unchanged ltfu report (``.ltfu-manifest.json``) is accepted, anything else
refused.  Everything is built in a temporary sibling ``.<name>.tmp-XXXX``; only when every file is
complete (and listed with its SHA-256 in the manifest) is the previous report moved aside, the new
one renamed into place and the old one removed.  A failed or killed run leaves the previous report
intact (a run killed between the two renames has it put back by the next run) and never a
half-written report.  Nothing is written outside ``out_dir`` and its hidden siblings.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

from ltfu.outputs import check_report_target, report_transaction, resolve_report_target

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n",
                 "\uff1d", "\uff0b", "\uff0d", "\uff20", "\u2212", "\ufe62", "\ufe63", "\ufe66", "\ufe6b")
# leading characters a spreadsheet skips before it looks for a formula sign: whitespace of any kind
# (space, tab, NBSP, ideographic space ...), zero-width characters and the byte-order mark
_SKIPPED = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
            "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"     # every str.isspace() character
            "\u200b\u200c\u200d\u2060\ufeff")


FIGURE_FORMATS = frozenset({"html", "pdf", "svg", "png", "tiff"})    # the outputs that show figures


def neutralise(value):
    """CSV cells that a spreadsheet would run as formulas get a leading quote (text cells only).

    The sign is looked for after any leading whitespace (an indented category row of a table must
    not hide ``    =HYPERLINK(...)``), and full-width signs (＝ ＋ － ＠) count as well."""
    if isinstance(value, str) and (value.startswith(FORMULA_START)
                                   or value.lstrip(_SKIPPED).startswith(FORMULA_START)):
        return "'" + value
    return value


def _csv(table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralise(str(c)) for c in table.columns])
    for row in table.rows:
        w.writerow(["" if v is None else neutralise(v) for v in row])
    return buf.getvalue()


def _results_json(results) -> str:
    payload = {**results.numbers, "meta": results.meta, "synthetic": results.synthetic,
               "title": results.title}
    return json.dumps(payload, sort_keys=True, indent=2, allow_nan=False, default=_plain) + "\n"


def _plain(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return [_plain(v) for v in o.tolist()]
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _write_tiff(png: bytes, path: Path) -> None:
    """The 300-dpi PNG as an LZW-compressed TIFF (Pillow, matplotlib's own dependency), dpi recorded."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im.convert("RGB").save(path, format="TIFF", compression="tiff_lzw", dpi=(300, 300))


def figure_files(spec) -> list:
    """One figure spec drawn: [(svg bytes, png bytes, png width px, png height px)] per page."""
    from ltfu.report.figures import render_pages
    from ltfu.report.glyphs import quiet_missing_glyphs

    with quiet_missing_glyphs():            # the report says which characters are boxes
        return [_page_files(fig) for fig in render_pages(spec)]


def _page_files(fig) -> tuple:
    """One page's (svg bytes, png bytes, png width px, png height px)."""
    import struct

    # one tight box for both files, the 300-dpi PNG's: the PNG is the figure rendered once and
    # cropped to it (``tight_png``: a layout pass and a second rendering fewer, about 0.07 s of CPU a
    # figure), and the SVG takes that box, where it was its own at 72 dpi (a fraction of a point
    # apart); a figure that cannot be cropped is saved "tight" in the box ``tight_box`` finds
    drawn = fig.tight_png(300)
    if drawn is None:
        box = fig.tight_box(300)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=300, bbox_inches=box)
        png = buf.getvalue()
    else:
        png, box = drawn
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches=box)
    pw, ph = struct.unpack(">II", png[16:24])
    return buf.getvalue(), png, pw, ph


def _figure_workers(n_figures: int) -> int:
    """Processes to draw the figures in: one per available core (at most 4), where workers may be
    forked (``ltfu.forked``: Linux; they inherit the loaded modules, nothing is re-imported), for 4
    figures or more; else 1.  ``LTFU_FIGURE_WORKERS`` overrides the number (1: draw here)."""
    from ltfu import forked
    from ltfu.machine import cores

    if not forked.can_fork():
        return 1
    wanted = forked.env_workers("LTFU_FIGURE_WORKERS")
    if wanted is None:
        wanted = cores() if n_figures >= 4 else 1
    return max(1, min(wanted, n_figures))


def render_figures(specs) -> list:
    """Every figure spec drawn (``figure_files``), in order: in parallel worker processes where
    ``_figure_workers`` allows, each figure drawn by the same code with the same settings, so the
    bytes are those of drawing them one after the other here (tested); a pool that cannot start or
    breaks is not an error: the figures are then drawn here."""
    from functools import partial

    from ltfu import forked

    specs = list(specs)
    return forked.run([partial(figure_files, spec) for spec in specs], _figure_workers(len(specs)))


def write_report(results, out_dir, *, formats=("html", "pdf", "json", "csv", "svg", "png"),
                 inputs=(), drawn=None) -> Path:
    """Write the report files into ``out_dir`` atomically; return the main file's path.

    ``drawn``: figures already drawn by ``figure_files`` (name: pages), as ``ltfu.analysis.run``
    draws them beside the analysis; the others are drawn here.

    ``out_dir`` must be new, an empty directory or an unchanged ltfu report, and neither hold nor
    contain any of ``inputs`` (see :mod:`ltfu.outputs`); otherwise :class:`ltfu.errors.OutputError`
    is raised before anything is written.  File-system failures raise it too, leaving the previous
    report as it was."""
    target = resolve_report_target(out_dir, inputs=inputs)
    check_report_target(target)
    out_dir = target.path
    with report_transaction(target) as tmp:
        fmts = set(formats)
        svgs: dict[str, Any] = {}
        pngs: dict[str, Any] = {}
        need_fig = fmts & FIGURE_FORMATS
        if need_fig:
            drawn = dict(drawn or {})
            missing = [spec for spec in results.figures if spec.name not in drawn]
            drawn.update((spec.name, pages) for spec, pages in zip(missing, render_figures(missing)))
            for spec in results.figures:
                pages = drawn[spec.name]
                # a long swimmer plot has several pages: <name>.svg, <name>-page2.svg, ...
                # displayed size: that of the cropped (tight) figure, from the 300-dpi PNG
                svgs[spec.name] = [(svg, spec.title, pw / 300, ph / 300) for svg, _, pw, ph in pages]
                pngs[spec.name] = [(png, pw, ph) for _, png, pw, ph in pages]
            if fmts & {"svg", "png", "tiff"}:
                (tmp / "figures").mkdir()
                for name, svg_pages in svgs.items():
                    for k, (svg_page, png_page) in enumerate(zip(svg_pages, pngs[name])):
                        stem = name if k == 0 else f"{name}-page{k + 1}"
                        if "svg" in fmts:
                            (tmp / "figures" / f"{stem}.svg").write_bytes(svg_page[0])
                        if "png" in fmts:
                            (tmp / "figures" / f"{stem}.png").write_bytes(png_page[0])
                        if "tiff" in fmts:          # journals' raster format: the same 300-dpi image
                            _write_tiff(png_page[0], tmp / "figures" / f"{stem}.tiff")
        if "csv" in fmts:
            (tmp / "tables").mkdir()
            for t in results.tables:
                (tmp / "tables" / f"{t.name}.csv").write_text(_csv(t), encoding="utf-8")
        if "json" in fmts:
            (tmp / "results.json").write_text(_results_json(results), encoding="utf-8")
        if "html" in fmts:
            from ltfu.report.html import render_html

            figs = {}
            for name, pages in svgs.items():
                views = [{"svg_b64": base64.b64encode(svg).decode("ascii"), "title": title,
                          "width": int(w * 96), "height": int(h * 96)} for svg, title, w, h in pages]
                figs[name] = {**views[0], "pages": views}
            (tmp / "report.html").write_text(render_html(results, figs), encoding="utf-8")
        if "pdf" in fmts:
            from ltfu.report.pdf import render_pdf

            render_pdf(results, pngs, tmp / "report.pdf")
    for name in ("report.html", "report.pdf", "results.json"):
        if (out_dir / name).exists():
            return out_dir / name
    return out_dir
