"""The report's figures: each figure object of ``ltfu.results`` drawn by :mod:`ltfu.plot`.

This module only maps a figure spec's fields onto the arguments of ``ltfu.plot``; every convention
(number-at-risk table read from the same ``KaplanMeier`` objects as the curves and attached as
``fig.ltfu_at_risk``, 12-month ticks, Okabe-Ito colours with distinct line styles, truncation where
fewer than 10% remain at risk, p-values by ``ltfu.formatting.format_p``) lives there, so that the
report and a notebook user get the same figures.  The report never computes a statistic: it only
reads the results it is given.  matplotlib's global state (backend, rcParams) is not touched.
"""

from __future__ import annotations

import re

from ltfu import plot
from ltfu.results import BarFigure, CIFFigure, DriftFigure, ForestFigure, KMFigure, SwimmerFigure, TrajectoryFigure

PALETTE = plot.PALETTE


def _test_args(spec, default_test):
    if spec.p_value is not None:
        return {"p_value": spec.p_value, "test": spec.test_name or default_test}
    return {"test_label": spec.test_label}


def render_km(spec: KMFigure):
    return plot.km(spec.curves, title=spec.title, xlabel=spec.xlabel, ylabel=spec.ylabel,
                   max_months=spec.max_months, tick_months=spec.tick_months,
                   confidence_bands=spec.confidence_bands, censored_row=spec.censored_row,
                   at_risk=dict(spec.at_risk) or None, starts=dict(spec.starts) or None,
                   **_test_args(spec, "Log-rank"))


def _groups_from_labels(labels):
    """The report's CIF curves are labelled "<cause>, <group>": one colour per group."""
    if all(", " in lab for lab in labels):
        return [lab.rsplit(", ", 1)[1] for lab in labels]
    return None


def render_cif(spec: CIFFigure):
    curves: list[tuple] = list(spec.curves)
    if spec.limits and len(spec.limits) == len(curves):
        curves = [(lab, t, est, lo, hi) for (lab, t, est), (lo, hi) in zip(curves, spec.limits)]
    groups = list(spec.groups) if spec.groups else None
    if groups is None and not spec.at_risk:
        groups = _groups_from_labels([c[0] for c in curves])
    return plot.cif(curves, at_risk=spec.at_risk or None, groups=groups, title=spec.title, xlabel=spec.xlabel,
                    ylabel=spec.ylabel, max_months=spec.max_months, tick_months=spec.tick_months,
                    confidence_bands=spec.confidence_bands, censored_row=spec.censored_row,
                    conf_level=spec.conf_level, **_test_args(spec, "Gray's test"))


def render_forest(spec: ForestFigure):
    measure = re.sub(r"\s*\((?:\d+(?:\.\d+)?%\s*)?CI\)\s*$", "", spec.xlabel).strip() or "Ratio"
    return plot.forest(spec.rows, title=spec.title, measure=measure)


def render_swimmer(spec: SwimmerFigure):
    """One Figure up to 60 patients; a list of Figures (pages) above."""
    pages = plot.swimmer(spec.lanes, title=spec.title, xlabel=spec.xlabel)
    return pages[0] if len(pages) == 1 else pages


def render_bars(spec: BarFigure):
    dens = dict(zip([g for g, _ in spec.counts], spec.denominators)) if spec.denominators else None
    return plot.toxicity(spec.categories, spec.counts, denominators=dens, title=spec.title, xlabel=spec.xlabel,
                         ylabel=f"{spec.ylabel} (% of group)")


def render_trajectories(spec: TrajectoryFigure):
    return plot.trajectories(spec.panels, title=spec.title, ylabel=spec.ylabel, xlabel=spec.xlabel,
                             threshold=spec.threshold, threshold_label=spec.threshold_label, log=spec.log,
                             notes=spec.notes)


def render_drift(spec: DriftFigure):
    return plot.drift(spec.categories, spec.series, title=spec.title, ylabel=spec.ylabel)


def render_figure(spec):
    """A matplotlib Figure for any figure object of ltfu.results (a list of Figures, one per page,
    for a swimmer plot of more than 60 patients)."""
    for kind, fn in ((KMFigure, render_km), (CIFFigure, render_cif), (ForestFigure, render_forest),
                     (SwimmerFigure, render_swimmer), (BarFigure, render_bars),
                     (TrajectoryFigure, render_trajectories), (DriftFigure, render_drift)):
        if isinstance(spec, kind):
            return fn(spec)
    raise TypeError(f"unknown figure type {type(spec).__name__}")


def render_pages(spec) -> list:
    """The figure of ``spec`` as a list of pages (one Figure for every kind but long swimmer plots)."""
    fig = render_figure(spec)
    return fig if isinstance(fig, list) else [fig]
