"""Estimates by data cut with their confidence intervals (the maturity section's drift figure)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ltfu.errors import InvalidInputError
from ltfu.plot._curve_layout import _colour
from ltfu.plot._style import FONT, LABEL, PRINT_WIDTH_IN, SMALL, TITLE, _figure, _styled
from ltfu.plot._text import _Column, _fx, _fy, _line_h, _size, _text_block, _wrap


@_styled
def drift(categories, series, *, title: str | None = None, ylabel: str = "Estimate, %", notes=(),
          width: float = PRINT_WIDTH_IN, axes_height: float = 2.6) -> Figure:
    """One estimate per data cut with its confidence interval, one series per estimate (e.g. 24-month
    EFS as reported at each cut, and re-derived from the latest data with that cut's cut-off).

    ``categories``: the cuts' labels, oldest first (x axis); ``series``: (label, points, hollow)
    with ``points`` one (estimate, lower, upper) per category (None where not estimable) and
    ``hollow`` drawing open markers and dashed intervals.  Series sharing a colour are paired:
    the colour follows the series' position // 2 when hollow series are given (filled, hollow,
    filled, hollow ...), else its position."""
    categories = [str(c) for c in categories]
    series = list(series)
    if not categories or not series:
        raise InvalidInputError("categories, series: nothing to draw")
    paired = any(h for *_, h in series)
    fig = _figure(width, 1.0)
    edge = 0.06
    foot = [*notes, "Vertical bars: confidence intervals; a missing point is not estimable at that cut."]
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in foot for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    left = edge + _line_h(LABEL) + 0.08 + _size(fig, "100", fontsize=FONT)[0] + 0.1
    right = 0.15
    tick_lines = [_wrap(fig, c, max(0.6, (width - left - right) / len(categories) - 0.1), fontsize=FONT)
                  for c in categories]
    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    _, ax_bottom = col.take(axes_height)
    col.take(max(len(t) for t in tick_lines) * _line_h(FONT) + 0.1)
    legend_top, _ = col.take(((len(series) + 1) // 2) * _line_h(FONT) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), (width - left - right) / width, axes_height / H))
    x = np.arange(len(categories), dtype=float)
    k = len(series)
    offsets = (np.arange(k) - (k - 1) / 2) * min(0.12, 0.8 / max(k, 1))
    handles = []
    for i, (label, points, hollow) in enumerate(series):
        colour = _colour(i // 2 if paired else i)
        pts = np.array([[np.nan if v is None else float(v) for v in p] for p in points], float).reshape(-1, 3)
        xs = x + offsets[i]
        ok = np.isfinite(pts[:, 0])
        for j in np.flatnonzero(ok & np.isfinite(pts[:, 1]) & np.isfinite(pts[:, 2])):
            ax.plot([xs[j], xs[j]], [pts[j, 1], pts[j, 2]], color=colour, lw=1.0, ls="--" if hollow else "-",
                    gid=f"ci-{i}-{j}")
        (h,) = ax.plot(xs[ok], pts[ok, 0], ls="-" if not hollow else ":", lw=0.8, color=colour, marker="o",
                       ms=5, mfc="white" if hollow else colour, mec=colour, gid=f"series-{i}", label=label)
        handles.append(h)
    ax.set_xticks(x)
    ax.set_xticklabels(["\n".join(t) for t in tick_lines], fontsize=FONT)
    ax.set_xlim(-0.5, len(categories) - 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.grid(axis="y", color="0.9", lw=0.6)
    fig.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", ncol=2, fontsize=FONT, frameon=False,
               bbox_to_anchor=(_fx(width, edge), _fy(H, legend_top)), borderaxespad=0)
    _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_axes = ax
    return fig
