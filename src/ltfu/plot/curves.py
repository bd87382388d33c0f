"""Kaplan-Meier and cumulative-incidence figures with a number-at-risk table."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ltfu.errors import InvalidInputError
from ltfu.plot._curve_layout import _colour, _draw_curves, _style_at
from ltfu.plot._steps import _cum_censored, _cut_time, _p_text, _pairs, _Row, _scale, _Series, _ticks
from ltfu.plot._style import MAX_CENSOR_MARKS, PRINT_WIDTH_IN, TRUNCATE_FRACTION, _styled


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
