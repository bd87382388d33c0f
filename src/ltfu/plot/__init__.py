"""Publication figures for survival analyses of cell-therapy trials (matplotlib, object API).

Five functions, each returning matplotlib ``Figure`` objects built from ltfu results:

- :func:`km` - Kaplan-Meier curves from ``KaplanMeier`` objects;
- :func:`cif` - cumulative incidence step functions (competing risks), optionally with limits;
- :func:`forest` - ratios with confidence intervals, estimate and p-value written beside the plot;
- :func:`swimmer` - one lane per patient; returns a **list** of Figures, one per page
  (a single page up to 60 patients, pages of at most 50 above that);
- :func:`toxicity` - grade distributions as percentages of each group, counts written on the bars;
- :func:`drift` - estimates with their confidence intervals by data cut (the maturity section).

Conventions, as R's survminer/ggsurvfit and the figures of Park et al. (NEJM 2018):

- the number-at-risk table is printed under the x axis with each group's name written at the
  left of its row; its numbers are read from the results given (``KaplanMeier.at(ticks).n_risk``),
  aligned under the x ticks; an optional row gives the cumulative number censored;
- the time axis is in months (days / 30.4375) with a tick every 12 months (``tick_months``);
- by default the curves stop where fewer than 10% of a group remain at risk; the figure says so in
  its notes (written under the figure and returned as ``fig.ltfu_notes``);
- colours are Okabe-Ito (colour-blind safe) and every curve also has its own line style, so that
  the figure survives greyscale printing;
- the legend and the test's p-value go in a corner of the plot that no curve, band, censoring mark
  or median line passes through, found by checking the drawn geometry; if no corner is free they
  go above the plot;
- p-values are formatted by one rule (:func:`ltfu.formatting.format_p`): two significant digits,
  or "<0.001".

matplotlib's global state is never touched: no ``matplotlib.use``, no ``pyplot``, no change to
``rcParams``.  Figures are built inside ``matplotlib.rc_context`` with ltfu's style (a notebook's
own style does not leak in, nor ltfu's out) and drawn on their own Agg canvas.  They display in
Jupyter as any Figure.  ``fig.savefig`` writes vector SVG/PDF (text kept as text, TrueType fonts
embedded) and 300-dpi PNG by default.

Every figure carries a few attributes for checking and reuse: ``ltfu_notes`` (tuple of str) and,
for curves, ``ltfu_at_risk`` (``{"ticks_months", "n_risk", "n_censored"}``), ``ltfu_axes`` (the
plot's Axes) and ``ltfu_max_months``.  Artists have SVG ids (``gid``): ``curve-<i>``,
``atrisk-<row>-<col>``, ``atrisk-label-<row>``, ``p-value``, ``legend``...
"""

from __future__ import annotations

from ltfu.formatting import format_p
from ltfu.plot._style import FONT as FONT  # the figures' base font size, for tests and users
from ltfu.plot._style import LINESTYLES, PALETTE, PRINT_MAX_HEIGHT_IN, PRINT_WIDTH_IN, LtfuFigure
from ltfu.plot.curves import cif, km
from ltfu.plot.drift import drift
from ltfu.plot.forest import forest
from ltfu.plot.swimmer import swimmer
from ltfu.plot.toxicity import toxicity
from ltfu.plot.trajectories import trajectories

__all__ = [
    "LINESTYLES",
    "PALETTE",
    "PRINT_MAX_HEIGHT_IN",
    "PRINT_WIDTH_IN",
    "LtfuFigure",
    "cif",
    "drift",
    "forest",
    "format_p",
    "km",
    "swimmer",
    "toxicity",
    "trajectories",
]
