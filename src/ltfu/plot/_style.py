"""Style, palette, print sizes and the Figure class of ltfu's figures (no global matplotlib state)."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import matplotlib
import matplotlib.collections
import matplotlib.image
import matplotlib.patches
import matplotlib.ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Okabe & Ito (2008), without yellow (too light on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (9, 2.5)), (0, (1, 3)),
              (0, (4, 1.5, 4, 1.5, 1, 1.5)))
HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "++++", "oo")

# The report's PDF prints a figure 16 cm wide and at most 22 cm high (ltfu.report.pdf); figures are
# drawn at that size so that their font sizes are the printed ones.
PRINT_WIDTH_IN = 16 / 2.54
PRINT_MAX_HEIGHT_IN = 22 / 2.54

FONT = 8.0          # tick labels, tables, legends
SMALL = 7.0         # notes, counts on bars
LABEL = 9.0         # axis labels
TITLE = 10.0
ROW_IN = 0.165      # one line of 8-pt table text
TRUNCATE_FRACTION = 0.10
MAX_CENSOR_MARKS = 300
WIDTH_SLACK = 1.06

_BLACKLIST = {"backend", "backend_fallback", "interactive", "toolbar", "timezone", "figure.max_open_warning",
              "figure.raise_window", "savefig.directory", "tk.window_focus", "docstring.hardcopy",
              "webagg.port", "webagg.address", "webagg.port_retries", "webagg.open_in_browser", "date.epoch"}
_OURS = {
    "font.family": "DejaVu Sans", "font.size": FONT, "axes.titlesize": TITLE, "axes.labelsize": LABEL,
    "xtick.labelsize": FONT, "ytick.labelsize": FONT, "legend.fontsize": FONT, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.8, "lines.linewidth": 1.5,
    "xtick.major.width": 0.8, "ytick.major.width": 0.8, "xtick.major.size": 3.5, "ytick.major.size": 3.5,
    "hatch.linewidth": 0.6, "figure.dpi": 100, "savefig.dpi": 300, "figure.facecolor": "white",
    "savefig.facecolor": "white", "svg.fonttype": "none", "svg.hashsalt": "ltfu", "pdf.fonttype": 42,
    "ps.fonttype": 42, "axes.unicode_minus": True, "text.usetex": False,
    # text is drawn as written: a label from the data with two dollar signs ("A$1_2$", "<$5 or >$10")
    # was set as mathematics (a subscript 2), or failed to parse
    "text.parse_math": False,
}
_RC = None


def _rc() -> dict:
    """matplotlib's defaults (not the session's) with ltfu's publication settings on top."""
    global _RC
    if _RC is None:
        rc: dict[str, Any] = {k: v for k, v in matplotlib.rcParamsDefault.items() if k not in _BLACKLIST}
        rc.update(_OURS)
        _RC = rc
    return _RC


def _style():
    return matplotlib.rc_context(_rc())


class LtfuFigure(Figure):
    """A matplotlib Figure whose ``savefig`` writes with ltfu's settings: 300 dpi unless ``dpi`` is
    given, SVG text as text, TrueType fonts in PDF, stable SVG ids.  The session's rcParams are
    left as they were.  The ``ltfu_*`` attributes let tests and users find what a figure drew."""

    ltfu_axes: Any
    ltfu_notes: Any
    ltfu_bars: Any

    def savefig(self, fname, *args, **kwargs):
        kwargs.setdefault("dpi", 300)
        with _style():
            return super().savefig(fname, *args, **kwargs)

    def tight_box(self, dpi: float = 300):
        """The box ``savefig(dpi=dpi, bbox_inches="tight")`` crops to (inches, padded), computed as
        matplotlib computes it there (the figure laid out, not rendered, at ``dpi``), so that one
        box serves several outputs: ``savefig(bbox_inches=box)`` then skips a layout pass per file.
        At 300 dpi the PNG is byte for byte the "tight" one (tested).  On a canvas other than Agg
        (a user's own): "tight", which savefig understands."""
        if not isinstance(self.canvas, FigureCanvasAgg):
            return "tight"
        with self._at_dpi(dpi):
            self.draw_without_rendering()
            return self.get_tightbbox(self.canvas.get_renderer()).padded(matplotlib.rcParams["savefig.pad_inches"])

    @contextlib.contextmanager
    def _at_dpi(self, dpi: float):
        """ltfu's style, and the figure at ``dpi`` within the block (its own dpi restored after)."""
        with _style():
            before = self.dpi
            self.set_dpi(dpi)
            try:
                yield
            finally:
                self.set_dpi(before)

    def tight_png(self, dpi: float = 300) -> tuple[bytes, Any] | None:
        """``(png, box)``: the figure rendered once at ``dpi`` and at its own size, then cropped to
        its padded tight box (the box ``tight_box`` gives, found from that rendering), rounded out
        to whole pixels, the padding beyond the figure's edge in its face colour.  The report's
        figures took three passes each (a layout for the box, the 300-dpi rendering at the box's
        size, the SVG); now two, and the SVG takes ``box``.  The pixels are those of
        ``savefig(dpi=dpi)`` cut out; ``bbox_inches="tight"`` renders them again shifted by a
        fraction of a pixel, so its antialiased edges differ slightly and its size by at most two
        pixels (tested).  None where a crop would lose or add something: content beyond the
        figure's edge (which "tight" widens the figure to show), a face colour that is not opaque
        or not the one savefig paints, a canvas other than ltfu's; then use ``tight_box``."""
        import math

        import numpy as np
        from matplotlib.colors import to_rgba

        if not isinstance(self.canvas, _Canvas):
            return None
        with self._at_dpi(dpi):
            face = to_rgba(self.get_facecolor())
            saved = matplotlib.rcParams["savefig.facecolor"]
            if face[3] != 1 or (saved != "auto" and to_rgba(saved) != face):
                return None
            FigureCanvasAgg.draw(self.canvas)
            content = self.get_tightbbox(self.canvas.get_renderer())
            rgba = np.asarray(self.canvas.buffer_rgba())
            width, height = self.get_size_inches()
            if not (content.x0 >= 0 and content.y0 >= 0 and content.x1 <= width and content.y1 <= height):
                return None
            box = content.padded(matplotlib.rcParams["savefig.pad_inches"])
        rows, cols = rgba.shape[:2]
        # pixel rows count down from the top, the box's inches up from the bottom
        top, bottom = math.floor(rows - box.y1 * dpi), math.ceil(rows - box.y0 * dpi)
        left, right = math.floor(box.x0 * dpi), math.ceil(box.x1 * dpi)
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(bottom, rows), min(right, cols)
        out = np.empty((bottom - top, right - left, 4), np.uint8)
        # the padding beyond the canvas's edges in the face colour (the strips only: filling the
        # whole image first took as long as copying the pixels), then the pixels within it
        fill = np.round(np.asarray(face) * 255).astype(np.uint8)
        out[:r0 - top], out[r1 - top:], out[:, :c0 - left], out[:, c1 - left:] = fill, fill, fill, fill
        out[r0 - top:r1 - top, c0 - left:c1 - left] = rgba[r0:r1, c0:c1]
        png = _png_bytes(out, dpi, None)
        return None if png is None else (png, box)


def _styled(fn):
    """Build the figure inside ltfu's rc_context (the session's rcParams are restored on exit)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _style():
            return fn(*args, **kwargs)

    return wrapper


class _Canvas(FigureCanvasAgg):
    """matplotlib's Agg canvas, whose PNG is 8-bit RGB when every pixel is opaque (ltfu's figures
    are drawn on white: ``savefig.facecolor``; ``ltfu.plot._png``), else RGBA as matplotlib writes
    it.  The pixels and the metadata (software, dpi) are matplotlib's; the file is about a quarter
    smaller, its encoding about 40% faster (80 against 134 ms at 300 dpi), and the report's PDF
    embeds its compressed rows as they are (``ltfu.report.pdf_png``)."""

    def print_png(self, filename_or_obj, *, metadata=None, pil_kwargs=None, **_print_figure_kwargs):
        # (print_figure also passes dpi, facecolor, edgecolor, orientation and bbox_inches_restore,
        # which matplotlib's own print_png is not given: the figure's state carries them)
        import numpy as np

        if pil_kwargs:                  # a caller's own encoder settings: matplotlib's path
            return super().print_png(filename_or_obj, metadata=metadata, pil_kwargs=pil_kwargs)
        FigureCanvasAgg.draw(self)
        png = _png_bytes(np.asarray(self.buffer_rgba()), self.figure.dpi, metadata)
        if png is None:
            return matplotlib.image.imsave(filename_or_obj, self.buffer_rgba(), format="png", origin="upper",
                                           dpi=self.figure.dpi, metadata=metadata)
        if hasattr(filename_or_obj, "write"):
            filename_or_obj.write(png)
        else:
            with open(filename_or_obj, "wb") as fh:
                fh.write(png)


def _png_bytes(rgba, dpi: float, metadata) -> bytes | None:
    """An opaque RGBA image as ltfu's RGB PNG with matplotlib's metadata (``ltfu.plot._png``), or
    None where that file cannot hold it (then matplotlib writes it)."""
    from ltfu.plot._png import rgb_png

    text = {"Software": f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/", **(metadata or {})}
    return rgb_png(rgba, dpi, {k: v for k, v in text.items() if v is not None})


def _figure(width: float, height: float) -> LtfuFigure:
    fig = LtfuFigure(figsize=(width, height))
    _Canvas(fig)                    # its own canvas: no pyplot, no backend switch
    return fig
