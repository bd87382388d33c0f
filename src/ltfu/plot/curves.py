"""Kaplan-Meier and cumulative-incidence figures with a number-at-risk table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from ltfu.errors import InvalidInputError
from ltfu.plot._steps import _cum_censored, _cut_time, _lookup, _p_text, _pairs, _Row, _scale, _Series, _steps, _ticks
from ltfu.plot._style import (
    FONT,
    LABEL,
    LINESTYLES,
    MAX_CENSOR_MARKS,
    PALETTE,
    PRINT_WIDTH_IN,
    ROW_IN,
    SMALL,
    TITLE,
    TRUNCATE_FRACTION,
    _figure,
    _styled,
)
from ltfu.plot._text import (
    _CIF_ORDER,
    _KM_ORDER,
    _Column,
    _fx,
    _fy,
    _line_h,
    _obstacles,
    _pad,
    _place_legend,
    _place_text,
    _renderer,
    _size,
    _text_block,
    _wrap,
)


def _x_extent(series, rows, max_months, scale):
    """Where the x axis stops, and the notes saying why curves stop short of their follow-up."""
    ends = max((s.end for s in series), default=0.0)
    notes = []
    if max_months is None:
        cuts = [(_cut_time(r.source, scale), r.label) for r in rows]
        if cuts:
            xmax, who = min(cuts)
            if xmax < ends - 1e-9:
                notes.append(f"Curves stop at {xmax:.1f} months, after which fewer than "
                             f"{TRUNCATE_FRACTION:.0%} of the patients of '{who}' remained at risk "
                             f"(follow-up to {ends:.1f} months).")
        else:
            xmax = ends
    else:
        xmax = float(max_months)
        if not (math.isfinite(xmax) and xmax > 0):
            raise InvalidInputError(f"max_months: must be a positive number of months, got {max_months!r}")
        if xmax < ends - 1e-9:
            notes.append(f"Curves stop at {xmax:.1f} months (follow-up to {ends:.1f} months).")
    if not xmax > 0:
        xmax = max(ends, 1.0)
    return xmax, notes


def _first_ticks(xmax, tick_months):
    """The tick step and ticks: ``tick_months``, halved while fewer than two ticks fit."""
    step = float(tick_months)
    if not (math.isfinite(step) and step > 0):
        raise InvalidInputError(f"tick_months: must be a positive number, got {tick_months!r}")
    ticks = _ticks(xmax, step)
    while ticks.size < 2 and step > 1:           # follow-up shorter than a step: halve it (12 -> 6 -> 3)
        step /= 2
        ticks = _ticks(xmax, step)
    return step, ticks


def _table_numbers(rows, ticks, scale, censored_row):
    """Each row's number at risk (and cumulative number censored) at the ticks."""
    at_risk, censored = {}, {}
    for r in rows:
        at_risk[r.label] = [int(v) for v in (r.table or r.source).at(ticks * scale).n_risk]
        if censored_row:
            c = _cum_censored(r.source, ticks * scale)
            if c is not None:
                censored[r.label] = [int(v) for v in c]
    return at_risk, censored


def _spaced_tables(rows, step, ticks, xmax, *, scale, censored_row, width):
    """The tables' numbers, with the step widened to a multiple of itself until they fit apart
    (registry-size groups over many years); returns (step, ticks, at_risk, censored)."""
    requested = step
    while True:
        at_risk, censored = _table_numbers(rows, ticks, scale, censored_row)
        digits = max([len(str(v)) for vals in at_risk.values() for v in vals] or [1])
        spacing_in = step / xmax * (width - 1.6)
        if not rows or spacing_in >= digits * 0.075 + 0.1:
            return step, ticks, at_risk, censored
        step += requested
        ticks = _ticks(xmax, step)


def _drawing_notes(kind, series, xmax, *, confidence_bands, censor_marks, median_lines, band_note):
    """Notes explaining the censoring marks, bands and median lines that are drawn."""
    notes = []
    if censor_marks:
        shown = [int((s.censor_t <= min(xmax, s.end)).sum()) for s in series]
        if any(0 < c <= MAX_CENSOR_MARKS for c in shown):
            notes.append("Vertical ticks mark censored observations.")
        if any(c > MAX_CENSOR_MARKS for c in shown):
            notes.append(f"Censoring marks are not drawn on curves with more than {MAX_CENSOR_MARKS} "
                         "censoring times (they would hide the curve).")
    if confidence_bands and any(s.lo is not None for s in series):
        notes.append(band_note)
    if kind == "km" and median_lines and any(s.median is not None and np.isfinite(s.median) for s in series):
        notes.append("Dotted lines: median times.")
    return notes


def _curve_figure(kind, series, rows, *, title, xlabel, ylabel, ylim, max_months, tick_months, scale,
                  confidence_bands, censor_marks, median_lines, p_text, risk_table, censored_row, notes,
                  width, axes_height, band_note):
    xmax, auto_notes = _x_extent(series, rows, max_months, scale)
    step, ticks = _first_ticks(xmax, tick_months)
    step, ticks, at_risk, censored = _spaced_tables(rows, step, ticks, xmax, scale=scale,
                                                    censored_row=censored_row, width=width)
    if step != float(tick_months):
        auto_notes.append(f"Ticks every {step:g} months.")
    auto_notes += _drawing_notes(kind, series, xmax, confidence_bands=confidence_bands, censor_marks=censor_marks,
                                 median_lines=median_lines, band_note=band_note)
    all_notes = tuple(auto_notes) + tuple(str(n) for n in notes)

    attempt = {"legend_out": False, "p_out": False}
    while True:
        fig, ok = _draw_curves(kind, series, rows, at_risk, censored, ticks, xmax, title=title, xlabel=xlabel,
                               ylabel=ylabel, ylim=ylim, confidence_bands=confidence_bands,
                               censor_marks=censor_marks, median_lines=median_lines, p_text=p_text,
                               notes=all_notes, width=width, axes_height=axes_height,
                               risk_table=risk_table, **attempt)
        if ok == "ok":
            break
        attempt[ok] = True                        # "legend_out" or "p_out": redo with it above the plot
    fig.ltfu_at_risk = {"ticks_months": [float(x) for x in ticks], "n_risk": at_risk, "n_censored": censored}
    fig.ltfu_notes = all_notes
    fig.ltfu_max_months = float(xmax)
    return fig


_EDGE = 0.06        # inches of margin around a curve figure


@dataclass
class _Layout:
    """Where the parts of a curve figure go: widths, and tops in inches from the figure's top."""

    num_w: float                      # the widest number of the tables
    row_lines: dict                   # each row's label, wrapped
    left: float                       # the axes' left edge
    ax_w: float
    title_lines: list
    note_lines: list
    legend_x: float                   # left edge of a legend or P value above the plot
    title_top: float = 0.0
    band_top: float = 0.0             # the band above the plot for a legend or P value moved out
    ax_bottom: float = 0.0
    notes_top: float = 0.0
    height: float = 0.0
    tables: list = field(default_factory=list)   # (header, gid, numbers, header top, row tops)


def _legend_labels(series):
    """Each curve's legend label, with its median when it has one."""
    return [s.label if s.median is None else
            f"{s.label} (median {'not reached' if not np.isfinite(s.median) else f'{s.median:.1f} mo'})"
            for s in series]


def _horizontal_layout(fig, rows, at_risk, censored, notes, *, title, ylim, width, risk_table):
    """The widths of the tables' numbers, labels and y tick labels, hence the axes' left edge; the
    title and notes wrapped to the width."""
    num_w = max([_size(fig, str(v), fontsize=FONT)[0] for vals in (*at_risk.values(), *censored.values())
                 for v in vals] or [0.1])
    label_cap = 0.32 * width
    row_lines = {r.label: _wrap(fig, r.label, label_cap, fontsize=FONT) for r in rows}
    label_w = max([_size(fig, "\n".join(v), fontsize=FONT)[0] for v in row_lines.values()] or [0.0])
    ytl_w = max(_size(fig, f"{v:.1f}", fontsize=FONT)[0] for v in np.linspace(ylim[0], ylim[1], 3))
    left = max(_EDGE + _line_h(LABEL) + 0.08 + ytl_w + 0.1,
               (_EDGE + label_w + 0.1 + num_w / 2) if rows and risk_table else 0.0)
    right = max(0.25, num_w / 2 + 0.08)
    ax_w = width - left - right
    if ax_w < 2.0:
        raise InvalidInputError("width: too narrow for the labels of the number-at-risk table")
    title_lines = _wrap(fig, title, width - 2 * _EDGE, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * _EDGE, fontsize=SMALL)]
    legend_x = left if width - left - _EDGE >= 0.6 * width else _EDGE
    return _Layout(num_w, row_lines, left, ax_w, title_lines, note_lines, legend_x)


def _band_height(fig, lay, handles, labels, p_text, *, width, legend_out, p_out):
    """Height of the band above the plot for the legend or P value moved out of it, and the legend
    labels (wrapped to the band's width when the legend goes there)."""
    band_h = 0.0
    if legend_out:                 # above the plot: labels wrapped to the width left for them
        avail = width - lay.legend_x - _EDGE - (3.2 + 0.8) * FONT / 72 - 0.1
        labels = ["\n".join(_wrap(fig, lab, avail, fontsize=FONT)) for lab in labels]
        leg_tmp = fig.legend(handles, labels, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        band_h += leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
        leg_tmp.remove()
    if p_out and p_text:
        band_h += _line_h(FONT) + 0.04
    return band_h, labels


def _vertical_layout(lay, rows, at_risk, censored, *, band_h, axes_height, risk_table):
    """Fill in the tops of the title, band, axes, tables and notes, and the figure's height."""
    col = _Column()
    col.take(_EDGE)
    lay.title_top, _ = col.take(len(lay.title_lines) * _line_h(TITLE) + (0.08 if lay.title_lines else 0))
    lay.band_top, _ = col.take(band_h)
    _, lay.ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)        # tick labels and x label
    tables = []
    if risk_table and rows:
        tables.append(("Number at risk", "atrisk", at_risk))
        if censored:
            tables.append(("Number censored (cumulative)", "censored", censored))
    for head, gid, data in tables:
        head_top, _ = col.take(ROW_IN + 0.02)
        row_tops = []
        for r in rows:
            top, _ = col.take(ROW_IN * max(1, len(lay.row_lines[r.label])))
            row_tops.append(top)
        lay.tables.append((head, gid, data, head_top, row_tops))
        col.take(0.06)
    lay.notes_top, _ = col.take(len(lay.note_lines) * _line_h(SMALL) + (0.06 if lay.note_lines else 0))
    col.take(_EDGE)
    lay.height = col.y


def _add_axes(fig, lay, ticks, xmax, *, xlabel, ylabel, ylim, width, axes_height):
    """The plot's axes: limits, ticks every step, labels."""
    H = lay.height
    ax = fig.add_axes((_fx(width, lay.left), _fy(H, lay.ax_bottom), lay.ax_w / width, axes_height / H))
    ax.set_xlim(0, xmax)
    ax.set_ylim(*ylim)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
    return ax


def _draw_series(ax, series, xmax, *, confidence_bands, censor_marks):
    """Every curve up to ``xmax``, with its band and censoring marks."""
    for i, s in enumerate(series):
        xs, ys = _steps(s.t, s.y, min(xmax, s.end))
        if confidence_bands and s.lo is not None:
            _, lo = _steps(s.t, s.lo, min(xmax, s.end))
            _, hi = _steps(s.t, s.hi, min(xmax, s.end))
            ax.fill_between(xs, lo, hi, color=s.color, alpha=0.13, lw=0, gid=f"band-{i}")
        ax.plot(xs, ys, color=s.color, ls=s.ls, lw=1.5, gid=f"curve-{i}", solid_capstyle="butt")
        ct = s.censor_t[s.censor_t <= min(xmax, s.end)] if censor_marks else np.array([])
        if 0 < ct.size <= MAX_CENSOR_MARKS:
            ax.plot(ct, _lookup(s.t, s.y, ct), ls="none", marker="|", ms=5, mew=1.0, color=s.color,
                    gid=f"censor-{i}")


def _draw_medians(ax, series, xmax, ylim):
    """Dotted lines from 0.5 down to each median reached within ``xmax``."""
    meds = [(s.median, s.color) for s in series if s.median is not None and np.isfinite(s.median)
            and s.median <= xmax]
    if meds:
        mmax = max(m for m, _ in meds)
        ax.plot([0, mmax], [0.5, 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid="median-h")
        for j, (m, _c) in enumerate(meds):
            ax.plot([m, m], [ylim[0], 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid=f"median-v-{j}")


def _place_inside(ax, kind, handles, labels, p_text, *, show_legend, legend_out, p_out):
    """The legend and P value on the plot where nothing is drawn; "legend_out" or "p_out" for the
    one that finds no room, else None."""
    obstacles = _obstacles(ax)
    order = _KM_ORDER if kind == "km" else _CIF_ORDER
    taken = []
    if show_legend and not legend_out:
        leg, bb = _place_legend(ax, handles, labels, order, obstacles, taken)
        if leg is None:
            return "legend_out"
        taken.append(_pad(bb, 3))
    if p_text and not p_out:
        t, bb = _place_text(ax, p_text, order, obstacles, taken, fontsize=FONT, gid="p-value")
        if t is None:
            return "p_out"
    return None


def _place_above(fig, lay, handles, labels, p_text, *, width, show_legend, legend_out, p_out):
    """The legend and P value moved out of the plot, in the band above it."""
    H = lay.height
    y_band = lay.band_top
    if show_legend and legend_out:
        leg = fig.legend(handles, labels, loc="upper left",
                         bbox_to_anchor=(_fx(width, lay.legend_x), _fy(H, y_band)),
                         borderaxespad=0.0, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        leg.set_gid("legend")
        y_band += leg.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
    if p_text and p_out:
        fig.text(_fx(width, lay.legend_x), _fy(H, y_band), p_text, fontsize=FONT, va="top", ha="left",
                 gid="p-value")


def _draw_tables(fig, ax, lay, rows, ticks, width):
    """The number-at-risk (and censored) tables, their numbers aligned on the x ticks."""
    H = lay.height
    xdata_yfig = blended_transform_factory(ax.transData, fig.transFigure)
    for head, gid, data, head_top, row_tops in lay.tables:
        fig.text(_fx(width, _EDGE), _fy(H, head_top + ROW_IN / 2), head, fontsize=FONT, fontweight="bold",
                 va="center", ha="left", gid=f"{gid}-header")
        for ri, (r, top) in enumerate(zip(rows, row_tops)):
            lines = lay.row_lines[r.label]
            yc = _fy(H, top + ROW_IN * len(lines) / 2)
            fig.text(_fx(width, lay.left - lay.num_w / 2 - 0.1), yc, "\n".join(lines), fontsize=FONT,
                     color=r.color, ha="right", va="center", gid=f"{gid}-label-{ri}", linespacing=1.15)
            for ci, (x, v) in enumerate(zip(ticks, data[r.label])):
                fig.text(x, yc, str(v), transform=xdata_yfig, fontsize=FONT, color=r.color, ha="center",
                         va="center", gid=f"{gid}-{ri}-{ci}")


def _draw_curves(kind, series, rows, at_risk, censored, ticks, xmax, *, title, xlabel, ylabel, ylim,
                 confidence_bands, censor_marks, median_lines, p_text, notes, width, axes_height, risk_table,
                 legend_out, p_out):
    fig = _figure(width, 6.0)
    handles = [Line2D([], [], color=s.color, ls=s.ls, lw=1.5) for s in series]
    lay = _horizontal_layout(fig, rows, at_risk, censored, notes, title=title, ylim=ylim, width=width,
                             risk_table=risk_table)
    band_h, labels = _band_height(fig, lay, handles, _legend_labels(series), p_text, width=width,
                                  legend_out=legend_out, p_out=p_out)
    _vertical_layout(lay, rows, at_risk, censored, band_h=band_h, axes_height=axes_height, risk_table=risk_table)
    fig.set_size_inches(width, lay.height)

    if lay.title_lines:
        _text_block(fig, lay.title_lines, _EDGE, lay.title_top, TITLE, width, lay.height, gid="title")
    ax = _add_axes(fig, lay, ticks, xmax, xlabel=xlabel, ylabel=ylabel, ylim=ylim, width=width,
                   axes_height=axes_height)
    _draw_series(ax, series, xmax, confidence_bands=confidence_bands, censor_marks=censor_marks)
    if median_lines:
        _draw_medians(ax, series, xmax, ylim)

    show_legend = len(series) > 1 or any(s.median is not None for s in series)
    moved = _place_inside(ax, kind, handles, labels, p_text, show_legend=show_legend, legend_out=legend_out,
                          p_out=p_out)
    if moved is not None:
        return fig, moved
    _place_above(fig, lay, handles, labels, p_text, width=width, show_legend=show_legend, legend_out=legend_out,
                 p_out=p_out)
    _draw_tables(fig, ax, lay, rows, ticks, width)
    if lay.note_lines:
        _text_block(fig, lay.note_lines, _EDGE, lay.notes_top, SMALL, width, lay.height, color="0.25",
                    gid="notes")
    fig.ltfu_axes = ax
    return fig, "ok"


def _colour(i):
    return PALETTE[i % len(PALETTE)]


def _style_at(i):
    return LINESTYLES[i % len(LINESTYLES)]


def _km_band_note(pairs):
    """The note on the bands, naming their level and transformation when every fit shares them."""
    kinds = {(getattr(f, "conf_level", None), getattr(f, "conf_type", None)) for _, f in pairs}
    level, ctype = next(iter(kinds)) if len(kinds) == 1 else (None, None)
    return ("Shaded bands: pointwise " + (f"{100 * level:g}% " if level else "") + "confidence intervals"
            + (f" ({ctype} transformation)." if ctype else "."))


@_styled
def km(curves, *, title: str | None = None, xlabel: str = "Months since infusion",
       ylabel: str = "Survival probability", max_months: float | None = None, tick_months: float = 12,
       confidence_bands: bool = False, censor_marks: bool = True, median_lines: bool = True,
       p_value: float | None = None, test: str | None = "Log-rank", test_label: str | None = None,
       risk_table: bool = True, censored_row: bool = False, notes=(), time_unit: str = "days",
       width: float = PRINT_WIDTH_IN, axes_height: float = 3.0, at_risk=None, starts=None) -> Figure:
    """Kaplan-Meier curves with a number-at-risk table.

    ``at_risk`` ({label: object with ``.at(times).n_risk``}) replaces a curve's own numbers at risk
    (R's next-recorded-time rule) by counts of its own, e.g. the patients in a state that others
    enter over time (Simon-Makuch); ``starts`` ({label: time}) begins a curve there instead of at 0
    (nobody is in such a state before the first entry).

    ``curves``: ``{label: KaplanMeier}`` or a sequence of ``(label, KaplanMeier)`` (ltfu.stats);
    times in days unless ``time_unit="months"``.  ``max_months``: where the x axis stops (default:
    where fewer than 10% of a group remain at risk, said in the notes).  ``p_value`` is written as
    "<test> P = 0.047" (``format_p``); ``test_label`` replaces that text verbatim.  ``notes`` are
    added under the figure.  Returns a Figure with ``ltfu_at_risk`` and ``ltfu_notes``."""
    pairs = _pairs(curves, "curves")
    if not pairs:
        raise InvalidInputError("curves: no curve to draw")
    scale = _scale(time_unit)
    series, rows = [], []
    for i, (label, fit) in enumerate(pairs):
        for attr in ("time", "survival", "n_risk", "n_censor", "at"):
            if not hasattr(fit, attr):
                raise InvalidInputError(f"curves: {label!r} is not a KaplanMeier result (no .{attr})")
        start = float((starts or {}).get(label, 0.0))
        t = np.r_[start, np.asarray(fit.time, float)] / scale
        y = np.r_[1.0, np.asarray(fit.survival, float)]
        lo = np.r_[1.0, np.asarray(fit.ci_lower, float)]
        hi = np.r_[1.0, np.asarray(fit.ci_upper, float)]
        lo = np.where(np.isnan(lo) & (y == 1), 1.0, lo)     # log-log limits are undefined where S = 1
        hi = np.where(np.isnan(hi) & (y == 1), 1.0, hi)
        cens = np.asarray(fit.time, float)[np.asarray(fit.n_censor) > 0] / scale
        med = None
        if median_lines:
            m = fit.median.value
            med = float(m) / scale if m is not None and np.isfinite(m) else float("nan")
        series.append(_Series(label, t, y, lo, hi, float(t[-1]), _colour(i), _style_at(i), cens, med))
        rows.append(_Row(label, _colour(i), fit, (at_risk or {}).get(label)))
    return _curve_figure("km", series, rows, title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0.0, 1.02),
                         max_months=max_months, tick_months=tick_months, scale=scale,
                         confidence_bands=confidence_bands, censor_marks=censor_marks, median_lines=median_lines,
                         p_text=_p_text(p_value, test, test_label), risk_table=risk_table,
                         censored_row=censored_row, notes=notes, width=width, axes_height=axes_height,
                         band_note=_km_band_note(pairs))


def _cif_items(curves):
    """(label, time, estimate, lower, upper) from tuples of 3 or 5, or from mappings."""
    if isinstance(curves, Mapping):
        curves = [(k, *v) for k, v in curves.items()]
    out = []
    for c in curves:
        if isinstance(c, Mapping):
            out.append((str(c["label"]), c["time"], c["estimate"], c.get("lower"), c.get("upper")))
        elif isinstance(c, (tuple, list)) and len(c) in (3, 5):
            out.append((str(c[0]), c[1], c[2], *(c[3:] if len(c) == 5 else (None, None))))
        else:
            raise InvalidInputError("curves: each curve is (label, time, estimate) or (label, time, estimate, "
                                    f"lower, upper), got {c!r}")
    return out


def _cif_groups(items, groups, risk):
    """The group of each curve (see ``cif``), every one with a number at risk when any is given."""
    risk_map = dict(risk)
    for g, src in risk:
        if not hasattr(src, "at"):
            raise InvalidInputError(f"at_risk: {g!r} must be a KaplanMeier result (with .at(times).n_risk)")
    if groups is None:
        if len(risk) == 1:
            grp = [risk[0][0]] * len(items)
        else:
            grp = [lab for lab, *_ in items]
    elif isinstance(groups, Mapping):
        grp = [str(groups.get(lab, lab)) for lab, *_ in items]
    else:
        grp = [str(g) for g in groups]
        if len(grp) != len(items):
            raise InvalidInputError(f"groups: {len(grp)} given for {len(items)} curves")
    if risk:
        missing = sorted(set(grp) - set(risk_map))
        if missing:
            raise InvalidInputError(f"at_risk: no number at risk for group(s) {missing}; pass groups= to say "
                                    "which group each curve belongs to")
    return grp


def _cif_series(item, scale, color, ls, cens):
    """One curve as a _Series, starting at 0 and with limits checked (NaN where the estimate is 0
    read as 0)."""
    label, t, est, lo, hi = item
    t = np.asarray(t, float) / scale
    est = np.asarray(est, float)
    if t.shape != est.shape or t.ndim != 1 or t.size == 0:
        raise InvalidInputError(f"curves: {label!r} needs time and estimate arrays of one equal length")
    if t[0] > 0:
        t, est = np.r_[0.0, t], np.r_[0.0, est]
        lo = None if lo is None else np.r_[0.0, np.asarray(lo, float)]
        hi = None if hi is None else np.r_[0.0, np.asarray(hi, float)]
    if lo is not None and hi is not None:
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        if lo.shape != t.shape or hi.shape != t.shape:
            raise InvalidInputError(f"curves: limits of {label!r} must have the length of its times")
        lo = np.where(np.isnan(lo) & (est == 0), 0.0, lo)
        hi = np.where(np.isnan(hi) & (est == 0), 0.0, hi)
    else:
        lo = hi = None
    return _Series(label, t, est, lo, hi, float(t[-1]), color, ls, cens)


@_styled
def cif(curves, *, at_risk=None, groups=None, title: str | None = None, xlabel: str = "Months since response",
        ylabel: str = "Cumulative incidence", max_months: float | None = None, tick_months: float = 12,
        confidence_bands: bool = True, censor_marks: bool = True, p_value: float | None = None,
        test: str | None = "Gray's test", test_label: str | None = None, risk_table: bool = True,
        censored_row: bool = False, notes=(), time_unit: str = "days", ylim=(0.0, 1.0), conf_level: float = 0.95,
        width: float = PRINT_WIDTH_IN, axes_height: float = 3.0) -> Figure:
    """Cumulative incidence curves (competing risks) with a number-at-risk table.

    ``curves``: a sequence of ``(label, time, estimate)`` or ``(label, time, estimate, lower,
    upper)`` step functions (e.g. ``CumulativeIncidence.curve()`` and ``.at(time)`` limits), times in
    days unless ``time_unit="months"``.  ``at_risk``: ``{group: KaplanMeier}`` (or pairs) of each
    group's follow-up (any event ends it), whose ``.at(ticks).n_risk`` is printed and whose
    censorings are marked; ``groups``: the group of each curve (a sequence in the order of
    ``curves`` or a mapping curve label -> group; default: the curve's own label, or the only
    group).  Curves of one group share a colour; every curve has its own line style."""
    items = _cif_items(curves)
    if not items:
        raise InvalidInputError("curves: no curve to draw")
    scale = _scale(time_unit)
    risk = _pairs(at_risk, "at_risk")
    risk_map = dict(risk)
    grp = _cif_groups(items, groups, risk)
    order = list(dict.fromkeys(grp))
    series = []
    for i, (item, g) in enumerate(zip(items, grp)):
        src = risk_map.get(g)
        cens = np.array([])
        if censor_marks and src is not None and hasattr(src, "n_censor"):
            cens = np.asarray(src.time, float)[np.asarray(src.n_censor) > 0] / scale
        series.append(_cif_series(item, scale, _colour(order.index(g)), _style_at(i), cens))
    rows = [_Row(g, _colour(order.index(g)), risk_map[g]) for g in order if g in risk_map]
    extra = () if rows or not risk_table else ("Number at risk not shown: no at-risk data were given.",)
    return _curve_figure("cif", series, rows, title=title, xlabel=xlabel, ylabel=ylabel, ylim=tuple(ylim),
                         max_months=max_months, tick_months=tick_months, scale=scale,
                         confidence_bands=confidence_bands, censor_marks=censor_marks, median_lines=False,
                         p_text=_p_text(p_value, test, test_label), risk_table=risk_table,
                         censored_row=censored_row, notes=(*extra, *notes), width=width, axes_height=axes_height,
                         band_note=f"Shaded bands: pointwise {100 * conf_level:g}% confidence intervals.")
