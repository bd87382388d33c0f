"""Kaplan-Meier and cumulative-incidence figures with a number-at-risk table."""

from __future__ import annotations

import math
from collections.abc import Mapping

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


def _curve_figure(kind, series, rows, *, title, xlabel, ylabel, ylim, max_months, tick_months, scale,
                  confidence_bands, censor_marks, median_lines, p_text, risk_table, censored_row, notes,
                  width, axes_height, band_note):
    ends = max((s.end for s in series), default=0.0)
    auto_notes = []
    if max_months is None:
        cuts = [(_cut_time(r.source, scale), r.label) for r in rows]
        if cuts:
            xmax, who = min(cuts)
            if xmax < ends - 1e-9:
                auto_notes.append(f"Curves stop at {xmax:.1f} months, after which fewer than "
                                  f"{TRUNCATE_FRACTION:.0%} of the patients of '{who}' remained at risk "
                                  f"(follow-up to {ends:.1f} months).")
        else:
            xmax = ends
    else:
        xmax = float(max_months)
        if not (math.isfinite(xmax) and xmax > 0):
            raise InvalidInputError(f"max_months: must be a positive number of months, got {max_months!r}")
        if xmax < ends - 1e-9:
            auto_notes.append(f"Curves stop at {xmax:.1f} months (follow-up to {ends:.1f} months).")
    if not xmax > 0:
        xmax = max(ends, 1.0)
    step = float(tick_months)
    if not (math.isfinite(step) and step > 0):
        raise InvalidInputError(f"tick_months: must be a positive number, got {tick_months!r}")
    ticks = _ticks(xmax, step)
    while ticks.size < 2 and step > 1:           # follow-up shorter than a step: halve it (12 -> 6 -> 3)
        step /= 2
        ticks = _ticks(xmax, step)

    # numbers of the tables; ticks too close for their numbers (registry-size groups over many
    # years) go to a multiple of the step, said in the notes
    requested = step
    while True:
        at_risk, censored = {}, {}
        for r in rows:
            at_risk[r.label] = [int(v) for v in (r.table or r.source).at(ticks * scale).n_risk]
            if censored_row:
                c = _cum_censored(r.source, ticks * scale)
                if c is not None:
                    censored[r.label] = [int(v) for v in c]
        digits = max([len(str(v)) for vals in at_risk.values() for v in vals] or [1])
        spacing_in = step / xmax * (width - 1.6)
        if not rows or spacing_in >= digits * 0.075 + 0.1:
            break
        step += requested
        ticks = _ticks(xmax, step)
    if step != float(tick_months):
        auto_notes.append(f"Ticks every {step:g} months.")
    if censor_marks:
        shown = [int((s.censor_t <= min(xmax, s.end)).sum()) for s in series]
        if any(0 < c <= MAX_CENSOR_MARKS for c in shown):
            auto_notes.append("Vertical ticks mark censored observations.")
        if any(c > MAX_CENSOR_MARKS for c in shown):
            auto_notes.append(f"Censoring marks are not drawn on curves with more than {MAX_CENSOR_MARKS} "
                              "censoring times (they would hide the curve).")
    if confidence_bands and any(s.lo is not None for s in series):
        auto_notes.append(band_note)
    if kind == "km" and median_lines and any(s.median is not None and np.isfinite(s.median) for s in series):
        auto_notes.append("Dotted lines: median times.")
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


def _draw_curves(kind, series, rows, at_risk, censored, ticks, xmax, *, title, xlabel, ylabel, ylim,
                 confidence_bands, censor_marks, median_lines, p_text, notes, width, axes_height, risk_table,
                 legend_out, p_out):
    fig = _figure(width, 6.0)
    handles = [Line2D([], [], color=s.color, ls=s.ls, lw=1.5) for s in series]
    labels = [s.label if s.median is None else
              f"{s.label} (median {'not reached' if not np.isfinite(s.median) else f'{s.median:.1f} mo'})"
              for s in series]
    # widths
    num_w = max([_size(fig, str(v), fontsize=FONT)[0] for vals in (*at_risk.values(), *censored.values())
                 for v in vals] or [0.1])
    label_cap = 0.32 * width
    row_lines = {r.label: _wrap(fig, r.label, label_cap, fontsize=FONT) for r in rows}
    label_w = max([_size(fig, "\n".join(v), fontsize=FONT)[0] for v in row_lines.values()] or [0.0])
    ytl_w = max(_size(fig, f"{v:.1f}", fontsize=FONT)[0] for v in np.linspace(ylim[0], ylim[1], 3))
    edge = 0.06
    left = max(edge + _line_h(LABEL) + 0.08 + ytl_w + 0.1,
               (edge + label_w + 0.1 + num_w / 2) if rows and risk_table else 0.0)
    right = max(0.25, num_w / 2 + 0.08)
    ax_w = width - left - right
    if ax_w < 2.0:
        raise InvalidInputError("width: too narrow for the labels of the number-at-risk table")
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    band_h = 0.0
    legend_x = left if width - left - edge >= 0.6 * width else edge
    if legend_out:                 # above the plot: labels wrapped to the width left for them
        avail = width - legend_x - edge - (3.2 + 0.8) * FONT / 72 - 0.1
        labels = ["\n".join(_wrap(fig, lab, avail, fontsize=FONT)) for lab in labels]
        leg_tmp = fig.legend(handles, labels, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        band_h += leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
        leg_tmp.remove()
    if p_out and p_text:
        band_h += _line_h(FONT) + 0.04

    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.08 if title_lines else 0))
    band_top, _ = col.take(band_h)
    _, ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)        # tick labels and x label
    tables = []
    if risk_table and rows:
        tables.append(("Number at risk", "atrisk", at_risk))
        if censored:
            tables.append(("Number censored (cumulative)", "censored", censored))
    table_pos = []
    for head, gid, data in tables:
        head_top, _ = col.take(ROW_IN + 0.02)
        row_tops = []
        for r in rows:
            top, _ = col.take(ROW_IN * max(1, len(row_lines[r.label])))
            row_tops.append(top)
        table_pos.append((head, gid, data, head_top, row_tops))
        col.take(0.06)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)

    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), ax_w / width, axes_height / H))
    ax.set_xlim(0, xmax)
    ax.set_ylim(*ylim)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))

    # data
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
    if median_lines:
        meds = [(s.median, s.color) for s in series if s.median is not None and np.isfinite(s.median)
                and s.median <= xmax]
        if meds:
            mmax = max(m for m, _ in meds)
            ax.plot([0, mmax], [0.5, 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid="median-h")
            for j, (m, _c) in enumerate(meds):
                ax.plot([m, m], [ylim[0], 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid=f"median-v-{j}")

    # legend and p-value where nothing is drawn
    obstacles = _obstacles(ax)
    order = _KM_ORDER if kind == "km" else _CIF_ORDER
    taken = []
    show_legend = len(series) > 1 or any(s.median is not None for s in series)
    if show_legend and not legend_out:
        leg, bb = _place_legend(ax, handles, labels, order, obstacles, taken)
        if leg is None:
            return fig, "legend_out"
        taken.append(_pad(bb, 3))
    if p_text and not p_out:
        t, bb = _place_text(ax, p_text, order, obstacles, taken, fontsize=FONT, gid="p-value")
        if t is None:
            return fig, "p_out"
    y_band = band_top
    if show_legend and legend_out:
        leg = fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(_fx(width, legend_x), _fy(H, y_band)),
                         borderaxespad=0.0, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        leg.set_gid("legend")
        y_band += leg.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
    if p_text and p_out:
        fig.text(_fx(width, legend_x), _fy(H, y_band), p_text, fontsize=FONT, va="top", ha="left", gid="p-value")

    # number-at-risk (and censored) tables, aligned on the x ticks
    xdata_yfig = blended_transform_factory(ax.transData, fig.transFigure)
    for head, gid, data, head_top, row_tops in table_pos:
        fig.text(_fx(width, edge), _fy(H, head_top + ROW_IN / 2), head, fontsize=FONT, fontweight="bold",
                 va="center", ha="left", gid=f"{gid}-header")
        for ri, (r, top) in enumerate(zip(rows, row_tops)):
            lines = row_lines[r.label]
            yc = _fy(H, top + ROW_IN * len(lines) / 2)
            fig.text(_fx(width, left - num_w / 2 - 0.1), yc, "\n".join(lines), fontsize=FONT, color=r.color,
                     ha="right", va="center", gid=f"{gid}-label-{ri}", linespacing=1.15)
            for ci, (x, v) in enumerate(zip(ticks, data[r.label])):
                fig.text(x, yc, str(v), transform=xdata_yfig, fontsize=FONT, color=r.color, ha="center",
                         va="center", gid=f"{gid}-{ri}-{ci}")
    if note_lines:
        _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_axes = ax
    return fig, "ok"


def _colour(i):
    return PALETTE[i % len(PALETTE)]


def _style_at(i):
    return LINESTYLES[i % len(LINESTYLES)]


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
    kinds = {(getattr(f, "conf_level", None), getattr(f, "conf_type", None)) for _, f in pairs}
    level, ctype = next(iter(kinds)) if len(kinds) == 1 else (None, None)
    band_note = ("Shaded bands: pointwise " + (f"{100 * level:g}% " if level else "") + "confidence intervals"
                 + (f" ({ctype} transformation)." if ctype else "."))
    return _curve_figure("km", series, rows, title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0.0, 1.02),
                         max_months=max_months, tick_months=tick_months, scale=scale,
                         confidence_bands=confidence_bands, censor_marks=censor_marks, median_lines=median_lines,
                         p_text=_p_text(p_value, test, test_label), risk_table=risk_table,
                         censored_row=censored_row, notes=notes, width=width, axes_height=axes_height,
                         band_note=band_note)


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
    order = list(dict.fromkeys(grp))
    series = []
    for i, ((label, t, est, lo, hi), g) in enumerate(zip(items, grp)):
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
        src = risk_map.get(g)
        cens = np.array([])
        if censor_marks and src is not None and hasattr(src, "n_censor"):
            cens = np.asarray(src.time, float)[np.asarray(src.n_censor) > 0] / scale
        series.append(_Series(label, t, est, lo, hi, float(t[-1]), _colour(order.index(g)), _style_at(i), cens))
    rows = [_Row(g, _colour(order.index(g)), risk_map[g]) for g in order if g in risk_map]
    extra = () if rows or not risk_table else ("Number at risk not shown: no at-risk data were given.",)
    return _curve_figure("cif", series, rows, title=title, xlabel=xlabel, ylabel=ylabel, ylim=tuple(ylim),
                         max_months=max_months, tick_months=tick_months, scale=scale,
                         confidence_bands=confidence_bands, censor_marks=censor_marks, median_lines=False,
                         p_text=_p_text(p_value, test, test_label), risk_table=risk_table,
                         censored_row=censored_row, notes=(*extra, *notes), width=width, axes_height=axes_height,
                         band_note=f"Shaded bands: pointwise {100 * conf_level:g}% confidence intervals.")
